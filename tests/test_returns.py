"""GAE and discounted returns against numbers computed by hand (gamma = 0.9, lambda = 0.8)."""

import pytest
import torch

from rlrun.rollout import discounted_returns, gae


def column(*values, dtype=torch.float32):
    return torch.tensor(values, dtype=dtype)[:, None]  # [T, 1]: one environment


def flags(*values):
    return column(*values, dtype=torch.bool)


REWARDS = column(1.0, 2.0, 3.0)


def test_discounted_returns_without_episode_end_bootstrap_from_the_last_value():
    # G2 = 3 + .9 * 10 = 12, G1 = 2 + .9 * 12 = 12.8, G0 = 1 + .9 * 12.8 = 12.52
    bootstrap = column(0.0, 0.0, 10.0)
    got = discounted_returns(REWARDS, flags(0, 0, 0), flags(0, 0, 0), bootstrap, gamma=0.9)
    assert got[:, 0].tolist() == pytest.approx([12.52, 12.8, 12.0])


def test_discounted_returns_stop_at_termination_without_bootstrap():
    # step 1 terminates: G1 = 2 (its bootstrap 99 is ignored), G0 = 1 + .9 * 2 = 2.8
    bootstrap = column(0.0, 99.0, 10.0)
    got = discounted_returns(REWARDS, flags(0, 1, 0), flags(0, 0, 0), bootstrap, gamma=0.9)
    assert got[:, 0].tolist() == pytest.approx([2.8, 2.0, 12.0])


def test_discounted_returns_bootstrap_at_truncation_from_the_final_observation():
    # step 1 is cut by a time limit; V(final obs) = 5: G1 = 2 + .9 * 5 = 6.5, G0 = 1 + .9 * 6.5 = 6.85
    bootstrap = column(0.0, 5.0, 10.0)
    got = discounted_returns(REWARDS, flags(0, 0, 0), flags(0, 1, 0), bootstrap, gamma=0.9)
    assert got[:, 0].tolist() == pytest.approx([6.85, 6.5, 12.0])


VALUES = column(0.5, 1.0, 1.5)
NEXT_VALUES = column(1.0, 5.0, 2.0)  # 5.0: V of the true final observation of step 1


def test_gae_truncation_bootstraps_and_cuts_the_trace():
    # delta2 = 3 + .9*2 - 1.5 = 3.3;  delta1 = 2 + .9*5 - 1 = 5.5;  delta0 = 1 + .9*1 - .5 = 1.4
    # A2 = 3.3;  A1 = 5.5 (episode ends);  A0 = 1.4 + .9*.8*5.5 = 5.36
    adv, ret = gae(REWARDS, VALUES, NEXT_VALUES, flags(0, 0, 0), flags(0, 1, 0), 0.9, 0.8)
    assert adv[:, 0].tolist() == pytest.approx([5.36, 5.5, 3.3])
    assert ret[:, 0].tolist() == pytest.approx([5.86, 6.5, 4.8])


def test_gae_termination_does_not_bootstrap():
    # delta1 = 2 - 1 = 1 (no V after a terminal state);  A0 = 1.4 + .72 * 1 = 2.12
    adv, _ = gae(REWARDS, VALUES, NEXT_VALUES, flags(0, 1, 0), flags(0, 0, 0), 0.9, 0.8)
    assert adv[:, 0].tolist() == pytest.approx([2.12, 1.0, 3.3])


def test_gae_without_episode_end_chains_all_steps():
    # A1 = 5.5 + .72 * 3.3 = 7.876;  A0 = 1.4 + .72 * 7.876 = 7.07072
    adv, _ = gae(REWARDS, VALUES, NEXT_VALUES, flags(0, 0, 0), flags(0, 0, 0), 0.9, 0.8)
    assert adv[:, 0].tolist() == pytest.approx([7.07072, 7.876, 3.3])


def test_gae_with_lambda_one_is_the_discounted_return_minus_the_baseline():
    torch.manual_seed(0)
    T, E = 7, 3
    rewards, values = torch.randn(T, E), torch.randn(T, E)
    terminated, truncated = torch.rand(T, E) < 0.2, torch.rand(T, E) < 0.2
    final = torch.randn(T, E)
    last = torch.randn(1, E)
    # next values: the next step's value, or the final one where an episode ended
    following = torch.cat([values[1:], last])
    next_values = torch.where(terminated | truncated, final, following)
    adv, ret = gae(rewards, values, next_values, terminated, truncated, 0.95, 1.0)
    bootstrap = torch.where(terminated | truncated, final, torch.zeros(T, E))
    bootstrap[-1] = torch.where(terminated[-1] | truncated[-1], final[-1], last[0])
    expected = discounted_returns(rewards, terminated, truncated, bootstrap, 0.95)
    torch.testing.assert_close(ret, expected)
    torch.testing.assert_close(adv, expected - values)


def test_environments_are_independent_columns():
    rewards = torch.cat([REWARDS, REWARDS], dim=1)
    values, next_values = torch.cat([VALUES, VALUES], 1), torch.cat([NEXT_VALUES, NEXT_VALUES], 1)
    terminated = torch.cat([flags(0, 1, 0), flags(0, 0, 0)], 1)
    truncated = torch.cat([flags(0, 0, 0), flags(0, 1, 0)], 1)
    adv, _ = gae(rewards, values, next_values, terminated, truncated, 0.9, 0.8)
    assert adv[:, 0].tolist() == pytest.approx([2.12, 1.0, 3.3])
    assert adv[:, 1].tolist() == pytest.approx([5.36, 5.5, 3.3])
