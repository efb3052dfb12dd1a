"""gymnasium's MountainCar-v0 and MountainCarContinuous-v0, batched."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import torch

from rlrun.envs.torch_envs.base import Tensor, TorchVectorEnv, _round32, _rows_to_obs


class _MountainCar(TorchVectorEnv):
    """What both mountain cars share: the track, the observation (position, velocity) and the
    start states (position uniform in [-0.6, -0.4], at rest)."""

    min_position, max_position, max_speed = -1.2, 0.6, 0.07

    def _observation_space(self) -> gym.spaces.Box:
        low = np.array([self.min_position, -self.max_speed], dtype=np.float32)
        high = np.array([self.max_position, self.max_speed], dtype=np.float32)
        return gym.spaces.Box(low, high, dtype=np.float32)

    def _start_state(self, n: int) -> Tensor:
        state = torch.zeros(2, n, dtype=self.dtype, device=self.device)
        state[0].uniform_(-0.6, -0.4, generator=self.generator)
        return state

    def _observe(self, state: Tensor) -> Tensor:
        return state.T.float()


class MountainCarEnv(_MountainCar):
    """gymnasium's MountainCar-v0: velocity clipped to 0.07, position to [-1.2, 0.6], velocity
    set to 0 at the left wall, reward -1 per step, goal at 0.5."""

    env_id = "MountainCar-v0"
    default_max_episode_steps = 200
    default_params = {"force": 0.001, "gravity": 0.0025, "goal_velocity": 0.0}
    goal_position = 0.5

    def _spaces(self) -> tuple[gym.Space, gym.Space]:
        return self._observation_space(), gym.spaces.Discrete(3)

    def _transition(self, state: Tensor, actions: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        p = self.params
        position, velocity = state[0], state[1]
        velocity = velocity + (
            (actions - 1).to(self.dtype) * p["force"] + torch.cos(3 * position) * -p["gravity"]
        )
        velocity = velocity.clamp(-self.max_speed, self.max_speed)
        position = (position + velocity).clamp(self.min_position, self.max_position)
        velocity = torch.where((position == self.min_position) & (velocity < 0), 0.0, velocity)
        terminated = (position >= self.goal_position) & (velocity >= p["goal_velocity"])
        new = torch.stack((position, velocity))
        reward = torch.full((self.num_envs,), -1.0, dtype=torch.float32, device=self.device)
        return new, _rows_to_obs(new), reward, terminated


class ContinuousMountainCarEnv(_MountainCar):
    """gymnasium's MountainCarContinuous-v0: force = action clipped to [-1, 1], power 0.0015, goal
    at 0.45, reward 100 on reaching it minus 0.1 action^2 (of the action as given, unclipped).

    gymnasium stores this env's state as float32 after every step and computes parts of the step
    in float32 (see the module docstring); a float64 env reproduces those roundings, keyed on
    whether the step is an episode's first (gymnasium's state is then float64, from reset)."""

    env_id = "MountainCarContinuous-v0"
    default_max_episode_steps = 999
    default_params = {"power": 0.0015, "gravity": 0.0025, "goal_velocity": 0.0}
    goal_position = 0.45

    def _init_constants(self) -> None:
        # the goal as a float64 comparison (first step) and as numpy's float32 one (later steps)
        goal = [self.goal_position, float(np.float32(self.goal_position))]
        self._goal = torch.tensor(goal, dtype=torch.float64, device=self.device)

    def _spaces(self) -> tuple[gym.Space, gym.Space]:
        return self._observation_space(), gym.spaces.Box(low=-1.0, high=1.0, shape=(1,), dtype=np.float32)

    def _transition(self, state: Tensor, actions: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        p = self.params
        position, velocity = state[0], state[1]
        action = actions.reshape(self.num_envs).float()
        force = action.clamp(-1.0, 1.0)
        if self.dtype == torch.float32:
            velocity = velocity + (force * p["power"] - p["gravity"] * torch.cos(3 * position))
            velocity = velocity.clamp(-self.max_speed, self.max_speed)
            position = (position + velocity).clamp(self.min_position, self.max_position)
            goal_position, goal_velocity = self.goal_position, p["goal_velocity"]
        else:
            position, velocity, goal_position, goal_velocity = self._float64_step(
                position, velocity, action, force
            )
        velocity = torch.where((position == self.min_position) & (velocity < 0), 0.0, velocity)
        terminated = (position >= goal_position) & (velocity >= goal_velocity)
        new = _round32(torch.stack((position, velocity)))  # gymnasium keeps a float32 state
        reward = terminated.to(self.dtype) * 100.0 - action.to(self.dtype).square() * 0.1
        return new, _rows_to_obs(new), reward, terminated

    def _float64_step(
        self, position: Tensor, velocity: Tensor, action: Tensor, force: Tensor
    ) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """numpy's mixed float32/float64 arithmetic of gymnasium's step, in float64 with float32
        roundings where numpy has them. An episode's first step starts from gymnasium's float64
        reset state; later ones from its float32 state, where `3 * position`, the velocity update
        and comparisons with Python floats are float32 operations."""
        p = self.params
        later = self._steps > 0
        unclipped = force == action  # gymnasium then keeps the float32 action (else a Python float)
        power = p["power"]
        push = torch.where(unclipped, (force * power.float()).double(), force.double() * power)
        x3 = 3 * position
        pull = p["gravity"] * torch.cos(torch.where(later, _round32(x3), x3))
        delta = torch.where(unclipped, _round32(push - _round32(pull)), push - pull)
        velocity = torch.where(later, _round32(velocity + _round32(delta)), velocity + delta)
        velocity = velocity.clamp(-self.max_speed, self.max_speed)
        velocity = torch.where(later, _round32(velocity), velocity)  # a float32 position adds f32(0.07)
        position = position + velocity
        position = torch.where(later, _round32(position), position).clamp(
            self.min_position, self.max_position
        )
        goal_position = torch.where(later, self._goal[1], self._goal[0])
        goal_velocity = torch.where(later, _round32(p["goal_velocity"]), p["goal_velocity"])
        return position, velocity, goal_position, goal_velocity
