"""rlrun.bellman against numbers worked out by hand on a two-state MDP, dense and sparse alike."""

import gymnasium as gym
import pytest
import torch

from rlrun import bellman
from rlrun.envs.tabular import tabular_model
from rlrun.schema import FrozenLakeEnvConfig

# Two states, two actions; row s * 2 + a of P is P[s, a, :]; missing mass = the episode ends.
#   s0, a0: reward 1, to s0 or s1 with 1/2 each        s0, a1: reward 0, to s1
#   s1, a0: reward 2, the episode ends                  s1, a1: reward -1, to s0 w.p. 0.2, else ends
P_DENSE = torch.tensor([[0.5, 0.5], [0.0, 1.0], [0.0, 0.0], [0.2, 0.0]], dtype=torch.float64)
R = torch.tensor([[1.0, 0.0], [2.0, -1.0]], dtype=torch.float64)
GAMMA = 0.9


@pytest.fixture(params=["dense", "sparse"])
def P(request):
    return P_DENSE if request.param == "dense" else P_DENSE.to_sparse_csr()


def test_one_backup(P):
    V = torch.tensor([1.0, 2.0], dtype=torch.float64)
    Q = bellman.q_values(P, R, V, GAMMA)
    # Q(s0,a0) = 1 + 0.9 (0.5*1 + 0.5*2) = 2.35; Q(s0,a1) = 0.9*2 = 1.8
    # Q(s1,a0) = 2;  Q(s1,a1) = -1 + 0.9*0.2*1 = -0.82
    expected = torch.tensor([[2.35, 1.8], [2.0, -0.82]], dtype=torch.float64)
    torch.testing.assert_close(Q, expected, rtol=0, atol=1e-12)
    V_new, policy = bellman.greedy(Q)
    torch.testing.assert_close(V_new, torch.tensor([2.35, 2.0], dtype=torch.float64))
    assert policy.tolist() == [0, 0]
    assert bellman.bellman_residual(P, R, V, GAMMA) == pytest.approx(1.35)


def test_exact_and_iterative_policy_evaluation(P):
    policy = torch.tensor([0, 0])
    # V(s1) = 2; V(s0) = 1 + 0.9 (0.5 V(s0) + 0.5 * 2)  =>  V(s0) = 1.9 / 0.55 = 38/11
    exact = torch.tensor([38 / 11, 2.0], dtype=torch.float64)
    torch.testing.assert_close(bellman.evaluate_policy(P, R, policy, GAMMA), exact, rtol=0, atol=1e-12)
    one_sweep = bellman.evaluate_policy(P, R, policy, GAMMA, sweeps=1)  # from 0: just R_pi
    torch.testing.assert_close(one_sweep, torch.tensor([1.0, 2.0], dtype=torch.float64))
    many = bellman.evaluate_policy(P, R, policy, GAMMA, sweeps=400)
    torch.testing.assert_close(many, exact, rtol=0, atol=1e-12)


def test_a_stochastic_policys_values_and_discounted_visitation(P):
    policy = torch.tensor([[0.5, 0.5], [1.0, 0.0]], dtype=torch.float64)  # pi(a|s)
    # P_pi = [[0.25, 0.75], [0, 0]], R_pi = [0.5, 2]: V(s1) = 2, V(s0) = (0.5 + 0.9 * 0.75 * 2) / 0.775
    P_pi = bellman.policy_matrix(P, policy)
    P_pi = P_pi.to_dense() if P_pi.layout != torch.strided else P_pi
    torch.testing.assert_close(P_pi, torch.tensor([[0.25, 0.75], [0.0, 0.0]], dtype=torch.float64))
    V = bellman.evaluate_policy(P, R, policy, GAMMA)
    torch.testing.assert_close(V, torch.tensor([74 / 31, 2.0], dtype=torch.float64), rtol=0, atol=1e-12)
    # from s0: d(s0) = 1 / 0.775 = 40/31, d(s1) = 0.9 * 0.75 d(s0) = 27/31; normalised by 67/31
    start = torch.tensor([1.0, 0.0], dtype=torch.float64)
    d = bellman.discounted_visitation(P, start, policy, GAMMA)
    torch.testing.assert_close(d, torch.tensor([40 / 67, 27 / 67], dtype=torch.float64), rtol=0, atol=1e-12)


def test_policy_matrix_and_episode_return(P):
    policy = torch.tensor([1, 1])
    P_pi = bellman.policy_matrix(P, policy)
    P_pi = P_pi.to_dense() if P_pi.layout != torch.strided else P_pi
    torch.testing.assert_close(P_pi, torch.tensor([[0.0, 1.0], [0.2, 0.0]], dtype=torch.float64))
    start = torch.tensor([1.0, 0.0], dtype=torch.float64)
    # from s0 with a1 always: 0 (to s1), then -1 (to s0 w.p. 0.2), then 0.2 * 0, then 0.2 * -1
    assert bellman.expected_episode_return(P, R, start, policy, 1) == pytest.approx(0.0)
    assert bellman.expected_episode_return(P, R, start, policy, 2) == pytest.approx(-1.0)
    assert bellman.expected_episode_return(P, R, start, policy, 4) == pytest.approx(-1.2)


def test_ties_keep_the_current_action():
    Q = torch.tensor([[1.0, 1.0], [0.0, 1.0]], dtype=torch.float64)
    _, policy = bellman.greedy(Q, keep=torch.tensor([1, 0]))
    assert policy.tolist() == [1, 1]
    _, policy = bellman.greedy(Q, keep=torch.tensor([1, 0]), tie=1.5)
    assert policy.tolist() == [1, 0]


def test_improper_states_are_those_a_policy_can_keep_from_ending(P):
    assert not bellman.improper_states(P, 2).any()  # every action of s1 may end, s0 must reach s1
    loops = P_DENSE.clone()
    loops[1] = torch.tensor([1.0, 0.0], dtype=torch.float64)  # s0, a1: back to s0 for sure
    assert bellman.improper_states(loops, 2).tolist() == [True, False]


def test_model_from_a_toy_text_map():
    # S G on one row, not slippery: from S, right (action 2) reaches G: reward 1 and the episode ends
    env_cfg = FrozenLakeEnvConfig(id="FrozenLake-v1", desc=["SG"], is_slippery=False)
    model = tabular_model(env_cfg, torch.device("cpu"))
    P = model.dense_P()
    assert model.R[0].tolist() == [0.0, 0.0, 1.0, 0.0]
    assert P[0, 2].sum() == 0, "the move that ends the episode leaves no mass in P"
    assert P[0, 0].tolist() == [1.0, 0.0] and P[0, 3].tolist() == [1.0, 0.0]  # left, up: stay
    assert model.terminal.tolist() == [False, True] and model.start.tolist() == [1.0, 0.0]
    assert model.horizon == gym.spec("FrozenLake-v1").max_episode_steps
