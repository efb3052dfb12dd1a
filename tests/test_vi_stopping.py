"""vi's stopping rule on a sparse reward far from the start. The Bellman residual alone (the old
rule) stops before the reward's value has travelled back to the start: there V is still 0 and the
greedy action arbitrary. A deterministic chain has V* in closed form, so the new rule's answer is
checked exactly; a GridWorld with a small discount shows the same on a shipped env."""

import gymnasium as gym
import numpy as np
import pytest
import scipy.sparse
import scipy.sparse.linalg
import torch
from hydra import compose, initialize_config_module

import rlrun.envs  # noqa: F401  (registers rlrun/GridWorld-v0)
from rlrun.algos.vi import ValueIteration, VIConfig
from rlrun.config import parse_config, register_configs
from rlrun.envs.tabular import TabularModel
from rlrun.runner import make_algorithm

GAMMA, TOL = 0.99, 1e-10
LENGTH = 2500  # V*(start) = 0.99^2498 = 1.2e-11 < TOL: V*(start) is below the tolerance


def chain(goal_left: bool) -> TabularModel:
    """States 0..LENGTH-1 in a row; action 0 steps left, 1 right (a wall stays put). Entering the
    goal (one end) pays 1 and ends the episode; the start is the other end."""
    n = LENGTH
    s = np.arange(n)
    nxt = np.stack([np.maximum(s - 1, 0), np.minimum(s + 1, n - 1)], axis=1)  # [S, A]
    goal, start = (0, n - 1) if goal_left else (n - 1, 0)
    ends = nxt == goal
    live = (s != goal)[:, None] & ~ends  # the goal's own row stays empty: it is terminal
    rows = (s[:, None] * 2 + np.arange(2))[live]
    P = (
        torch.sparse_coo_tensor(
            torch.as_tensor(np.stack([rows, nxt[live]])),
            torch.ones(len(rows), dtype=torch.float64),
            (2 * n, n),
        )
        .coalesce()
        .to_sparse_csr()
    )
    R = torch.as_tensor(ends & (s != goal)[:, None], dtype=torch.float64)
    terminal = torch.zeros(n, dtype=torch.bool)
    terminal[goal] = True
    start_dist = torch.zeros(n, dtype=torch.float64)
    start_dist[start] = 1.0
    return TabularModel(P=P, R=R, terminal=terminal, start=start_dist)


def run_vi(model: TabularModel, gamma: float = GAMMA) -> tuple[ValueIteration, tuple]:
    """Run vi to its stop; also return (iteration, V, pi) where the old rule (residual < tol) stopped."""
    solver = ValueIteration(VIConfig(gamma=gamma, tol=TOL), model, total_steps=10**6)
    old = None
    while not solver.done:
        solver.iterate()
        if old is None and solver.residual < TOL:
            old = (solver.iteration, solver.V.clone(), solver.pi.clone())
    return solver, old


@pytest.mark.parametrize("goal_left", [False, True], ids=["goal-right", "goal-left"])
def test_vi_waits_for_the_reward_to_reach_the_start_of_a_long_chain(goal_left):
    model = chain(goal_left)
    start, goal = (LENGTH - 1, 0) if goal_left else (0, LENGTH - 1)
    toward = 0 if goal_left else 1
    # V*(s) = gamma^(d - 1), d = the steps from s to the goal (the reward comes on the last one)
    d = np.abs(np.arange(LENGTH) - goal)
    V_star = np.where(d > 0, GAMMA ** (d - 1.0), 0.0)

    solver, (old_iteration, old_V, old_pi) = run_vi(model)
    # the old rule: residual gamma^(k-1) < 1e-10 at k = 2293, 206 iterations before the reward
    # reaches the start (LENGTH - 1 = 2499 steps from the goal)
    assert old_iteration == 2293 and old_V[start] == 0
    if not goal_left:  # the start's greedy action is still the initial one, away from the goal
        assert old_pi[start] == 0

    assert solver.converged and solver.residual < TOL
    assert solver.iteration == LENGTH  # the start reached at iteration LENGTH - 1; one more sees no change
    V, pi = solver.V.numpy(), solver.pi.numpy()
    live = np.arange(LENGTH) != goal
    np.testing.assert_allclose(V, V_star, rtol=1e-11, atol=0)  # relatively exact, down to 1e-11
    assert (pi[live] == toward).all()
    assert V[start] == pytest.approx(GAMMA ** (LENGTH - 2), rel=1e-11)


def gridworld_by_hand(env: gym.Env) -> tuple[list, np.ndarray, np.ndarray]:
    """From the env's toy-text dict: T[a] (sparse [S, S], the moves that go on), R [S, A], and the
    probability G [S, A] of entering the goal."""
    u = env.unwrapped
    S, model = u.observation_space.n, u.P  # P is built on each access: once
    T = [scipy.sparse.lil_matrix((S, S)) for _ in range(4)]
    R, G = np.zeros((S, 4)), np.zeros((S, 4))
    for s in range(S):
        for a in range(4):
            for prob, nxt, reward, terminated in model[s][a]:
                R[s, a] += prob * reward
                if terminated and nxt == u.goal:
                    G[s, a] += prob
                elif not terminated:
                    T[a][s, nxt] += prob
    return [t.tocsr() for t in T], R, G


def test_vi_on_a_gridworld_whose_start_value_is_below_tol_plays_the_optimal_policy():
    # 60 x 60, gamma 0.8: V*(start) = 5.4e-13, far below tol = 1e-10
    register_configs()
    overrides = ["algo=vi", "env=GridWorld", "env.size=60", "algo.gamma=0.8"]
    with initialize_config_module(config_module="rlrun.conf", version_base="1.3"):
        run = parse_config(compose("config", overrides=overrides))
    solver, (_, old_V, old_pi) = run_vi(make_algorithm(run, None, torch.device("cpu")).model, gamma=0.8)
    assert solver.converged and old_V[0] == 0

    env = gym.make(run.env.id, **run.env.make_kwargs())
    T, R, G = gridworld_by_hand(env)
    S, horizon = R.shape[0], env.unwrapped.max_steps
    env.close()

    def evaluate(pi: np.ndarray) -> tuple[np.ndarray, float]:
        """The policy's exact V (a sparse solve), and its chance to reach the goal within the limit."""
        rows = np.arange(S)
        P_pi = scipy.sparse.csr_matrix(
            sum(scipy.sparse.diags((pi == a).astype(float)) @ T[a] for a in range(4))
        )
        V = scipy.sparse.linalg.spsolve((scipy.sparse.identity(S) - 0.8 * P_pi).tocsc(), R[rows, pi])
        d, success = np.eye(S)[0], 0.0
        for _ in range(horizon):
            success += d @ G[rows, pi]
            d = P_pi.T @ d
        return V, success

    V_pi, success = evaluate(solver.pi.numpy())
    _, old_success = evaluate(old_pi.numpy())
    assert old_success < 1e-6  # the old rule's greedy policy does not find the goal from the start
    assert success > 0.99
    # the greedy policy is optimal: no action improves on it anywhere, relative to each state's value
    Q = R + 0.8 * np.stack([T[a] @ V_pi for a in range(4)], axis=1)
    assert (Q.max(axis=1) <= V_pi * (1 + 1e-6)).all()
    assert 0 < solver.V[0].item() <= V_pi[0] * (1 + 1e-9)
