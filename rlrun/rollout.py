"""Collecting transitions (ppo, ac) and whole trajectories (pg) from vector envs, and the shared
return math: reward-to-go, whole-trajectory returns, n-step targets, GAE, where each step sits in
its episode, and the normalisation of advantages (ppo, ac) and of pg's weights.

Arrays are time-major, shape [T, E] (T steps of E environments). Each step keeps
`terminated` and `truncated` apart: a terminated episode has no value after its last step; a
truncated one (a time limit) continues in principle, so we bootstrap from V(final obs).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import torch

from rlrun.envs.tensor_env import as_tensor_env, next_observations
from rlrun.nets import ActorCritic


def gae(
    rewards: torch.Tensor,
    values: torch.Tensor,
    next_values: torch.Tensor,
    terminated: torch.Tensor,
    truncated: torch.Tensor,
    gamma: float,
    lam: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Generalised advantage estimation; returns (advantages, lambda-returns).

    next_values[t] is V of the observation that followed step t: the true final observation
    where the episode ended there, otherwise the next step's observation.
        delta_t = r_t + gamma * V(s_{t+1}) * (1 - terminated_t) - V(s_t)
        A_t     = delta_t + gamma * lam * (1 - done_t) * A_{t+1},   done = terminated or truncated
    """
    not_terminated = 1.0 - terminated.float()
    not_done = 1.0 - (terminated | truncated).float()
    deltas = rewards + gamma * next_values * not_terminated - values
    advantages = torch.zeros_like(rewards)
    running = torch.zeros_like(rewards[0])
    for t in reversed(range(rewards.shape[0])):
        running = deltas[t] + gamma * lam * not_done[t] * running
        advantages[t] = running
    return advantages, advantages + values


def discounted_returns(
    rewards: torch.Tensor,
    terminated: torch.Tensor,
    truncated: torch.Tensor,
    bootstrap: torch.Tensor,
    gamma: float,
) -> torch.Tensor:
    """Reward-to-go sum_{t'>=t} gamma^(t'-t) r_t', cut at episode ends, plus gamma^k V where an
    episode was truncated (or the batch ended) k steps later. bootstrap[t] is that V for step t
    (read only at truncations and at the last step). This is GAE with lambda = 1 and V = 0."""
    read = terminated | truncated
    read[-1] = True
    zeros = torch.zeros_like(rewards)
    bootstrap = torch.where(read, bootstrap, zeros)  # elsewhere the episode goes on: no V
    _, returns = gae(rewards, zeros, bootstrap, terminated, truncated, gamma, lam=1.0)
    return returns


def trajectory_returns(
    rewards: torch.Tensor,
    terminated: torch.Tensor,
    truncated: torch.Tensor,
    bootstrap: torch.Tensor,
    gamma: float,
) -> torch.Tensor:
    """The whole-trajectory return r(tau) = sum_t gamma^t r_t, given to every step of its episode
    (the lecture's estimator before reward-to-go). An episode starts at t = 0 or after an episode
    end; one already running when the batch began counts from the batch's first step. Bootstrap as
    in `discounted_returns`."""
    to_go = discounted_returns(rewards, terminated, truncated, bootstrap, gamma)
    done = terminated | truncated
    returns = torch.empty_like(to_go)
    returns[0] = to_go[0]
    for t in range(1, rewards.shape[0]):
        returns[t] = torch.where(done[t - 1], to_go[t], returns[t - 1])
    return returns


def n_step_targets(
    rewards: torch.Tensor,
    next_values: torch.Tensor,
    terminated: torch.Tensor,
    truncated: torch.Tensor,
    gamma: float,
    n: int,
) -> torch.Tensor:
    """y_t = r_t + gamma r_{t+1} + ... + gamma^(k-1) r_{t+k-1} + gamma^k V(s_{t+k}),  k <= n,

    k cut short where the episode ends (a termination adds no V; a truncation adds V of the true
    final observation) or the batch ends (V of the next observation). next_values[t] is V(s_{t+1})
    as in `gae`. n = 1 is the lecture's r + gamma V(s')."""
    one_step = rewards + gamma * (1.0 - terminated.float()) * next_values
    done = terminated | truncated
    targets = one_step
    for _ in range(n - 1):
        following = torch.cat([targets[1:], next_values[-1:]])  # the batch's last step bootstraps
        targets = torch.where(done, one_step, rewards + gamma * following)
    return targets


def episode_starts(terminated: torch.Tensor, truncated: torch.Tensor) -> torch.Tensor:
    """[T, E] bool: the steps that begin an episode (the batch's first step, and every step after
    an episode end)."""
    starts = torch.ones_like(terminated)
    starts[1:] = terminated[:-1] | truncated[:-1]
    return starts


def steps_into_episode(terminated: torch.Tensor, truncated: torch.Tensor) -> torch.Tensor:
    """[T, E] the index t of each step within its episode (0 at an episode's first step; an
    episode already running when the batch began counts from the batch's first step)."""
    T = terminated.shape[0]
    position = torch.arange(T, device=terminated.device).view(T, *[1] * (terminated.dim() - 1))
    position = position.expand_as(terminated)
    start = torch.where(episode_starts(terminated, truncated), position, 0).cummax(dim=0).values
    return position - start


def episode_ids(terminated: torch.Tensor, truncated: torch.Tensor) -> torch.Tensor:
    """[T, E] an id for each step's episode, distinct across the batch: env e's k-th episode of
    the batch is k * E + e."""
    k = episode_starts(terminated, truncated).long().cumsum(dim=0) - 1
    E = terminated[0].numel()
    return k * E + torch.arange(E, device=terminated.device).view_as(terminated[0])


def normalize(x: torch.Tensor, center: bool = True) -> torch.Tensor:
    """A batch of advantages (or weights of grad log pi) rescaled: with `center`, to zero mean and
    unit std; without, divided by their root mean square only, which keeps their mean, so a
    baseline subtracted before still counts and no weight changes sign. Fewer than two values
    are returned as they are: one has no spread to measure."""
    if len(x) < 2:
        return x
    if center:
        return (x - x.mean()) / (x.std() + 1e-8)
    return x / (x.square().mean().sqrt() + 1e-8)


def finished_episodes(stats: list[tuple[torch.Tensor, ...]]) -> list[tuple[float, int]]:
    """(undiscounted return, length) of the episodes that ended, in step then env order, from
    per-step (returns, lengths, ended) tensors; one host sync for them all."""
    if not stats:
        return []
    returns, lengths, ended = (torch.stack(column) for column in zip(*stats, strict=True))
    return list(zip(returns[ended].tolist(), lengths[ended].tolist(), strict=True))


@dataclass
class Rollout:
    """T steps of E environments, as tensors on the training device."""

    obs: torch.Tensor
    actions: torch.Tensor
    logprobs: torch.Tensor
    values: torch.Tensor
    rewards: torch.Tensor
    terminated: torch.Tensor
    truncated: torch.Tensor
    next_obs: torch.Tensor  # the observation after each step (the true final one at episode ends)
    next_values: torch.Tensor  # V(next_obs) under the policy's critic at collection time
    valid: torch.Tensor  # which steps belong to the batch (all, except after pg's N trajectories)


class Collector:
    """Steps a vector env with the current policy; remembers the observation between calls and
    the episodes that finished (undiscounted, unnormalised returns).

    `collect(T)` takes T steps of every env, episodes running on across calls (ppo, ac);
    `collect_episodes(N)` samples N whole trajectories from fresh resets (pg).

    With observation normalisation the statistics stay fixed from the start of one batch to the
    start of the next: pi_theta_old is one function of the observation while it collects, while
    the update evaluates it again (PPO's first ratio is exactly 1) and when it is evaluated. A
    batch's observations fold into the statistics as the next batch begins."""

    def __init__(self, envs: gym.vector.VectorEnv, agent: ActorCritic, device: torch.device, seed: int):
        self.envs, self.agent, self.device, self.seed = as_tensor_env(envs, device), agent, device, seed
        self.obs: torch.Tensor | None = None  # reset on first use, unless restored from a checkpoint
        self.episodes: list[tuple[torch.Tensor, ...]] = []  # per step: returns, lengths, ended
        self.resets = 0  # reset() calls: the first is seeded
        # the last batch's observation moments (mean, var, count), not yet in the statistics
        self.batch_moments: tuple[torch.Tensor, torch.Tensor, int] | None = None

    def state_dict(self) -> dict:
        return {"obs": self.obs, "resets": self.resets, "batch_moments": self.batch_moments}

    def load_state_dict(self, state: dict) -> None:
        self.obs = None if state["obs"] is None else torch.as_tensor(state["obs"], device=self.device)
        self.resets = state.get("resets", 0)
        moments = state.get("batch_moments")
        if moments is not None:
            mean, var, count = moments
            moments = (mean.to(self.device), var.to(self.device), count)
        self.batch_moments = moments

    def remember_observations(self, obs: torch.Tensor) -> None:
        """Keep the moments of a batch's observations, to fold in when the next batch begins."""
        if self.agent.encoder.normalize:
            self.batch_moments = self.agent.encoder.moments(obs)

    def fold_statistics(self) -> None:
        """Fold the last batch's observations into the normalisation statistics (a new batch begins)."""
        if self.batch_moments is not None:
            self.agent.encoder.fold(*self.batch_moments)
            self.batch_moments = None

    def pop_episodes(self) -> list[tuple[float, int]]:
        """The episodes finished since the last call: (undiscounted, unnormalised return, length)."""
        episodes, self.episodes = self.episodes, []
        return finished_episodes(episodes)

    def reset(self) -> None:
        """Start a fresh episode in every env: seeded the first time, the envs' own RNGs after."""
        self.obs, _ = self.envs.reset(seed=self.seed if self.resets == 0 else None)
        self.resets += 1

    def step(self, keep: torch.Tensor | None) -> dict[str, torch.Tensor]:
        """One step of every env with the current policy; episodes of envs in `keep` (None: all)
        are recorded (and, in the next batch, fold into the observation statistics)."""
        obs = self.obs
        values = {}
        if self.agent.trunk is not None:  # a CNN: V(s) from the pass that acts (one trunk pass per state)
            action, logprob, values["values"] = self.agent.sample_with_value(obs)
        else:  # small MLPs: V(s) later, for the whole rollout in one batched pass
            action, logprob = self.agent.sample(obs)
        self.obs, reward, terminated, truncated, info = self.envs.step(self.agent.to_env(action))
        ended = info["_episode"] if keep is None else info["_episode"] & keep
        self.episodes.append((info["episode"]["r"], info["episode"]["l"], ended))
        return {
            **values,
            "obs": obs,
            "actions": action,
            "logprobs": logprob,
            "rewards": reward,
            "terminated": terminated,
            "truncated": truncated,
            "next_obs": next_observations(self.obs, info),
            "valid": torch.ones_like(terminated) if keep is None else keep.clone(),
        }

    def stack(self, steps: list[dict[str, torch.Tensor]]) -> Rollout:
        batch = {k: torch.stack([step[k] for step in steps]) for k in steps[0]}
        # V(s) in one batched pass unless acting gave it (fewer, larger operations than one per
        # step), by the same critic and observation statistics. V(s') is the next step's V(s),
        # except after the last step and where an episode was truncated: those few true next
        # states get a pass of their own (V(s') = 0 where it terminated: nothing follows)
        if "values" not in batch:
            batch["values"] = self.agent.value(batch["obs"].flatten(0, 1)).view(batch["rewards"].shape)
        values, terminated = batch["values"], batch["terminated"]
        own_pass = batch["truncated"] & ~terminated
        own_pass[-1] = True
        next_values = torch.cat([values[1:], values[-1:]])
        next_values[own_pass] = self.agent.value(batch["next_obs"][own_pass])
        batch["next_values"] = torch.where(terminated, 0.0, next_values)
        return Rollout(**batch)

    @torch.no_grad()
    def collect(self, num_steps: int) -> Rollout:
        """num_steps steps of each env; episodes carry on from the previous call."""
        self.fold_statistics()
        if self.obs is None:  # the first call, or fresh envs after a resume: seed them
            self.resets = 0
            self.reset()
        batch = self.stack([self.step(None) for _ in range(num_steps)])
        self.remember_observations(batch.obs.flatten(0, 1))
        return batch

    @torch.no_grad()
    def collect_episodes(self, num_episodes: int) -> Rollout:
        """num_episodes whole trajectories, each from a fresh reset, as a [T, E] batch whose
        `valid` marks their steps.

        Every env starts an episode; whenever one ends, its env starts the next, until
        num_episodes have been started; then the loop runs until they have all ended. Episodes
        are chosen in the order they start, never by how they end, so short ones are not
        favoured. Steps of episodes beyond the first num_episodes (an env that has finished
        its share, waiting for the others) are simulated but left out (`valid` false)."""
        self.fold_statistics()
        self.reset()
        keep = torch.arange(self.envs.num_envs, device=self.device) < num_episodes
        started = int(keep.sum())
        steps = []
        while keep.any():
            step = self.step(keep)
            steps.append(step)
            ended = step["terminated"] | step["truncated"]
            for i in torch.nonzero(ended & keep).flatten().tolist():
                if started < num_episodes:
                    started += 1  # env i's next episode (already reset) is part of the batch
                else:
                    keep[i] = False
        batch = self.stack(steps)
        self.remember_observations(batch.obs[batch.valid])  # those of the N trajectories alone
        return batch


class TransitionCollector:
    """Steps a vector env with Discrete actions, epsilon-greedy around a policy, and returns the
    transitions (s, a, r, s', terminated, truncated) as tensors on the device, s' being the true
    final observation where an episode ended. Used by fqi and by `rlrun collect`."""

    def __init__(self, envs: gym.vector.VectorEnv, device: torch.device, seed: int):
        self.envs, self.device, self.seed = as_tensor_env(envs, device), device, seed
        self.num_actions = int(envs.single_action_space.n)
        self.obs: torch.Tensor | None = None  # reset on first use, unless restored from a checkpoint
        self.episodes: list[tuple[torch.Tensor, ...]] = []  # per step: returns, lengths, ended

    def state_dict(self) -> dict:
        return {"obs": self.obs}

    def load_state_dict(self, state: dict) -> None:
        self.obs = None if state["obs"] is None else torch.as_tensor(state["obs"], device=self.device)

    def pop_episodes(self) -> list[tuple[float, int]]:
        episodes, self.episodes = self.episodes, []
        return finished_episodes(episodes)

    @torch.no_grad()
    def collect(self, policy: Any, num_steps: int, epsilon: float) -> dict[str, torch.Tensor]:
        """num_steps steps of every env: with probability epsilon a uniformly random action, else
        the policy's greedy one (policy None: always random)."""
        if self.obs is None:
            self.obs, _ = self.envs.reset(seed=self.seed)
        E = self.envs.num_envs
        steps: dict[str, list[torch.Tensor]] = {k: [] for k in TRANSITION_FIELDS}
        for _ in range(num_steps):
            actions = torch.randint(self.num_actions, (E,), device=self.device)
            if policy is not None and epsilon < 1:
                greedy = policy.act(self.obs, deterministic=True)
                explore = torch.rand(E, device=self.device) < epsilon
                actions = torch.where(explore, actions, greedy)
            next_obs, rewards, terminated, truncated, info = self.envs.step(actions)
            self.episodes.append((info["episode"]["r"], info["episode"]["l"], info["_episode"]))
            final = next_observations(next_obs, info)
            for key, value in zip(
                TRANSITION_FIELDS, (self.obs, actions, rewards, final, terminated, truncated), strict=True
            ):
                steps[key].append(value)
            self.obs = next_obs
        return {key: torch.cat(values) for key, values in steps.items()}


TRANSITION_FIELDS = ("obs", "actions", "rewards", "next_obs", "terminated", "truncated")
