"""The return math of rlrun.rollout against numbers computed by hand (gamma = 0.9, lambda = 0.8
unless said): discounted returns, GAE, reward-to-go, whole-trajectory returns, n-step targets,
episode indices and normalisation. Terminations do not bootstrap; truncations do, from V of the
true final observation."""

import pytest
import torch

from rlrun.rollout import (
    discounted_returns,
    episode_ids,
    gae,
    n_step_targets,
    normalize,
    steps_into_episode,
    trajectory_returns,
)


def column(*values, dtype=torch.float32):
    return torch.tensor(values, dtype=dtype)[:, None]  # [T, 1]: one environment


def flags(*values):
    return column(*values, dtype=torch.bool)


REWARDS = column(1.0, 2.0, 3.0)
NONE = flags(0, 0, 0)


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
NEXT_VALUES = column(1.0, 5.0, 2.0)  # V(s_1), V(s_2) (5.0: of the true final observation of step 1), V(s_3)


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


def test_undiscounted_reward_to_go_sums_from_t_on():
    # gamma = 1, the episode terminates at step 2: 1+2+3, 2+3, 3
    got = discounted_returns(REWARDS, flags(0, 0, 1), NONE, torch.zeros(3, 1), gamma=1.0)
    assert got[:, 0].tolist() == pytest.approx([6.0, 5.0, 3.0])


def test_whole_trajectory_return_is_given_to_every_step_of_its_episode():
    # gamma = 1: one episode of 3 steps: r(tau) = 6 at every step
    got = trajectory_returns(REWARDS, flags(0, 0, 1), NONE, torch.zeros(3, 1), gamma=1.0)
    assert got[:, 0].tolist() == pytest.approx([6.0, 6.0, 6.0])
    # termination at step 1: episode (1, 2) has 1 + .9 * 2 = 2.8; the next one starts at step 2: 3
    got = trajectory_returns(REWARDS, flags(0, 1, 1), NONE, torch.zeros(3, 1), gamma=0.9)
    assert got[:, 0].tolist() == pytest.approx([2.8, 2.8, 3.0])
    # truncation at step 1 bootstraps from V(final obs) = 5: 1 + .9 * (2 + .9 * 5) = 6.85
    bootstrap = column(0.0, 5.0, 10.0)
    got = trajectory_returns(REWARDS, NONE, flags(0, 1, 0), bootstrap, gamma=0.9)
    assert got[:, 0].tolist() == pytest.approx([6.85, 6.85, 12.0])  # step 2: 3 + .9 * 10


def test_one_step_targets_are_r_plus_gamma_v_next():
    # 1 + .9 * 1 = 1.9;  2 + .9 * 5 = 6.5;  3 + .9 * 2 = 4.8
    got = n_step_targets(REWARDS, NEXT_VALUES, NONE, NONE, 0.9, n=1)
    assert got[:, 0].tolist() == pytest.approx([1.9, 6.5, 4.8])
    # a termination at step 1 adds no V after it: 2
    got = n_step_targets(REWARDS, NEXT_VALUES, flags(0, 1, 0), NONE, 0.9, n=1)
    assert got[:, 0].tolist() == pytest.approx([1.9, 2.0, 4.8])
    # a truncation at step 1 bootstraps from V(final obs) = 5: 6.5 as without an end
    got = n_step_targets(REWARDS, NEXT_VALUES, NONE, flags(0, 1, 0), 0.9, n=1)
    assert got[:, 0].tolist() == pytest.approx([1.9, 6.5, 4.8])


def test_n_step_targets_look_ahead_until_an_end_or_the_batch_end():
    # n = 2: y0 = 1 + .9*2 + .81*V(s_2)=5 -> 6.85;  y1 = 2 + .9*3 + .81*V(s_3)=2 -> 6.32;  y2 = 3 + .9*2 = 4.8
    got = n_step_targets(REWARDS, NEXT_VALUES, NONE, NONE, 0.9, n=2)
    assert got[:, 0].tolist() == pytest.approx([6.85, 6.32, 4.8])
    # n = 3: y0 = 1 + 1.8 + 2.43 + .729 * 2 = 6.688
    got = n_step_targets(REWARDS, NEXT_VALUES, NONE, NONE, 0.9, n=3)
    assert got[:, 0].tolist() == pytest.approx([6.688, 6.32, 4.8])
    # termination at step 1: y0 = 1 + .9 * 2 = 2.8, y1 = 2
    got = n_step_targets(REWARDS, NEXT_VALUES, flags(0, 1, 0), NONE, 0.9, n=3)
    assert got[:, 0].tolist() == pytest.approx([2.8, 2.0, 4.8])
    # truncation at step 1 (V(final obs) = 5): y0 = 1 + .9 * (2 + .9 * 5) = 6.85, y1 = 6.5
    got = n_step_targets(REWARDS, NEXT_VALUES, NONE, flags(0, 1, 0), 0.9, n=3)
    assert got[:, 0].tolist() == pytest.approx([6.85, 6.5, 4.8])


def test_n_steps_as_long_as_the_batch_is_the_bootstrapped_discounted_return():
    torch.manual_seed(0)
    T, E = 6, 3
    rewards, next_values = torch.randn(T, E), torch.randn(T, E)
    terminated, truncated = torch.rand(T, E) < 0.2, torch.rand(T, E) < 0.2
    truncated &= ~terminated
    got = n_step_targets(rewards, next_values, terminated, truncated, 0.95, n=T)
    bootstrap = next_values.clone()  # read at truncations and at the last step only
    torch.testing.assert_close(got, discounted_returns(rewards, terminated, truncated, bootstrap, 0.95))


def flags_2d(rows):
    return torch.tensor(rows, dtype=torch.bool)


def test_steps_into_episode_and_episode_ids_restart_after_every_end():
    terminated = flags_2d([[0, 0], [1, 0], [0, 0], [0, 1], [0, 0]])
    truncated = flags_2d([[0, 0], [0, 0], [0, 1], [0, 0], [0, 0]])
    # env 0 terminates at step 1; env 1 is truncated at step 2 and terminates at step 3
    assert steps_into_episode(terminated, truncated).tolist() == [[0, 0], [1, 1], [0, 2], [1, 0], [2, 0]]
    # env e's k-th episode is k * 2 + e
    assert episode_ids(terminated, truncated).tolist() == [[0, 1], [0, 1], [2, 1], [2, 3], [2, 5]]


def test_normalize_centres_or_only_rescales_and_leaves_one_value_alone():
    x = torch.tensor([1.0, 2.0, 3.0, 6.0])
    centred = normalize(x)
    assert centred.mean().item() == pytest.approx(0.0, abs=1e-6)
    assert centred.std().item() == pytest.approx(1.0, abs=1e-6)
    scaled = normalize(x, center=False)  # / sqrt((1 + 4 + 9 + 36) / 4) = / sqrt(12.5)
    assert scaled.tolist() == pytest.approx((x / 12.5**0.5).tolist())
    same = torch.tensor([2.0, 2.0, 2.0])  # equal weights keep their sign and size 1 (std would be 0)
    assert normalize(same, center=False).tolist() == pytest.approx([1.0, 1.0, 1.0])
    for center in (True, False):
        assert normalize(torch.tensor([5.0]), center).tolist() == [5.0]
