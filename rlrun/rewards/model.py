"""The reward model r_psi(s, a) of RLHF step 2, fitted to comparisons of segment pairs by the
Bradley-Terry model (Christiano et al. 2017):

    P(sigma1 > sigma2) = exp sum_t r(s1_t, a1_t) / (exp sum_t r(s1_t, a1_t) + exp sum_t r(s2_t, a2_t))

trained by the cross-entropy between these probabilities and the labels mu in {0, 1/2, 1}.

Variable horizons: a segment whose episode terminates before its L steps are up is padded with an
absorbing state, whose reward is one learned number b (per ensemble member). Bradley-Terry sees only
differences of segment sums, so r is known up to a constant; we fix the constant by the env's own
episodic structure: after a termination nothing more is paid, so the reward handed to the policy is
r(s, a) - b. Its sign, relative to dying, is then what the comparisons said (in CartPole: living
beats dying, so r - b > 0 on the states people saw the pole up). Each member is divided by its root
mean square over the data (not centred: centring would move the anchor), and members are averaged.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from torch import nn

from rlrun.nets import ObsEncoder, mlp, run_mlp


def bradley_terry_loss(sum1: torch.Tensor, sum2: torch.Tensor, mu: torch.Tensor) -> torch.Tensor:
    """-E[mu log P(1>2) + (1 - mu) log P(2>1)], P(1>2) = sigmoid(sum1 - sum2)."""
    return nn.functional.binary_cross_entropy_with_logits(sum1 - sum2, mu)


@dataclass
class Pairs:
    """M labelled segment pairs: obs [M, 2, L, ...], actions [M, 2, L, ...], alive [M, 2, L] (false:
    the absorbing padding after a termination), label [M] (1: the first is preferred, 0: the
    second, 0.5: equal)."""

    obs: torch.Tensor
    actions: torch.Tensor
    alive: torch.Tensor
    label: torch.Tensor

    def __len__(self) -> int:
        return len(self.label)

    def rows(self, index: torch.Tensor) -> Pairs:
        return Pairs(self.obs[index], self.actions[index], self.alive[index], self.label[index])

    @staticmethod
    def cat(parts: list[Pairs]) -> Pairs:
        return Pairs(
            *(torch.cat([getattr(p, k) for p in parts]) for k in ("obs", "actions", "alive", "label"))
        )


class RewardModel(nn.Module):
    """An ensemble of MLPs r_m(s, a), each with its absorbing-state reward b_m and its scale."""

    def __init__(self, obs_space: gym.Space, act_space: gym.Space, hidden: list[int], members: int):
        super().__init__()
        self.encoder = ObsEncoder(obs_space, normalize=False)
        self.num_actions = int(act_space.n) if isinstance(act_space, gym.spaces.Discrete) else 0
        act_dim = self.num_actions or int(np.prod(act_space.shape))
        sizes = [self.encoder.dim + act_dim, *hidden, 1]
        self.members = nn.ModuleList([mlp(sizes, "relu", out_gain=1.0) for _ in range(members)])
        self.absorb = nn.Parameter(torch.zeros(members))
        self.register_buffer("scale", torch.ones(members))
        if not self.num_actions:  # the Box bounds (not saved: they come from the env)
            for name in ("low", "high"):
                bound = torch.as_tensor(getattr(act_space, name), dtype=torch.float32)
                self.register_buffer(name, bound, persistent=False)

    def features(self, obs: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        """[n, in] from n observations and actions (one-hot for Discrete actions). Box actions are
        clipped to their bounds, as the env applies them: the policy samples unclipped actions, and
        an MLP extrapolates beyond the bounds, which the policy would exploit for nothing real."""
        if self.num_actions:
            a = nn.functional.one_hot(actions.long(), self.num_actions).float()
        else:
            a = torch.max(torch.min(actions.float(), self.high), self.low)
        return torch.cat([self.encoder.encode(obs), a.reshape(len(a), -1).float()], -1)

    def raw(self, obs: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        """[members, n] r_m(s, a), unanchored and unscaled."""
        x = self.features(obs, actions)
        return torch.stack([run_mlp(net, x).squeeze(-1) for net in self.members])

    @torch.no_grad()
    def forward(self, obs: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        """The reward handed to the policy, for n observations and actions (flat batches): the
        mean over members of (r_m(s, a) - b_m) / scale_m."""
        return ((self.raw(obs, actions) - self.absorb[:, None]) / self.scale[:, None]).mean(0)

    def segment_sums(self, pairs: Pairs) -> torch.Tensor:
        """[members, M, 2] sum_t r_m over each segment, padding steps paid b_m."""
        M, _, L = pairs.alive.shape
        obs = pairs.obs.flatten(0, 2)
        actions = pairs.actions.flatten(0, 2)
        r = self.raw(obs, actions).view(-1, M, 2, L)
        alive = pairs.alive.float()
        return (r * alive).sum(-1) + (L - alive.sum(-1)) * self.absorb[:, None, None]

    def member_sums(self, pairs: Pairs) -> torch.Tensor:
        """[members, B, 2] segment sums when pairs holds members x B pairs, member m's B in a row
        (each member scores only its own minibatch)."""
        members, (M, _, L) = len(self.members), pairs.alive.shape
        x = self.features(pairs.obs.flatten(0, 2), pairs.actions.flatten(0, 2)).view(
            members, M // members * 2 * L, -1
        )
        r = torch.stack([run_mlp(net, x[m]).squeeze(-1) for m, net in enumerate(self.members)])
        r = r.view(members, M // members, 2, L)
        alive = pairs.alive.view(members, M // members, 2, L).float()
        return (r * alive).sum(-1) + (L - alive.sum(-1)) * self.absorb[:, None, None]


def fit_reward_model(
    model: RewardModel,
    pairs: Pairs,
    heldout: torch.Tensor,
    epochs: int,
    batch: int,
    lr: float,
    generator: torch.Generator,
    weight_decay: float = 0.0,
) -> dict[str, float]:
    """Fit every member by the Bradley-Terry cross-entropy on its own bootstrap resample of the
    comparisons not held out (warm-started from the previous fit); then set each member's scale to
    the root mean square of r_m - b_m over the data's steps. Returns the loss and accuracies."""
    train = (~heldout).nonzero().squeeze(-1)
    members = len(model.members)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    if len(train):
        n = len(train)
        boot = train[torch.randint(n, (members, n), generator=generator, device=train.device)]
        for _ in range(epochs * max(1, -(-n // batch))):
            rows = torch.randint(n, (members, min(batch, n)), generator=generator, device=train.device)
            mb = pairs.rows(boot.gather(1, rows).flatten())  # member m's minibatch: rows m*B..(m+1)*B
            sums = model.member_sums(mb)
            loss = members * bradley_terry_loss(sums[..., 0].flatten(), sums[..., 1].flatten(), mb.label)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    with torch.no_grad():
        alive = pairs.alive.flatten()
        r = model.raw(pairs.obs.flatten(0, 2)[alive], pairs.actions.flatten(0, 2)[alive])
        model.scale.copy_((r - model.absorb[:, None]).square().mean(-1).sqrt().clamp(min=1e-6))
    return {
        "rlhf/rm_loss": preference_loss(model, pairs.rows(train)),
        "rlhf/rm_train_accuracy": preference_accuracy(model, pairs.rows(train)),
        "rlhf/rm_accuracy": preference_accuracy(model, pairs.rows(heldout.nonzero().squeeze(-1))),
    }


@torch.no_grad()
def segment_scores(model: RewardModel, pairs: Pairs) -> torch.Tensor:
    """[M, 2] sum over each segment's live steps of the reward handed to the policy."""
    M, _, L = pairs.alive.shape
    r = model(pairs.obs.flatten(0, 2), pairs.actions.flatten(0, 2)).view(M, 2, L)
    return (r * pairs.alive).sum(-1)


def preference_accuracy(model: RewardModel, pairs: Pairs) -> float:
    """How often the model prefers the segment the label prefers (ties left out; nan if none)."""
    decided = pairs.label != 0.5
    if not bool(decided.any()):
        return float("nan")
    scores = segment_scores(model, pairs.rows(decided.nonzero().squeeze(-1)))
    return ((scores[:, 0] > scores[:, 1]) == (pairs.label[decided] > 0.5)).float().mean().item()


@torch.no_grad()
def preference_loss(model: RewardModel, pairs: Pairs) -> float:
    if len(pairs) == 0:
        return float("nan")
    sums = model.segment_sums(pairs)
    return sum(bradley_terry_loss(*s.unbind(-1), pairs.label) for s in sums).item() / len(sums)


def reward_model_state(model: RewardModel) -> dict[str, Any]:
    """What reward_model.pt holds: the weights and how to rebuild the net (plain data only)."""
    hidden = [m.out_features for m in model.members[0] if isinstance(m, nn.Linear)][:-1]
    return {"hidden": hidden, "members": len(model.members), "state": model.state_dict()}
