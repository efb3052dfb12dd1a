"""gymnasium's Acrobot-v1, batched."""

from __future__ import annotations

import math

import gymnasium as gym
import numpy as np
import torch

from rlrun.envs.torch_envs.base import Tensor, TorchVectorEnv, _round32, _rows_to_obs


class AcrobotEnv(TorchVectorEnv):
    """gymnasium's Acrobot-v1: the book dynamics, one rk4 step over [0, dt], angles wrapped to
    [-pi, pi], velocities bounded, reward -1 per step and 0 on the terminating one.
    link_length_2 is accepted for symmetry but, as in gymnasium, enters no equation of motion
    (only drawing uses it): link 2's dynamics depend on link_com_pos_2, link_mass_2, link_moi."""

    env_id = "Acrobot-v1"
    default_max_episode_steps = 500
    default_params = {
        "link_length_1": 1.0,
        "link_length_2": 1.0,
        "link_mass_1": 1.0,
        "link_mass_2": 1.0,
        "link_com_pos_1": 0.5,
        "link_com_pos_2": 0.5,
        "link_moi": 1.0,
        "gravity": 9.8,  # a constant inside gymnasium's _dsdt
    }
    dt = 0.2
    max_vel_1 = 4 * math.pi
    max_vel_2 = 9 * math.pi

    def _spaces(self) -> tuple[gym.Space, gym.Space]:
        high = np.array([1.0, 1.0, 1.0, 1.0, self.max_vel_1, self.max_vel_2], dtype=np.float32)
        return gym.spaces.Box(-high, high, dtype=np.float32), gym.spaces.Discrete(3)

    def _start_state(self, n: int) -> Tensor:
        state = torch.empty(4, n, dtype=self.dtype, device=self.device)
        return _round32(state.uniform_(-0.1, 0.1, generator=self.generator))  # gymnasium: .astype(float32)

    def _transition(self, state: Tensor, actions: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        torque = (actions - 1).to(self.dtype)  # AVAIL_TORQUE = [-1, 0, 1]
        c = self._coefficients()
        # gymnasium's rk4 over t = [0, dt] is one classic Runge-Kutta step of size dt
        dt, dt2 = self.dt, self.dt / 2.0
        k1 = self._dsdt(state, torque, c)
        k2 = self._dsdt(state + dt2 * k1, torque, c)
        k3 = self._dsdt(state + dt2 * k2, torque, c)
        k4 = self._dsdt(state + dt * k3, torque, c)
        ns = state + dt / 6.0 * (k1 + 2 * k2 + 2 * k3 + k4)
        theta1, theta2 = _wrap_angle(ns[0]), _wrap_angle(ns[1])
        dtheta1 = ns[2].clamp(-self.max_vel_1, self.max_vel_1)
        dtheta2 = ns[3].clamp(-self.max_vel_2, self.max_vel_2)
        new = torch.stack((theta1, theta2, dtheta1, dtheta2))
        cos1, sin1, cos2, sin2 = torch.cos(theta1), torch.sin(theta1), torch.cos(theta2), torch.sin(theta2)
        terminated = -cos1 - torch.cos(theta2 + theta1) > 1.0
        reward = terminated.to(torch.float32) - 1.0
        obs = _rows_to_obs(torch.stack((cos1, sin1, cos2, sin2, dtheta1, dtheta2)))
        return new, obs, reward, terminated

    def _observe(self, state: Tensor) -> Tensor:
        theta1, theta2 = state[0], state[1]
        trig = (torch.cos(theta1), torch.sin(theta1), torch.cos(theta2), torch.sin(theta2))
        return torch.stack((*trig, state[2], state[3]), dim=1).float()

    def _coefficients(self) -> dict[str, Tensor]:
        """Products of the parameters that _dsdt uses, grouped as gymnasium's expressions group
        them (so the rounding is the same); computed once per step, not once per rk4 stage."""
        p = self.params
        m1, m2, l1 = p["link_mass_1"], p["link_mass_2"], p["link_length_1"]
        lc1, lc2, moi, g = p["link_com_pos_1"], p["link_com_pos_2"], p["link_moi"], p["gravity"]
        return {
            "m2": m2,
            "moi": moi,
            "d1_const": m1 * lc1.square(),  # d1 = m1 lc1^2 + m2 (l1^2 + lc2^2 + 2 l1 lc2 cos) + I1 + I2
            "d1_sq": l1.square() + lc2.square(),
            "d1_cos": 2 * l1 * lc2,
            "lc2_sq": lc2.square(),  # d2 = m2 (lc2^2 + l1 lc2 cos(theta2)) + I2
            "l1_lc2": l1 * lc2,
            "phi2": m2 * lc2 * g,
            "phi1_a": -m2 * l1 * lc2,
            "phi1_b": 2 * m2 * l1 * lc2,
            "phi1_c": (m1 * lc1 + m2 * l1) * g,
            "m2_l1_lc2": m2 * l1 * lc2,
            "den": m2 * lc2.square() + moi,
        }

    @staticmethod
    def _dsdt(s: Tensor, torque: Tensor, c: dict[str, Tensor]) -> Tensor:
        """d/dt of (theta1, theta2, dtheta1, dtheta2), gymnasium's "book" equations, as [4, E]."""
        theta1, theta2, dtheta1, dtheta2 = s.unbind(0)
        m2, moi = c["m2"], c["moi"]
        cos2, sin2 = torch.cos(theta2), torch.sin(theta2)
        d1 = c["d1_const"] + m2 * (c["d1_sq"] + c["d1_cos"] * cos2) + moi + moi
        d2 = m2 * (c["lc2_sq"] + c["l1_lc2"] * cos2) + moi
        phi2 = c["phi2"] * torch.cos(theta1 + theta2 - math.pi / 2.0)
        phi1 = (
            c["phi1_a"] * dtheta2.square() * sin2
            - c["phi1_b"] * dtheta2 * dtheta1 * sin2
            + c["phi1_c"] * torch.cos(theta1 - math.pi / 2)
            + phi2
        )
        ddtheta2 = (torque + d2 / d1 * phi1 - c["m2_l1_lc2"] * dtheta1.square() * sin2 - phi2) / (
            c["den"] - d2.square() / d1
        )
        ddtheta1 = -(d2 * ddtheta2 + phi1) / d1
        return torch.stack((dtheta1, dtheta2, ddtheta1, ddtheta2))


def _wrap_angle(x: Tensor) -> Tensor:
    """gymnasium's wrap(x, -pi, pi): add or subtract 2 pi until inside (once in practice; a
    bigger jump falls back to a remainder, equal up to rounding)."""
    x = torch.where(x > math.pi, x - 2 * math.pi, x)
    x = torch.where(x < -math.pi, x + 2 * math.pi, x)
    return torch.where(x.abs() > math.pi, torch.remainder(x + math.pi, 2 * math.pi) - math.pi, x)
