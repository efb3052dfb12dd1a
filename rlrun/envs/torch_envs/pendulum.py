"""gymnasium's Pendulum-v1, batched."""

from __future__ import annotations

import math

import gymnasium as gym
import numpy as np
import torch

from rlrun.envs.torch_envs.base import Tensor, TorchVectorEnv, _rows_to_obs


class PendulumEnv(TorchVectorEnv):
    """gymnasium's Pendulum-v1: torque clipped to [-2, 2], speed to [-8, 8], reward -(angle^2 +
    0.1 speed^2 + 0.001 torque^2) of the state before the step, observation (cos, sin, speed)."""

    env_id = "Pendulum-v1"
    default_max_episode_steps = 200
    default_params = {"g": 10.0, "m": 1.0, "l": 1.0}
    max_speed, max_torque, dt = 8.0, 2.0, 0.05

    def _spaces(self) -> tuple[gym.Space, gym.Space]:
        high = np.array([1.0, 1.0, self.max_speed], dtype=np.float32)
        action = gym.spaces.Box(low=-self.max_torque, high=self.max_torque, shape=(1,), dtype=np.float32)
        return gym.spaces.Box(-high, high, dtype=np.float32), action

    def _start_state(self, n: int) -> Tensor:
        state = torch.empty(2, n, dtype=self.dtype, device=self.device)
        state[0].uniform_(-math.pi, math.pi, generator=self.generator)
        state[1].uniform_(-1.0, 1.0, generator=self.generator)
        return state

    def _transition(self, state: Tensor, actions: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        p = self.params
        g, m, length = p["g"], p["m"], p["l"]
        th, thdot = state[0], state[1]
        u = actions.reshape(self.num_envs).float().clamp(-self.max_torque, self.max_torque)
        angle = torch.remainder(th + math.pi, 2 * math.pi) - math.pi
        # gymnasium's 0.001 * u**2 and 3 / (m l^2) * u are float32 products (u is float32)
        costs = angle.square() + 0.1 * thdot.square() + (u.square() * 0.001).to(self.dtype)
        torque = (3.0 / (m * length.square())).float() * u
        newthdot = thdot + (3 * g / (2 * length) * torch.sin(th) + torque) * self.dt
        newthdot = newthdot.clamp(-self.max_speed, self.max_speed)
        new = torch.stack((th + newthdot * self.dt, newthdot))
        terminated = torch.zeros(self.num_envs, dtype=torch.bool, device=self.device)
        obs = _rows_to_obs(torch.stack((torch.cos(new[0]), torch.sin(new[0]), newthdot)))
        return new, obs, -costs, terminated

    def _observe(self, state: Tensor) -> Tensor:
        return torch.stack((torch.cos(state[0]), torch.sin(state[0]), state[1]), dim=1).float()
