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


class FramesToy(gym.Env):
    """Random 4 x 84 x 84 uint8 frames (the Nature CNN's input); each step ends the episode with
    probability 0.1 (terminated), 2 actions."""

    observation_space = gym.spaces.Box(0, 255, (4, 84, 84), np.uint8)
    action_space = gym.spaces.Discrete(2)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return self.observation_space.sample(), {}

    def step(self, action):
        self.observation_space.seed(int(self.np_random.integers(2**31)))
        return self.observation_space.sample(), 1.0, bool(self.np_random.random() < 0.1), False, {}


gym.register("FramesToy-v0", entry_point=FramesToy)
