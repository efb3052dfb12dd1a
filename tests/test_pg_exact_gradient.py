"""pg's estimators, each against its own exact expectation, on a small stochastic MDP at gamma = 0.9.

The MDP: 5 states, 3 actions, stochastic moves, a dense reward R(s, a) ~ N(0, 1) at every step,
and every step ends the episode with probability 0.15 to 0.35 (depending on (s, a)), so episodes
last ~4 steps and every expectation below is a finite linear solve. The policy is pg's linear
softmax on one-hot observations (algo.hidden=[]), pi(a|s) = softmax(theta[s]). The test samples
the episodes itself (vectorised numpy) and hands them to pg as batches of whole trajectories, so
what it checks is pg's own weights and loss.

Exact targets, from the model, computed here independently of rlrun:
    P_pi = sum_a pi(a|s) P[s, a, :],   V = (I - gamma P_pi)^-1 R_pi,   Q = R + gamma P V
    eta(s) = sum_t Pr(s_t = s) = [rho^T (I - P_pi)^-1](s)        (an episode's undiscounted visits)
  - reward-to-go, the lecture's sum_t grad log pi(a_t|s_t) sum_{t'>=t} gamma^(t'-t) r_t': by the
    tower rule E[sum_t grad log pi(a_t|s_t) Q(s_t, a_t)] = sum_s eta(s) sum_a grad pi(a|s) Q(s, a);
    a baseline b(s) (or a constant) changes nothing in expectation, nor does GAE with the exact V;
  - the discounted objective J = rho^T V: its gradient (autograd through the solve) is the
    expectation of the whole-trajectory estimator, and of reward-to-go with discount_weights
    (step t weighted by gamma^t).
A comparison passes when every coordinate of the mean estimate, and its projection on the target's
direction, is within TOLERANCE standard errors of the target (the standard error of the mean over
batches). Mutants of the estimator (gamma dropped, scaled by 1.03, centred weights) must fail it.
"""

import math

import gymnasium as gym
import numpy as np
import pytest
import torch

from rlrun.algos.pg import PG, PGConfig
from rlrun.nets import ActorCritic
from rlrun.rollout import Rollout

GAMMA = 0.9
S, A = 5, 3
EPISODES = 1 << 19  # sampled from the one fixed policy, as BATCHES batches of N trajectories
N = 1024
BATCHES = EPISODES // N
SMALL_N = 16  # pg's default N, where the plain batch mean is a biased baseline
SMALL_BATCHES = 4096
# 16 numbers per comparison (15 coordinates and a projection): a correct estimator passes at 3.5
# standard errors with probability ~99%
TOLERANCE = 3.5

pytestmark = pytest.mark.usefixtures("one_thread")


class MDP:
    """The model: P[s, a, s'] (each row sums to 1 - the probability that the episode ends there),
    R[s, a], a uniform start; and the policy's logits theta[s, a]."""

    def __init__(self, seed: int = 1):
        rng = np.random.default_rng(seed)
        self.end = rng.uniform(0.15, 0.35, (S, A))
        P = rng.random((S, A, S)) ** 3  # uneven moves
        self.P = P / P.sum(-1, keepdims=True) * (1 - self.end)[..., None]
        self.R = rng.standard_normal((S, A))
        self.rho = np.full(S, 1 / S)
        self.theta = rng.standard_normal((S, A))
        self.pi = np.exp(self.theta) / np.exp(self.theta).sum(-1, keepdims=True)

    def value(self) -> np.ndarray:
        P_pi = np.einsum("sa,sat->st", self.pi, self.P)
        return np.linalg.solve(np.eye(S) - GAMMA * P_pi, (self.pi * self.R).sum(-1))

    def targets(self) -> dict[str, torch.Tensor]:
        """The exact expectations [S * A] (gradients in theta) of the reward-to-go estimator and of
        the discounted objective's gradient."""
        theta = torch.tensor(self.theta, requires_grad=True)
        P, R, rho = (torch.tensor(x) for x in (self.P, self.R, self.rho))
        pi = torch.softmax(theta, -1)
        P_pi = torch.einsum("sa,sat->st", pi, P)
        V = torch.linalg.solve(torch.eye(S, dtype=P.dtype) - GAMMA * P_pi, (pi * R).sum(-1))
        (grad_j,) = torch.autograd.grad(rho @ V, theta, retain_graph=True)
        Q = (R + GAMMA * P @ V).detach()
        eta = torch.linalg.solve((torch.eye(S, dtype=P.dtype) - P_pi).T, rho).detach()
        (to_go,) = torch.autograd.grad((eta[:, None] * pi * Q).sum(), theta)
        return {"reward_to_go": to_go.flatten(), "discounted_J": grad_j.flatten()}

    def sample(self, episodes: int, seed: int) -> dict[str, np.ndarray]:
        """Whole episodes under pi: flat arrays of their steps (episode, t, s, a, r), by episode."""
        rng = np.random.default_rng(seed)
        cum_pi = self.pi.cumsum(-1)
        moves = np.concatenate([self.P, self.end[..., None]], -1).reshape(S * A, S + 1).cumsum(-1)
        episode, s, t = np.arange(episodes), rng.choice(S, episodes, p=self.rho), 0
        steps = []
        while len(episode):
            a = np.minimum((rng.random(len(s))[:, None] > cum_pi[s]).sum(-1), A - 1)
            steps.append((episode, np.full(len(s), t), s, a))
            nxt = (rng.random(len(s))[:, None] > moves[s * A + a]).sum(-1)  # S: the episode ends
            going = nxt < S
            episode, s, t = episode[going], nxt[going], t + 1
        episode, t, s, a = (np.concatenate(column) for column in zip(*steps, strict=True))
        order = np.lexsort((t, episode))
        out = {"episode": episode[order], "t": t[order], "s": s[order], "a": a[order]}
        out["r"] = self.R[out["s"], out["a"]]
        out["starts"] = np.searchsorted(out["episode"], np.arange(episodes + 1))
        return out


class SpacesOnly(gym.Env):
    """pg is built on an env; this one only carries the MDP's spaces (the test samples itself)."""

    observation_space = gym.spaces.Discrete(S)
    action_space = gym.spaces.Discrete(A)


def rollout(steps: dict[str, np.ndarray], first: int, n: int, critic: torch.Tensor) -> Rollout:
    """Episodes first .. first + n - 1 as pg's [T, n] batch (one episode per column, every one
    ending by termination; steps past an episode's end are invalid); V_hat(s) = critic[s]."""
    lo, hi = steps["starts"][first], steps["starts"][first + n]
    col = torch.from_numpy(steps["episode"][lo:hi] - first)
    row = torch.from_numpy(steps["t"][lo:hi])
    T = int(row.max()) + 1
    obs, actions = torch.zeros(T, n, dtype=torch.long), torch.zeros(T, n, dtype=torch.long)
    rewards, valid = torch.zeros(T, n), torch.zeros(T, n, dtype=torch.bool)
    obs[row, col] = torch.from_numpy(steps["s"][lo:hi])
    actions[row, col] = torch.from_numpy(steps["a"][lo:hi])
    rewards[row, col] = torch.from_numpy(steps["r"][lo:hi]).float()
    valid[row, col] = True
    terminated = ~torch.cat([valid[1:], torch.zeros(1, n, dtype=torch.bool)])  # the last step, and after
    next_obs = torch.cat([obs[1:], obs[-1:]])
    values = critic[obs]
    next_values = torch.where(terminated, 0.0, critic[next_obs])
    return Rollout(
        obs=obs, actions=actions, logprobs=torch.zeros(T, n), values=values, rewards=rewards,
        terminated=terminated, truncated=torch.zeros_like(terminated), next_obs=next_obs,
        next_values=next_values, valid=valid,
    )  # fmt: skip


def per_episode_gradients(batch: Rollout, weights: torch.Tensor, pi: torch.Tensor) -> torch.Tensor:
    """[n, S * A]: each episode's sum_t weight_t grad_theta log pi(a_t|s_t), with
    d log pi(a|s) / d theta[s, b] = 1[b = a] - pi(b|s) (the tabular softmax's score)."""
    n = batch.obs.shape[1]
    col = torch.arange(n).expand_as(batch.obs)
    w = torch.where(batch.valid, weights, 0.0).double().flatten()
    s, a, col = batch.obs.flatten(), batch.actions.flatten(), col.flatten()
    chosen = torch.bincount((col * S + s) * A + a, weights=w, minlength=n * S * A).view(n, S, A)
    per_state = torch.bincount(col * S + s, weights=w, minlength=n * S).view(n, S, 1)
    return (chosen - per_state * pi).view(n, S * A)


def make_pg(mdp: MDP, critic: np.ndarray | None = None, **overrides) -> PG:
    """pg with the MDP's policy, on its (linear, one-hot) actor; the critic's V_hat(s) set to `critic`."""
    cfg = PGConfig(**{"hidden": [], "gamma": GAMMA, **overrides})
    envs = gym.vector.SyncVectorEnv([SpacesOnly])
    agent = ActorCritic(envs.single_observation_space, envs.single_action_space, [])
    with torch.no_grad():
        agent.actor[0].weight.copy_(torch.tensor(mdp.theta.T))  # logits = W onehot(s) + b
        agent.actor[0].bias.zero_()
        agent.critic[0].weight.copy_(torch.tensor(np.zeros(S) if critic is None else critic)[None])
        agent.critic[0].bias.zero_()
    return PG(cfg, envs, agent, torch.device("cpu"), seed=0)


def estimates(algo: PG, steps: dict, pi: torch.Tensor, n: int, batches: int, transform=None) -> torch.Tensor:
    """[batches, S * A]: pg's grad J estimate, 1/n sum_i sum_t grad log pi(a_it|s_it) weight_it,
    on each batch of n consecutive episodes; `transform` alters the weights first (a mutant)."""
    critic = algo.agent.value(torch.arange(S)).detach()
    out = []
    for b in range(batches):
        batch = rollout(steps, b * n, n, critic)
        weights = algo.weights(batch)
        if transform is not None:
            weights = transform(weights, batch)
        out.append(per_episode_gradients(batch, weights, pi).mean(0))
    return torch.stack(out)


def z_scores(estimates: torch.Tensor, target: torch.Tensor) -> tuple[float, float]:
    """max over coordinates of |mean - target| / standard error, and the same along the target's
    direction (which sees a scale error with all coordinates' weight)."""
    se = estimates.std(0) / math.sqrt(len(estimates))
    z = ((estimates.mean(0) - target) / se).abs().max().item()
    u = target / target.norm()
    along = estimates @ u
    z_along = ((along.mean() - target.norm()) / (along.std() / math.sqrt(len(along)))).item()
    return z, z_along


def matches(estimates: torch.Tensor, target: torch.Tensor) -> bool:
    z, z_along = z_scores(estimates, target)
    return z <= TOLERANCE and abs(z_along) <= TOLERANCE


@pytest.fixture(scope="module")
def sampled():
    mdp = MDP()
    steps = mdp.sample(EPISODES, seed=2)
    return mdp, steps, mdp.targets(), torch.tensor(mdp.pi)


def report(name: str, g: torch.Tensor, target: torch.Tensor) -> None:
    z, z_along = z_scores(g, target)
    rel = ((g.mean(0) - target).norm() / target.norm()).item()
    se = (g @ (target / target.norm())).std().item() / math.sqrt(len(g)) / target.norm().item()
    print(f"{name:44s} max|z| {z:6.2f}  z along target {z_along:7.2f}  rel. error {rel:.4f} (se {se:.4f})")


CRITIC_NOISE = 0.5  # V_hat = V^pi + a fixed error per state: any b(s) keeps the expectation

GAE = {"baseline": "value", "gae_lambda": 0.7}
DISCOUNTED = {"discount_weights": True}
OPTIONS = [  # (name, pg overrides, target, critic: None | "exact" | "noisy")
    ("reward-to-go, baseline none", {"baseline": "none"}, "reward_to_go", None),
    ("reward-to-go, baseline mean", {"baseline": "mean"}, "reward_to_go", None),
    ("reward-to-go, baseline value", {"baseline": "value"}, "reward_to_go", "noisy"),
    (
        "reward-to-go, GAE(0.7) on the exact V",
        {"baseline": "value", "gae_lambda": 0.7},
        "reward_to_go",
        "exact",
    ),
    ("whole return, baseline none", {"baseline": "none", "reward_to_go": False}, "discounted_J", None),
    ("whole return, baseline mean", {"baseline": "mean", "reward_to_go": False}, "discounted_J", None),
    ("whole return, baseline value", {"baseline": "value", "reward_to_go": False}, "discounted_J", "noisy"),
    ("discount_weights, baseline none", {"baseline": "none", "discount_weights": True}, "discounted_J", None),
    (
        "discount_weights, baseline value",
        {"baseline": "value", "discount_weights": True},
        "discounted_J",
        "noisy",
    ),
]


def critic_values(mdp: MDP, kind: str | None) -> np.ndarray | None:
    if kind is None:
        return None
    V = mdp.value()
    return V if kind == "exact" else V + CRITIC_NOISE * np.random.default_rng(3).standard_normal(S)


def test_the_two_targets_differ_and_the_loss_has_the_analytic_gradient(sampled):
    mdp, steps, targets, pi = sampled
    to_go, grad_j = targets["reward_to_go"], targets["discounted_J"]
    # without the gamma^t weights, reward-to-go is not the discounted objective's gradient
    assert (to_go - grad_j).norm() > 0.2 * grad_j.norm()
    # pg's loss -1/N sum log pi(a|s) weight, by autograd, is the analytic per-episode formula's mean
    algo = make_pg(mdp, baseline="none", N=64)
    batch = rollout(steps, 0, 64, torch.zeros(S))
    weights = algo.weights(batch)
    loss, _ = algo.surrogate(batch, weights)
    grad_W, grad_b = torch.autograd.grad(loss, [algo.agent.actor[0].weight, algo.agent.actor[0].bias])
    analytic = per_episode_gradients(batch, weights, pi).mean(0).view(S, A)
    torch.testing.assert_close(-grad_W.T.double(), analytic, atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(-grad_b.double(), analytic.sum(0), atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("name, overrides, target, critic", OPTIONS, ids=[o[0] for o in OPTIONS])
def test_each_option_matches_its_own_exact_target(name, overrides, target, critic, sampled):
    mdp, steps, targets, pi = sampled
    algo = make_pg(mdp, critic_values(mdp, critic), N=N, **overrides)
    g = estimates(algo, steps, pi, N, BATCHES)
    report(name, g, targets[target])
    assert matches(g, targets[target]), name


def test_the_mean_baseline_is_unbiased_at_small_n(sampled):
    """b = the mean over the batch's OTHER trajectories: at N = 16 the plain batch mean (the old
    centring) is biased by ~5% here, the leave-one-out mean is not."""
    mdp, steps, targets, pi = sampled
    algo = make_pg(mdp, N=SMALL_N, baseline="mean")
    g = estimates(algo, steps, pi, SMALL_N, SMALL_BATCHES)
    report(f"reward-to-go, baseline mean, N={SMALL_N}", g, targets["reward_to_go"])
    assert matches(g, targets["reward_to_go"])


def centre(weights: torch.Tensor, batch: Rollout, group: int = SMALL_N) -> torch.Tensor:
    """Mutant: the weights minus their mean over each `group` episodes (columns) of the batch, as
    pg's old normalisation did over its batch of N = 16."""
    T, n = weights.shape
    w = torch.where(batch.valid, weights, 0.0).view(T, n // group, group)
    count = batch.valid.view(T, n // group, group).sum((0, 2), keepdim=True)
    return (w - w.sum((0, 2), keepdim=True) / count).view(T, n)


MUTANTS = [  # (name, pg overrides, weights transform, the target it is held to)
    ("reward-to-go with gamma dropped (gamma=1)", {"baseline": "none", "gamma": 1.0}, None, "reward_to_go"),
    ("discount_weights with gamma^t dropped", {"baseline": "none"}, None, "discounted_J"),
    ("reward-to-go scaled by 1.03", {"baseline": "none"}, lambda w, b: 1.03 * w, "reward_to_go"),
    ("discount_weights scaled by 1.03", {"baseline": "none", "discount_weights": True}, lambda w, b: 1.03 * w,
     "discounted_J"),
    ("reward-to-go centred over each 16 episodes", {"baseline": "none"}, centre, "reward_to_go"),
]  # fmt: skip


@pytest.mark.parametrize("name, overrides, transform, target", MUTANTS, ids=[m[0] for m in MUTANTS])
def test_mutants_of_the_estimator_fail_the_comparison(name, overrides, transform, target, sampled):
    mdp, steps, targets, pi = sampled
    algo = make_pg(mdp, N=N, **overrides)
    g = estimates(algo, steps, pi, N, BATCHES, transform)
    report("MUTANT " + name, g, targets[target])
    assert not matches(g, targets[target]), name
