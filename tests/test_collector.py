"""The collector against gymnasium's own env stepped by hand: terminations and truncations kept
apart, and a truncated episode bootstrapped from the value of its true final observation."""

import gymnasium as gym
import numpy as np
import pytest
import torch

from rlrun.envs import make_vector_env
from rlrun.nets import ActorCritic
from rlrun.rollout import Collector
from rlrun.schema import EnvConfig


def test_truncation_bootstraps_from_the_final_observation_and_termination_is_kept_apart():
    torch.manual_seed(0)
    env_cfg = EnvConfig(id="CartPole-v1", max_episode_steps=3)
    envs = make_vector_env(env_cfg, num_envs=1)
    agent = ActorCritic(envs.single_observation_space, envs.single_action_space, [16])
    batch = Collector(envs, agent, torch.device("cpu"), seed=7).collect(7)

    # Replay the same actions in a plain gymnasium env with the same seed.
    env = gym.make("CartPole-v1", max_episode_steps=3)
    obs, _ = env.reset(seed=7)
    with torch.no_grad():
        for t in range(7):
            np.testing.assert_allclose(batch.obs[t, 0].numpy(), obs)
            obs, reward, terminated, truncated, _ = env.step(int(batch.actions[t, 0]))
            assert batch.rewards[t, 0] == reward
            assert bool(batch.terminated[t, 0]) == terminated and bool(batch.truncated[t, 0]) == truncated
            final_value = agent.value(torch.as_tensor(obs)[None])[0]
            if truncated:  # V of the true final observation, not of the next episode's first
                assert torch.isclose(batch.next_values[t, 0], final_value)
            elif not terminated:
                assert torch.isclose(batch.next_values[t, 0], final_value)
            if terminated or truncated:
                obs, _ = env.reset()
    assert batch.truncated[:, 0].tolist() == [False, False, True, False, False, True, False]
    envs.close()


@pytest.mark.parametrize("encoder", ["mlp", "cnn"])
def test_values_are_the_critics_of_each_state_and_of_each_true_next_state(encoder):
    """With a CNN V(s) comes from the pass that acts and V(s') from the next step's V(s) where no
    episode ended; either way they must be the critic's values of obs and next_obs."""
    import fake_envs  # noqa: F401  (registers FramesToy-v0)

    torch.manual_seed(0)
    envs = make_vector_env(EnvConfig(id="FramesToy-v0", max_episode_steps=6), num_envs=3)
    agent = ActorCritic(envs.single_observation_space, envs.single_action_space, [16], encoder=encoder)
    batch = Collector(envs, agent, torch.device("cpu"), seed=3).collect(20)
    assert batch.terminated.any() and batch.truncated.any()
    with torch.no_grad():
        values = agent.value(batch.obs.flatten(0, 1)).view(20, 3)
        next_values = agent.value(batch.next_obs.flatten(0, 1)).view(20, 3)
    torch.testing.assert_close(batch.values, values, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(
        batch.next_values, torch.where(batch.terminated, 0.0, next_values), atol=1e-5, rtol=1e-5
    )
    envs.close()


def test_episode_statistics_are_undiscounted_returns():
    envs = make_vector_env(EnvConfig(id="CartPole-v1", max_episode_steps=5), num_envs=2, vector="async")
    agent = ActorCritic(envs.single_observation_space, envs.single_action_space, [16])
    collector = Collector(envs, agent, torch.device("cpu"), seed=0)
    collector.collect(10)
    finished = collector.pop_episodes()
    assert finished and all(length <= 5 and ret == length for ret, length in finished)
    assert collector.pop_episodes() == []
    envs.close()


def test_observation_statistics_stay_fixed_for_a_batch_and_take_it_in_at_the_next():
    envs = make_vector_env(EnvConfig(id="CartPole-v1"), num_envs=2)
    agent = ActorCritic(envs.single_observation_space, envs.single_action_space, [16], normalize_obs=True)
    collector = Collector(envs, agent, torch.device("cpu"), seed=0)
    first = collector.collect(8)
    assert agent.encoder.mean.tolist() == [0.0] * 4  # the batch was collected with the starting statistics
    # the stored log-probabilities are those of the policy as it stands after collecting
    logp, _, values = agent.evaluate(first.obs.flatten(0, 1), first.actions.flatten(0, 1))
    assert torch.equal(logp.view(8, 2), first.logprobs) and torch.equal(values.view(8, 2), first.values)

    collector.collect(8)  # the first batch's 16 observations fold in before this one is collected
    obs = first.obs.flatten(0, 1)
    assert torch.allclose(agent.encoder.mean, obs.mean(0), atol=1e-5)
    assert torch.allclose(agent.encoder.var, obs.var(0, unbiased=False), atol=1e-5)
    assert float(agent.encoder.count) == pytest.approx(16, abs=1e-3)
    envs.close()


def test_pg_batches_fold_only_their_own_trajectories_into_the_statistics():
    envs = make_vector_env(EnvConfig(id="CartPole-v1", max_episode_steps=6), num_envs=3)
    agent = ActorCritic(envs.single_observation_space, envs.single_action_space, [16], normalize_obs=True)
    collector = Collector(envs, agent, torch.device("cpu"), seed=0)
    batch = collector.collect_episodes(4)
    collector.collect_episodes(4)
    kept = batch.obs[batch.valid]
    assert float(agent.encoder.count) == pytest.approx(len(kept), abs=1e-3)
    assert torch.allclose(agent.encoder.mean, kept.mean(0), atol=1e-5)
    envs.close()


@pytest.mark.parametrize("algo", ["ppo", "pg", "ac"])
def test_resuming_mid_run_with_observation_normalisation_is_exact(algo):
    # A checkpoint taken between two batches carries the batch not yet folded into the statistics.
    import copy
    import io

    from rlrun.algos.ac import AC, ACConfig
    from rlrun.algos.pg import PG, PGConfig
    from rlrun.algos.ppo import PPO, PPOConfig
    from rlrun.envs.torch_envs import make_torch_env

    def build(envs):
        agent = ActorCritic(envs.single_observation_space, envs.single_action_space, [16], normalize_obs=True)
        cpu = torch.device("cpu")
        if algo == "ppo":
            return PPO(PPOConfig(N=32, K=2, S=2, normalize_obs=True), envs, agent, cpu, 32 * 4, seed=0)
        if algo == "pg":
            return PG(PGConfig(N=4, S=2, normalize_obs=True), envs, agent, cpu, seed=0)
        return AC(ACConfig(N=32, normalize_obs=True), envs, agent, cpu, seed=0)

    torch.manual_seed(0)
    envs = make_torch_env("CartPole-v1", 4, "cpu")
    alone = build(envs)
    alone.iterate()
    saved = io.BytesIO()
    torch.save(alone.state_dict(), saved)
    envs_copy, rng = copy.deepcopy(envs), torch.get_rng_state()
    for _ in range(2):
        alone.iterate()

    saved.seek(0)
    resumed = build(envs_copy)
    resumed.load_state_dict(torch.load(saved, weights_only=True))
    torch.set_rng_state(rng)
    for _ in range(2):
        resumed.iterate()
    expected = alone.agent.state_dict()
    for name, tensor in resumed.agent.state_dict().items():
        assert torch.equal(tensor, expected[name]), name
