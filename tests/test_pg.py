"""pg's estimator pieces on hand-made batches: Q_hat, the value targets and the baselines (the
mean baseline leaves each trajectory out), scale-only normalisation, sampling whole trajectories,
and the checks of its options."""

import numpy as np
import pytest
import torch
from test_returns import flags_2d

from rlrun.algos.pg import PG, PGConfig, leave_one_out_mean
from rlrun.envs import make_vector_env
from rlrun.nets import ActorCritic
from rlrun.rollout import Collector, Rollout, episode_ids
from rlrun.schema import EnvConfig


def pg_with(envs, **overrides) -> PG:
    cfg = PGConfig(**overrides)
    agent = ActorCritic(envs.single_observation_space, envs.single_action_space, [8])
    return PG(cfg, envs, agent, torch.device("cpu"), seed=0)


def hand_batch() -> Rollout:
    """Two envs: env 0 terminates at step 1 then runs an invalid step; env 1 is truncated at step 2."""
    z = torch.zeros(3, 2)
    return Rollout(
        obs=torch.zeros(3, 2, 4), actions=torch.zeros(3, 2, dtype=torch.long), logprobs=z,
        values=torch.tensor([[1.0, 0.5], [2.0, 0.5], [0.0, 0.5]]),
        rewards=torch.tensor([[1.0, 1.0], [2.0, 1.0], [9.0, 1.0]]),
        terminated=torch.tensor([[False, False], [True, False], [False, False]]),
        truncated=torch.tensor([[False, False], [False, False], [False, True]]),
        next_obs=torch.zeros(3, 2, 4),
        next_values=torch.tensor([[2.0, 0.5], [7.0, 0.5], [0.0, 10.0]]),  # 7: ignored (termination)
        valid=torch.tensor([[True, True], [True, True], [False, True]]),
    )  # fmt: skip


def test_pg_q_hat_value_targets_and_baselines_on_a_hand_batch():
    envs = make_vector_env(EnvConfig(id="CartPole-v1"), 2)
    batch, valid = hand_batch(), hand_batch().valid
    # reward-to-go, gamma .9. env 0: 1 + .9*2 = 2.8, then 2.  env 1, truncated at step 2 with
    # V(final obs) = 10, bootstraps with a critic: G2 = 1 + .9*10 = 10, G1 = 1 + .9*10 = 10, G0 = 10
    algo = pg_with(envs, gamma=0.9, baseline="value")
    assert algo.q_hat(batch)[valid].tolist() == pytest.approx([2.8, 10.0, 2.0, 10.0, 10.0])
    assert algo.weights(batch)[valid].tolist() == pytest.approx([1.8, 9.5, 0.0, 9.5, 9.5])
    # Monte Carlo target = the same reward-to-go; bootstrap target = r + .9 V(s'), none after a termination
    assert algo.value_targets(batch)[valid].tolist() == pytest.approx([2.8, 10.0, 2.0, 10.0, 10.0])
    algo = pg_with(envs, gamma=0.9, baseline="value", value_target="bootstrap")
    assert algo.value_targets(batch)[valid].tolist() == pytest.approx([2.8, 1.45, 2.0, 1.45, 10.0])
    # without a critic the time limit ends the sum: 1 + .9*(1 + .9*1) = 2.71, 1.9, 1
    algo = pg_with(envs, gamma=0.9, baseline="none")
    assert algo.weights(batch)[valid].tolist() == pytest.approx([2.8, 2.71, 2.0, 1.9, 1.0])
    # whole-trajectory returns: 2.8 twice; 2.71 three times. mean baseline: the mean over the other
    # trajectory's steps, 2.71 for env 0's episode, 2.8 for env 1's
    algo = pg_with(envs, gamma=0.9, baseline="mean", reward_to_go=False)
    expected = [2.8 - 2.71, 2.71 - 2.8, 2.8 - 2.71, 2.71 - 2.8, 2.71 - 2.8]
    assert algo.weights(batch)[valid].tolist() == pytest.approx(expected, abs=1e-5)
    # reward-to-go with discount_weights: step t of its episode weighted by .9^t
    algo = pg_with(envs, gamma=0.9, baseline="none", discount_weights=True)
    expected = [2.8, 2.71, 0.9 * 2.0, 0.9 * 1.9, 0.81 * 1.0]
    assert algo.weights(batch)[valid].tolist() == pytest.approx(expected, abs=1e-5)
    envs.close()


def test_the_mean_baseline_leaves_each_trajectory_out_and_is_zero_alone():
    # env 0: episode A (steps 0-1, Q_hat 1, 3), then episode B (step 2, Q_hat 5); env 1: episode C
    # (steps 0-2, Q_hat 2, 2, 8); invalid steps count for nothing
    q_hat = torch.tensor([[1.0, 2.0], [3.0, 2.0], [5.0, 8.0], [100.0, 100.0]])
    terminated = flags_2d([[0, 0], [1, 0], [1, 1], [0, 0]])
    valid = flags_2d([[1, 1], [1, 1], [1, 1], [0, 0]])
    episode = episode_ids(terminated, torch.zeros_like(terminated))
    b = leave_one_out_mean(q_hat, valid, episode)
    # A: mean of B and C's steps (5 + 12) / 4; B: (4 + 12) / 5; C: (4 + 5) / 3
    expected = [[17 / 4, 3.0], [17 / 4, 3.0], [16 / 5, 3.0], [0.0, 0.0]]
    assert b.tolist() == [pytest.approx(row) for row in expected]
    one = flags_2d([[1, 0], [1, 0], [0, 0], [0, 0]])  # a single trajectory: no other to average
    assert leave_one_out_mean(q_hat, one, episode).abs().sum() == 0


def test_pg_norm_adv_rescales_the_weights_and_keeps_the_baseline():
    # centring the weights would make baseline=none and baseline=mean one estimator; rescaling does not
    envs = make_vector_env(EnvConfig(id="CartPole-v1"), 2)
    batch, valid = hand_batch(), hand_batch().valid
    for baseline in ("none", "mean", "value"):
        raw = pg_with(envs, gamma=0.9, baseline=baseline).weights(batch)[valid]
        scaled = pg_with(envs, gamma=0.9, baseline=baseline, norm_adv=True).weights(batch)[valid]
        assert scaled.tolist() == pytest.approx((raw / raw.square().mean().sqrt()).tolist(), abs=1e-6)
    none = pg_with(envs, gamma=0.9, baseline="none", norm_adv=True).weights(batch)[valid]
    mean = pg_with(envs, gamma=0.9, baseline="mean", norm_adv=True).weights(batch)[valid]
    assert (none - mean).abs().max() > 0.5
    envs.close()


def test_collect_episodes_samples_n_whole_trajectories_in_start_order():
    envs = make_vector_env(EnvConfig(id="CartPole-v1", max_episode_steps=20), 3)
    agent = ActorCritic(envs.single_observation_space, envs.single_action_space, [8])
    collector = Collector(envs, agent, torch.device("cpu"), seed=1)
    for n in (7, 2):
        batch = collector.collect_episodes(n)
        ends = (batch.terminated | batch.truncated) & batch.valid
        assert int(ends.sum()) == n
        for e in range(3):
            valid = batch.valid[:, e].numpy()
            if valid.any():  # a valid prefix that ends with an episode end
                last = np.flatnonzero(valid)[-1]
                assert valid[: last + 1].all() and not valid[last + 1 :].any()
                assert ends[last, e]
        assert len(collector.pop_episodes()) == n
    envs.close()


def test_discount_weights_needs_reward_to_go():
    from rlrun.algos.pg import check as check_pg
    from rlrun.errors import ConfigError

    with pytest.raises(ConfigError, match="algo.discount_weights: needs algo.reward_to_go=true"):
        check_pg(PGConfig(reward_to_go=False, discount_weights=True), EnvConfig(id="CartPole-v1"))
    check_pg(PGConfig(discount_weights=True), EnvConfig(id="CartPole-v1"))
