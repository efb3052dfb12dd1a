"""vi and pi against the exact optimum, on every shipped tabular env at gamma 0.99: V within 1e-6
of V*, and a greedy policy that is optimal (the same as V*'s up to ties). V* is computed here
independently, in numpy, from gymnasium's `env.unwrapped.P` dict (policy iteration with exact
linear solves), not through rlrun's model or Bellman code."""

import gymnasium as gym
import numpy as np
import pytest
import torch
from hydra import compose, initialize_config_module

import rlrun.envs  # noqa: F401  (registers rlrun/RandomMDP-v0 and rlrun/GridWorld-v0)
from rlrun.config import parse_config, register_configs
from rlrun.runner import make_algorithm
from rlrun.schema import TABULAR_ENVS

ENVS = list(TABULAR_ENVS.values())
GAMMA = 0.99


def compose_run(*overrides: str):
    register_configs()
    with initialize_config_module(config_module="rlrun.conf", version_base="1.3"):
        return parse_config(compose("config", overrides=list(overrides)))


def exact_optimum(P: dict, S: int, A: int, gamma: float) -> tuple[np.ndarray, np.ndarray]:
    """V* and Q* from the toy-text dict: P[s][a] = [(prob, next, reward, terminated)]."""
    T = np.zeros((S, A, S))  # probability of moving to s' and going on
    R = np.zeros((S, A))
    for s in range(S):
        for a in range(A):
            for prob, nxt, reward, terminated in P[s][a]:
                R[s, a] += prob * reward
                if not terminated:
                    T[s, a, nxt] += prob
    policy = np.zeros(S, dtype=int)
    while True:
        # the optimal policy's Bellman equation, V = R_pi + gamma T_pi V, solved exactly
        V = np.linalg.solve(np.eye(S) - gamma * T[np.arange(S), policy], R[np.arange(S), policy])
        Q = R + gamma * T @ V
        better = Q.max(axis=1) > Q[np.arange(S), policy] + 1e-12
        if not better.any():
            return V, Q
        policy = np.where(better, Q.argmax(axis=1), policy)


def solve(algo: str, env: str) -> tuple:
    run = compose_run(f"algo={algo}", f"env={env}", f"algo.gamma={GAMMA}")
    solver = make_algorithm(run, None, torch.device("cpu"))
    while not solver.done:
        solver.iterate()
    return run, solver


@pytest.fixture(scope="module", params=ENVS)
def optimum(request):
    run = compose_run("algo=vi", f"env={request.param}")
    env = gym.make(run.env.id, **run.env.make_kwargs())
    u = env.unwrapped
    V, Q = exact_optimum(u.P, u.observation_space.n, u.action_space.n, GAMMA)
    env.close()
    return request.param, V, Q


@pytest.mark.parametrize("algo", ["vi", "pi"])
def test_values_within_1e_6_of_the_exact_optimum_and_the_policy_optimal(algo, optimum):
    env, V_star, Q_star = optimum
    _, solver = solve(algo, env)
    assert solver.converged
    V = solver.V.numpy()
    assert np.abs(V - V_star).max() < 1e-6, f"{algo} on {env}: max |V - V*| = {np.abs(V - V_star).max():.2e}"
    # the greedy action is optimal in every state (ties between optimal actions either way)
    pi = solver.pi.numpy()
    gap = Q_star.max(axis=1) - Q_star[np.arange(len(pi)), pi]
    assert gap.max() < 1e-6, f"{algo} on {env}: a greedy action is {gap.max():.2e} worse than the best"


def test_modified_policy_iteration_reaches_the_same_optimum():
    _, exact = solve("pi", "Taxi")
    run = compose_run("algo=pi", "env=Taxi", "algo.S=5")
    solver = make_algorithm(run, None, torch.device("cpu"))
    while not solver.done:
        solver.iterate()
    assert solver.converged and (solver.V - exact.V).abs().max() < 1e-6
