"""The collector against gymnasium's own env stepped by hand: terminations and truncations kept
apart, and a truncated episode bootstrapped from the value of its true final observation."""

import gymnasium as gym
import numpy as np
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


def test_episode_statistics_are_undiscounted_returns():
    envs = make_vector_env(EnvConfig(id="CartPole-v1", max_episode_steps=5), num_envs=2, vector="async")
    agent = ActorCritic(envs.single_observation_space, envs.single_action_space, [16])
    collector = Collector(envs, agent, torch.device("cpu"), seed=0)
    collector.collect(10)
    finished = collector.pop_episodes()
    assert finished and all(length <= 5 and ret == length for ret, length in finished)
    assert collector.pop_episodes() == []
    envs.close()
