"""pg's estimator against the exact policy gradient on FrozenLake 4x4 (is_slippery=False).

The policy is linear softmax on one-hot observations (algo.hidden=[]): logits[s] = W[:, s] + b, a
tabular policy. The exact J(theta) = V^pi(s_0) with gamma = 1 (every episode ends in a hole or at
the goal) comes from the model env.unwrapped.P by a linear solve,
    V = r_pi + M_pi V,   M_pi[s, s'] = sum_a pi(a|s) p(s'|s, a) [not terminal],
and its gradient from autograd through that solve: computed here, independently of rlrun.
"""

import gymnasium as gym
import pytest
import torch

from rlrun.algos.pg import PG, PGConfig
from rlrun.envs import make_vector_env
from rlrun.nets import ActorCritic
from rlrun.schema import EnvConfig

NUM_ENVS = 64
BATCHES = 40  # of N = 1024 trajectories each
# Not slippery: with the slippery dynamics the estimator's per-trajectory variance is 5-30 times
# larger relative to |grad J| (episodes wander), too many samples for a test that runs in seconds.
KWARGS = {"is_slippery": False}


def model() -> tuple[torch.Tensor, torch.Tensor, int]:
    """p[s, a, s'] of continuing to s' (not terminal), r[s, a] expected reward, start state."""
    env = gym.make("FrozenLake-v1", **KWARGS)
    P = env.unwrapped.P
    nS, nA = env.observation_space.n, env.action_space.n
    p, r = torch.zeros(nS, nA, nS, dtype=torch.float64), torch.zeros(nS, nA, dtype=torch.float64)
    for s in range(nS):
        for a in range(nA):
            for prob, s_next, reward, terminated in P[s][a]:
                r[s, a] += prob * reward
                if not terminated:
                    p[s, a, s_next] += prob
    start = int(env.unwrapped.initial_state_distrib.argmax())
    env.close()
    return p, r, start


def exact_j(W: torch.Tensor, b: torch.Tensor, p: torch.Tensor, r: torch.Tensor, start: int) -> torch.Tensor:
    pi = torch.softmax(W.T + b, dim=-1)  # [S, A]: the linear layer on one-hot observations
    M = torch.einsum("sa,sat->st", pi, p)
    V = torch.linalg.solve(torch.eye(len(M), dtype=M.dtype) - M, (pi * r).sum(-1))
    return V[start]


def make_pg(W: torch.Tensor, b: torch.Tensor, baselines: tuple[str, ...], **overrides) -> list[PG]:
    """pg with each baseline, all on one policy (and one critic) and one vector env."""
    envs = make_vector_env(EnvConfig(id="FrozenLake-v1", max_episode_steps=5000, kwargs=KWARGS), NUM_ENVS)
    agent = ActorCritic(envs.single_observation_space, envs.single_action_space, [])
    with torch.no_grad():
        agent.actor[0].weight.copy_(W)
        agent.actor[0].bias.copy_(b)
    device = torch.device("cpu")
    cfgs = [PGConfig(hidden=[], gamma=1.0, norm_adv=False, baseline=base, **overrides) for base in baselines]
    return [PG(cfg, envs, agent, device, seed=0) for cfg in cfgs]


def estimates(algos: list[PG], batches: int) -> list[torch.Tensor]:
    """For each of `batches` batches sampled by the first algo (the policy held fixed), each algo's
    grad J estimate on it: one [batches, 68] tensor per algo."""
    params = list(algos[0].agent.actor.parameters())
    out: list[list[torch.Tensor]] = [[] for _ in algos]
    for _ in range(batches):
        batch = algos[0].sample()
        for algo, grads in zip(algos, out, strict=True):
            policy_loss, _ = algo.surrogate(batch, algo.weights(batch))  # -1/N sum log pi (Q_hat - b)
            grad = torch.autograd.grad(policy_loss, params)
            grads.append(-torch.cat([g.flatten() for g in grad]).double())
    return [torch.stack(grads) for grads in out]


BETA = 2.0


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def policy_and_gradient():
    """A stochastic policy that leans to the shortest path, logits = BETA onehot(argmax Q*(s, .))
    (Q* of gamma = 0.9 by value iteration on the model; J ~ 0.56, episodes ~ 7 steps), and the
    exact grad J there."""
    p, r, start = model()
    V = torch.zeros(p.shape[0], dtype=torch.float64)
    for _ in range(200):
        Q = r + 0.9 * p @ V
        V = Q.max(1).values
    W = (BETA * torch.nn.functional.one_hot(Q.argmax(1), p.shape[1]).T).double().requires_grad_()
    b = torch.zeros(p.shape[1], dtype=torch.float64, requires_grad=True)
    J = exact_j(W, b, p, r, start)
    gW, gb = torch.autograd.grad(J, (W, b))
    return W.detach().float(), b.detach().float(), J.item(), torch.cat([gW.flatten(), gb])


def test_the_estimator_is_unbiased_and_a_value_baseline_lowers_its_variance(policy_and_gradient):
    W, b, J, exact = policy_and_gradient
    assert 0.3 < J < 0.7  # a policy with something left to learn
    plain, valued = make_pg(W, b, ("none", "value"), N=1024, critic_lr=0.05, S=50)

    # baseline=value: first fit V_hat_phi (tabular: linear on one-hot) by pg's own regression, on
    # batches of its own, with the policy held fixed; then it stays fixed too
    for _ in range(3):
        valued.fit_critic(valued.sample())

    # reward-to-go with no baseline and with V_hat_phi(s), on the same sampled batches
    g_plain, g_value = estimates([plain, valued], BATCHES)
    var_plain, var_value = g_plain.var(0).sum().item(), g_value.var(0).sum().item()
    for name, g in (("none", g_plain), ("value", g_value)):
        mean = g.mean(0)
        cosine = torch.nn.functional.cosine_similarity(mean, exact, dim=0).item()
        rel = ((mean - exact).norm() / exact.norm()).item()
        print(f"baseline={name}: cosine {cosine:.4f}, relative error {rel:.4f} (J = {J:.4f})")
        assert cosine >= 0.99 and rel <= 0.05, name
    print(f"variance (trace over a batch of N=1024): none {var_plain:.3g}, value {var_value:.3g}")
    assert var_value < 0.9 * var_plain
    plain.envs.close()
