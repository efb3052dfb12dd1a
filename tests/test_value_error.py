"""diagnostics/value_error of pg and ac on tabular envs: the critic against the exact V^pi of the
current policy, RMS-weighted by the policy's discounted state distribution d. V^pi and d are
computed here in numpy from FrozenLake's toy-text dict, independently of rlrun.bellman."""

import gymnasium as gym
import numpy as np
import pytest
import torch
from hydra import compose, initialize_config_module

from rlrun.algos.on_policy import ExactValueError
from rlrun.config import parse_config, register_configs
from rlrun.envs import make_vector_env
from rlrun.envs.tabular import tabular_model
from rlrun.nets import ActorCritic
from rlrun.runner import make_algorithm
from rlrun.schema import EnvConfig

GAMMA = 0.9


pytestmark = pytest.mark.usefixtures("one_thread")


def exact(agent: ActorCritic, gamma: float) -> tuple[np.ndarray, np.ndarray]:
    """V^pi and the normalised d(s) ~ sum_t gamma^t Pr(s_t = s) on slippery FrozenLake 4x4."""
    env = gym.make("FrozenLake-v1")
    u, S, A = env.unwrapped, env.observation_space.n, env.action_space.n
    T, R = np.zeros((S, A, S)), np.zeros((S, A))
    for s in range(S):
        for a in range(A):
            for prob, nxt, reward, terminated in u.P[s][a]:
                R[s, a] += prob * reward
                if not terminated:
                    T[s, a, nxt] += prob
    start = np.asarray(u.initial_state_distrib, dtype=float)
    env.close()
    with torch.no_grad():
        pi = agent.dist(torch.arange(S)).probs.double().numpy()
    M = np.einsum("sa,sat->st", pi, T)
    V = np.linalg.solve(np.eye(S) - gamma * M, (pi * R).sum(1))
    d = np.linalg.solve((np.eye(S) - gamma * M).T, start)
    return V, d / d.sum()


def critic_values(agent: ActorCritic) -> np.ndarray:
    with torch.no_grad():
        return agent.value(torch.arange(agent.encoder.dim)).double().numpy()


def test_a_critic_set_to_v_pi_has_no_error_and_a_perturbed_one_the_error_worked_out_by_hand():
    space, actions = gym.spaces.Discrete(16), gym.spaces.Discrete(4)
    torch.manual_seed(0)
    agent = ActorCritic(space, actions, hidden=[])  # linear on one-hot: a table of V and of logits
    with torch.no_grad():
        agent.actor[0].weight.normal_(0, 1)
    check = ExactValueError(tabular_model(EnvConfig(id="FrozenLake-v1"), torch.device("cpu")), GAMMA)
    V, d = exact(agent, GAMMA)
    assert d[0] > 0 and d[15] == 0  # from the start; the goal is entered only by ending the episode
    weight, bias = agent.critic[0].weight, agent.critic[0].bias

    with torch.no_grad():
        weight.copy_(torch.as_tensor(V).unsqueeze(0))
        bias.zero_()
    assert check(agent) < 1e-7  # float32 rounding of V

    with torch.no_grad():
        bias.fill_(0.25)  # off by 0.25 everywhere: RMS 0.25 whatever the weights (they sum to 1)
    assert check(agent) == pytest.approx(0.25, abs=1e-6)

    with torch.no_grad():
        bias.zero_()
        weight[0, 0] += 0.5  # off at the start state only: sqrt(d(start)) 0.5
    assert check(agent) == pytest.approx(0.5 * np.sqrt(d[0]), rel=1e-5)

    # with reward normalisation the critic predicts scaled returns: scaled back before comparing
    with torch.no_grad():
        weight.copy_(torch.as_tensor(V).unsqueeze(0) * 0.1)
    assert check(agent, reward_scale=0.1) < 1e-7
    assert check(agent) == pytest.approx(np.sqrt((d * (0.9 * V) ** 2).sum()), rel=1e-5)


def make(*overrides: str):
    register_configs()
    with initialize_config_module(config_module="rlrun.conf", version_base="1.3"):
        run = parse_config(compose("config", overrides=list(overrides)))
    envs = make_vector_env(run.env, run.env.num_envs)
    return make_algorithm(run, envs, torch.device("cpu")), envs


@pytest.mark.parametrize("overrides", [["algo=ac"], ["algo=pg", "algo.N=8"]], ids=["ac", "pg"])
def test_logged_every_iteration_on_frozen_lake_and_equal_to_an_independent_computation(overrides):
    algo, envs = make(*overrides, "env=FrozenLake", f"algo.gamma={GAMMA}", "seed=0")
    try:
        errors = [algo.iterate()["diagnostics/value_error"] for _ in range(10)]
        assert np.isfinite(errors).all()
        V, d = exact(algo.agent, GAMMA)  # the policy and critic as the last iteration left them
        expected = np.sqrt((d * (critic_values(algo.agent) - V) ** 2).sum())
        assert errors[-1] == pytest.approx(expected, rel=1e-5)
    finally:
        envs.close()


@pytest.mark.parametrize(
    "overrides",
    [["algo=ac", "env=CartPole"], ["algo=pg", "env=FrozenLake", "algo.baseline=mean"]],
    ids=["not-tabular", "no-critic"],
)
def test_not_computed_without_a_tabular_model_or_a_critic(overrides):
    algo, envs = make(*overrides)
    try:
        assert algo.value_check is None
        assert "diagnostics/value_error" not in algo.iterate()
    finally:
        envs.close()


def test_on_a_bigger_model_it_is_computed_every_so_many_env_steps():
    algo, envs = make("algo=ac", "env=Taxi")  # 500 states: (500 / 40)^3 = 1953 env steps apart
    try:
        assert algo.value_check.every == 1953
        logged = [algo.env_steps for _ in range(60) if "diagnostics/value_error" in algo.iterate()]
        assert logged == [1960]  # N = 40 steps an iteration: the first to pass 1953
    finally:
        envs.close()
