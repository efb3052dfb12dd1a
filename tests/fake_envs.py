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
