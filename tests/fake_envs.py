"""A tiny env with a MultiDiscrete action space, which no rlrun algorithm handles (for error tests).
`env.id=fake_envs:MultiDiscreteToy-v0` imports this module, which registers it."""

import gymnasium as gym
import numpy as np


class MultiDiscreteToy(gym.Env):
    observation_space = gym.spaces.Box(-1.0, 1.0, (2,), np.float32)
    action_space = gym.spaces.MultiDiscrete([2, 3])

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return np.zeros(2, np.float32), {}

    def step(self, action):
        return np.zeros(2, np.float32), 0.0, True, False, {}


gym.register("MultiDiscreteToy-v0", entry_point=MultiDiscreteToy)


class NanRewardToy(gym.Env):
    """Rewards 1 for its first 300 steps (over all episodes), then NaN: a numerical fault."""

    observation_space = gym.spaces.Box(-1.0, 1.0, (2,), np.float32)
    action_space = gym.spaces.Discrete(2)

    def __init__(self):
        self.steps = 0

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return np.zeros(2, np.float32), {}

    def step(self, action):
        self.steps += 1
        reward = 1.0 if self.steps <= 300 else float("nan")
        return np.zeros(2, np.float32), reward, self.steps % 50 == 0, False, {}


gym.register("NanRewardToy-v0", entry_point=NanRewardToy)
