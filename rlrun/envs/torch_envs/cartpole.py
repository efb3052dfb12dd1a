"""gymnasium's CartPole-v1, batched."""

from __future__ import annotations

import math

import gymnasium as gym
import numpy as np
import torch

from rlrun.envs.torch_envs.base import Tensor, TorchVectorEnv, _rows_to_obs


class CartPoleEnv(TorchVectorEnv):
    """gymnasium's CartPole-v1 (euler integrator, reward 1 on every step including the last)."""

    env_id = "CartPole-v1"
    default_max_episode_steps = 500
    default_params = {"gravity": 9.8, "masscart": 1.0, "masspole": 0.1, "length": 0.5, "force_mag": 10.0}
    tau = 0.02
    theta_threshold_radians = 12 * 2 * math.pi / 360
    x_threshold = 2.4

    def _init_constants(self) -> None:
        def constant(value: float) -> Tensor:  # 0-dim: a Python float costs a conversion per op
            return torch.tensor(value, dtype=self.dtype, device=self.device)

        self._sign = torch.tensor([-1.0, 1.0], dtype=self.dtype, device=self.device)  # action 0 left, 1 right
        self._tau, self._four_thirds = constant(self.tau), constant(4.0 / 3.0)
        self._x_limit, self._theta_limit = constant(self.x_threshold), constant(self.theta_threshold_radians)

    def _spaces(self) -> tuple[gym.Space, gym.Space]:
        high = np.array(
            [self.x_threshold * 2, np.inf, self.theta_threshold_radians * 2, np.inf], dtype=np.float32
        )
        return gym.spaces.Box(-high, high, dtype=np.float32), gym.spaces.Discrete(2)

    def _start_state(self, n: int) -> Tensor:
        state = torch.empty(4, n, dtype=self.dtype, device=self.device)
        return state.uniform_(-0.05, 0.05, generator=self.generator)

    def _transition(self, state: Tensor, actions: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        p = self.params
        _, x_dot, theta, theta_dot = state.unbind(0)
        masspole, length = p["masspole"], p["length"]
        total_mass = masspole + p["masscart"]  # derived each step: the masses may be randomised
        polemass_length = masspole * length
        force = self._sign.index_select(0, actions).mul_(p["force_mag"])
        costheta, sintheta = torch.cos(theta), torch.sin(theta)
        # gymnasium's expressions with its roundings (a + b as b + a, a - b as -b + a), computed
        # in place on temporaries: each allocation saved is ~1 us of a ~300 us step
        temp = (polemass_length * theta_dot.square()).mul_(sintheta).add_(force).div_(total_mass)
        thetaacc = (p["gravity"] * sintheta).sub_(costheta * temp)
        pole_share = (masspole * costheta.square()).div_(total_mass)
        thetaacc.div_(pole_share.neg_().add_(self._four_thirds).mul_(length))
        xacc = (polemass_length * thetaacc).mul_(costheta).div_(total_mass).neg_().add_(temp)
        # euler: x += tau x_dot, x_dot += tau xacc, theta += tau theta_dot, theta_dot += tau thetaacc
        new = torch.stack((x_dot, xacc, theta_dot, thetaacc)).mul_(self._tau).add_(state)
        terminated = (new[0].abs() > self._x_limit) | (new[2].abs() > self._theta_limit)  # 2.4, 12 degrees
        reward = torch.ones(self.num_envs, dtype=torch.float32, device=self.device)
        return new, _rows_to_obs(new), reward, terminated

    def _observe(self, state: Tensor) -> Tensor:
        return state.T.float()
