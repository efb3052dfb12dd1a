"""Batched PyTorch versions of gymnasium's classic-control envs, and a sampler of tabular models.

Each env steps `num_envs` copies at once as tensors on one device (CPU or CUDA), with no host
synchronisation in `step` or `reset`: nothing is read back to Python, so a CUDA caller can queue
thousands of steps. They behave like `gymnasium.vector.SyncVectorEnv(..., autoreset_mode=SAME_STEP)`
wrapped in `RecordEpisodeStatistics`, with tensors instead of numpy arrays:

    obs, info = envs.reset(seed=0)
    obs, reward, terminated, truncated, info = envs.step(actions)

- An episode that ends in a step is reset in that same step: `obs` holds the new episode's first
  observation, `info["final_obs"]` the true next observation of every env (the last observation of
  the ended episodes; equal to `obs` elsewhere), `info["_final_obs"]` the mask of ended envs.
- `info["episode"] = {"r", "l"}` (return and length of the ended episodes, 0 elsewhere) and
  `info["_episode"]` are always present, so a caller never needs a sync to learn whether they are.
- `truncated` is gymnasium's TimeLimit rule, elapsed steps >= max_episode_steps. As in gymnasium
  1.4, a step that both terminates and reaches the limit reports terminated=True and truncated=True:
  bootstrap only where `truncated & ~terminated`.
- Physical constants are per-env tensors in `envs.params` ([E] each); `randomize={name: (low,
  high)}` draws each env's own value at every reset, and `**params` fix them (e.g. length=0.8).
- One torch.Generator on the env's device draws start states and parameters; reset(seed=s)
  seeds it. On the CPU an autoreset draws only for the envs that ended (`subset_reset`); on other
  devices every env draws every step and torch.where keeps the ended ones' (no sync). Either way
  the same seed and actions give the same trajectories and state_dict() resumes exactly, but
  CPU and CUDA give different streams (their generators differ anyway).

The equations are gymnasium 1.4's (gymnasium/envs/classic_control/*.py), in the same order of
operations. Where gymnasium computes or stores in float32, a float64 env rounds to float32 at the
same points (`_round32`), so that float64 envs agree with gymnasium to ~1e-15 per step:
- Acrobot draws its start state in float64 and stores it as float32; its steps are float64.
- MountainCarContinuous stores its state as float32 after every step, and numpy computes
  `force * power` (when the action is not clipped) and, from the second step of an episode on,
  `3 * position`, the velocity update and the comparisons with constants in float32 (NEP 50: a
  Python float meeting a float32 scalar is cast to float32).
- Pendulum takes the float32 action: `0.001 * u**2` and `3 / (m l^2) * u` are float32 products.
- CartPole and MountainCar are float64 throughout.
Box actions are cast to float32 (the action space's dtype) before use, as gymnasium sees them.
Observations and rewards are returned as float32 whatever the internal dtype; episode returns
are summed in the internal dtype.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, ClassVar

import gymnasium as gym
import numpy as np
import torch
from gymnasium.vector import AutoresetMode
from gymnasium.vector.utils import batch_space

from rlrun.envs.tabular import TabularModel
from rlrun.errors import ConfigError

Tensor = torch.Tensor
NO_TIME_LIMIT = 2**62  # steps: a model without a horizon never truncates


def _round32(x: Tensor) -> Tensor:
    """x rounded to float32, kept in its dtype: where gymnasium computes or stores in float32
    (a no-op for a float32 env)."""
    return x if x.dtype == torch.float32 else x.float().to(x.dtype)


def _rows_to_obs(rows: Tensor) -> Tensor:
    """State rows [D, E] as a new contiguous float32 [E, D] tensor (never a view of the state)."""
    dim, num = rows.shape
    block = next((b for b in (64, 8) if num % b == 0), 1)
    # transposing in blocks of E is several times faster for large E than one strided copy
    out = torch.empty(num // block, block, dim, dtype=torch.float32, device=rows.device)
    return out.copy_(rows.view(dim, num // block, block).permute(1, 2, 0)).view(num, dim)


class TorchVectorEnv(gym.vector.VectorEnv):
    """Base of the batched envs: seeding, time limit, SAME_STEP autoreset, episode statistics,
    parameters and their randomisation, exact save and restore. Subclasses give the spaces, the
    start-state distribution and one batched transition.

    The state is kept in the layout the subclass computes fastest in: rows [state_dim, E] (each
    row contiguous, so elementwise ops vectorise; `_env_dim = 1`) or [E, state_dim] / [E]
    (`_env_dim = 0`); `state` always shows it as [E, state_dim] (or [E])."""

    env_id: ClassVar[str] = ""
    default_params: ClassVar[dict[str, float]] = {}
    default_max_episode_steps: ClassVar[int] = 0
    metadata: ClassVar[dict[str, Any]] = {"autoreset_mode": AutoresetMode.SAME_STEP, "render_modes": []}
    _env_dim: ClassVar[int] = 1
    is_tensor_env: ClassVar[bool] = True  # speaks rlrun.envs.tensor_env's interface itself

    def __init__(
        self,
        num_envs: int,
        device: torch.device | str = "cpu",
        dtype: torch.dtype = torch.float32,
        max_episode_steps: int | None = None,
        randomize: dict[str, tuple[float, float]] | None = None,
        **params: float,
    ):
        if dtype not in (torch.float32, torch.float64):
            raise ValueError(f"dtype must be torch.float32 or torch.float64, got {dtype}")
        if num_envs < 1:
            raise ConfigError("env.num_envs", f"must be at least 1, got {num_envs}")
        if max_episode_steps is not None and max_episode_steps < 1:
            raise ConfigError("env.max_episode_steps", f"must be at least 1, got {max_episode_steps}")
        self.num_envs = num_envs
        self.device = torch.device(device)
        self.dtype = dtype
        self.max_episode_steps = max_episode_steps or self.default_max_episode_steps
        self.autoreset_mode = AutoresetMode.SAME_STEP
        self.randomize = _check_params(type(self), params, randomize or {})
        values = {**self.default_params, **params}
        self.params: dict[str, Tensor] = {
            name: torch.full((num_envs,), float(value), dtype=dtype, device=self.device)
            for name, value in values.items()
        }
        # On the CPU, autoreset draws only for the envs that ended (finding them costs no sync
        # there, and drawing for all is the largest cost of a CartPole step); elsewhere every env
        # draws and torch.where keeps the ended ones, so that step never waits for the device.
        self.subset_reset = self.device.type == "cpu"
        self.generator = torch.Generator(device=self.device)
        self.generator.seed()  # like gymnasium: unseeded envs start from fresh entropy
        self._init_constants()
        self.single_observation_space, self.single_action_space = self._spaces()
        self.observation_space = batch_space(self.single_observation_space, num_envs)
        self.action_space = batch_space(self.single_action_space, num_envs)
        self._action_shape = (num_envs, *self.single_action_space.shape)
        if self.env_id in gym.registry:
            self.spec = dataclasses.replace(gym.spec(self.env_id), max_episode_steps=self.max_episode_steps)
        self._steps = torch.zeros(num_envs, dtype=torch.int64, device=self.device)
        self._returns = torch.zeros(num_envs, dtype=self._return_dtype(), device=self.device)
        self._zeros = (self._returns.new_zeros(()), self._steps.new_zeros(()))
        self._state = self._draw_all()

    @property
    def max_episode_steps(self) -> int:
        return self._max_episode_steps

    @max_episode_steps.setter
    def max_episode_steps(self, steps: int) -> None:
        self._max_episode_steps = steps
        self._time_limit = torch.tensor(steps, dtype=torch.int64, device=self.device)

    # ---------------------------------------------------------------- what a subclass provides
    def _init_constants(self) -> None:
        """Constant tensors on the device that the transition uses (made once)."""

    def _spaces(self) -> tuple[gym.Space, gym.Space]:
        raise NotImplementedError

    def _start_state(self, n: int) -> Tensor:
        """n start states drawn from the generator, in the state's layout, in self.dtype."""
        raise NotImplementedError

    def _transition(self, state: Tensor, actions: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """One step of every env: (next state (a new tensor), its float32 observation [E, obs_dim]
        (a new contiguous tensor, sharing no memory with the next state), reward [E] (float32 or
        self.dtype), terminated [E] bool)."""
        raise NotImplementedError

    def _observe(self, state: Tensor) -> Tensor:
        """The float32 observations [n, obs_dim] of n states (may be a view)."""
        raise NotImplementedError

    def _return_dtype(self) -> torch.dtype:
        return self.dtype

    # ---------------------------------------------------------------- the gymnasium interface
    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[Tensor, dict]:
        """Reset every env; seed=None continues the generator. Returns (obs [E, obs_dim], {})."""
        if options:
            raise ValueError(f"{type(self).__name__}.reset takes no options, got {options}")
        if seed is not None:
            self.generator.manual_seed(seed)
        self._state = self._draw_all()
        self._steps.zero_()
        self._returns.zero_()
        return self._observe(self._state).clone(memory_format=torch.contiguous_format), {}

    def step(self, actions: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor, dict[str, Any]]:
        """Actions on the env's device: int64 [E] (Discrete) or float [E, act_dim] (Box)."""
        if actions.shape != self._action_shape:  # e.g. [E, 1] for Discrete: never broadcast
            actions = actions.reshape(self._action_shape)
        stepped, final_obs, reward, terminated = self._transition(self._state, actions)
        steps, returns = self._steps.add_(1), self._returns.add_(reward)
        truncated = steps >= self._time_limit  # gymnasium's TimeLimit: also when terminated
        done = terminated | truncated
        # the time limit and these zeros are 0-dim tensors: a Python number would cost a conversion
        # each call (the one in add_(1) is left: a single op)
        zero_return, zero_steps = self._zeros
        ended_return = torch.where(done, returns, zero_return)
        ended_length = torch.where(done, steps, zero_steps)
        episode = {"r": ended_return.float(), "l": ended_length}
        returns.sub_(ended_return)  # the ended envs start again from 0
        steps.sub_(ended_length)
        if self.subset_reset:
            ended = done.nonzero(as_tuple=True)[0]
            obs = final_obs.clone()
            if ended.shape[0]:
                fresh = self._draw_some(ended)
                stepped.index_copy_(self._env_dim, ended, fresh)
                obs.index_copy_(0, ended, self._observe(fresh))
            self._state = stepped
        else:
            # no sync: start states are drawn for every env, kept where an episode ended
            for name, drawn in self._draw_params(self.num_envs).items():
                self.params[name] = torch.where(done, drawn, self.params[name])
            fresh = self._start_state(self.num_envs)
            state_mask = done if self._env_dim == 1 else self._env_mask(done, fresh)
            self._state = torch.where(state_mask, fresh, stepped)
            obs = torch.empty_like(final_obs)
            torch.where(self._env_mask(done, final_obs), self._observe(fresh), final_obs, out=obs)
        info = {"final_obs": final_obs, "_final_obs": done, "episode": episode, "_episode": done}
        return obs, reward.float(), terminated, truncated, info

    @staticmethod
    def _env_mask(done: Tensor, like: Tensor) -> Tensor:
        """done [E] shaped to broadcast over a state laid out [E, ...]."""
        return done.view(-1, *[1] * (like.dim() - 1))

    def _draw_params(self, n: int) -> dict[str, Tensor]:
        """n new values of each randomised parameter, uniform in its range."""
        drawn = {}
        for name, (low, high) in self.randomize.items():
            value = torch.empty(n, dtype=self.dtype, device=self.device)
            drawn[name] = value.uniform_(low, high, generator=self.generator)
        return drawn

    def _draw_all(self) -> Tensor:
        """New parameters and start states for every env (reset)."""
        self.params.update(self._draw_params(self.num_envs))
        return self._start_state(self.num_envs)

    def _draw_some(self, ended: Tensor) -> Tensor:
        """New parameters for the envs `ended` (indices), and their start states."""
        for name, drawn in self._draw_params(ended.shape[0]).items():
            self.params[name] = self.params[name].index_copy(0, ended, drawn)
        return self._start_state(ended.shape[0])

    # ---------------------------------------------------------------- state, for tests and resume
    @property
    def state(self) -> Tensor:
        """The raw physics state [E, state_dim] (or [E]) in the internal dtype (a view: do not
        modify; use set_state)."""
        return self._state.T if self._env_dim == 1 else self._state

    def set_state(self, state: Tensor, reset_steps: bool = True) -> None:
        """Put every env into `state` [E, state_dim] (or [E]); reset_steps: a new episode
        (elapsed steps and return 0)."""
        state = torch.as_tensor(state, device=self.device, dtype=self._state.dtype)
        if state.shape != self.state.shape:
            raise ValueError(f"state must have shape {tuple(self.state.shape)}, got {tuple(state.shape)}")
        self._state = state.T.contiguous() if self._env_dim == 1 else state.clone()
        if reset_steps:
            self._steps.zero_()
            self._returns.zero_()

    def state_dict(self) -> dict[str, Any]:
        """Everything a continuation needs to be exactly the same: state, parameters, step counts,
        returns so far, generator."""
        return {
            "env_id": self.env_id,
            "num_envs": self.num_envs,
            "max_episode_steps": self.max_episode_steps,
            "state": self._state.clone(),
            "steps": self._steps.clone(),
            "returns": self._returns.clone(),
            "params": {name: value.clone() for name, value in self.params.items()},
            "randomize": dict(self.randomize),
            "generator": self.generator.get_state(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state["env_id"] != self.env_id or state["num_envs"] != self.num_envs:
            raise ValueError(
                f"a state of {state['env_id']} with {state['num_envs']} envs cannot be loaded into "
                f"{self.env_id} with {self.num_envs} envs"
            )
        if set(state["params"]) != set(self.params):
            raise ValueError(f"params {sorted(state['params'])} differ from {sorted(self.params)}")
        self.max_episode_steps = state["max_episode_steps"]
        self._state = state["state"].to(self.device, self._state.dtype).clone()
        self._steps = state["steps"].to(self.device).clone()
        self._returns = state["returns"].to(self.device, self._returns.dtype).clone()
        self.params = {
            name: value.to(self.device, self.dtype).clone() for name, value in state["params"].items()
        }
        self.randomize = dict(state["randomize"])
        self.generator.set_state(state["generator"].cpu())  # generator states live on the CPU


def _check_params(
    cls: type[TorchVectorEnv], params: dict[str, float], randomize: dict[str, tuple[float, float]]
) -> dict[str, tuple[float, float]]:
    """Refuse unknown names and bad ranges (ConfigError naming the key); the ranges as floats."""
    allowed = ", ".join(cls.default_params) or "(none)"
    for name in params:
        if name not in cls.default_params:
            raise ConfigError(
                "env.kwargs",
                f"{cls.env_id} (env.backend=torch) has no parameter {name!r}; allowed: {allowed}",
            )
    ranges = {}
    for name, bounds in randomize.items():
        if name not in cls.default_params:
            raise ConfigError(
                "env.randomize",
                f"{cls.env_id} (env.backend=torch) cannot randomise {name!r}; allowed: {allowed}",
            )
        if name in params:
            raise ConfigError("env.randomize", f"{name} is both fixed (env.kwargs) and randomised; give one")
        try:
            low, high = (float(bound) for bound in bounds)
        except (TypeError, ValueError):
            raise ConfigError(
                "env.randomize", f"{name}: expected a range [low, high], got {bounds!r}"
            ) from None
        if not (math.isfinite(low) and math.isfinite(high)) or low > high:
            raise ConfigError("env.randomize", f"{name}: bad range [{low}, {high}] (need finite low <= high)")
        ranges[name] = (low, high)
    return ranges


# ---------------------------------------------------------------------------------- CartPole-v1
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


# ---------------------------------------------------------------------------------- Acrobot-v1
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


# ---------------------------------------------------------------------------------- MountainCar-v0
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


# ---------------------------------------------------------------------------------- MountainCarContinuous-v0
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


# ---------------------------------------------------------------------------------- Pendulum-v1
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


# ---------------------------------------------------------------------------------- tabular models
class TabularSampleEnv(TorchVectorEnv):
    """Samples episodes of a tabular model (rlrun.envs.tabular.TabularModel): s' ~ P[s, a, :],
    and the episode ends (terminated) with the missing mass 1 - sum_s' P[s, a, s'].

    The reward is R[s, a], the *expected* reward of the step: every expected return (of any
    policy, from any state) equals the real env's, but a sampled return is less noisy than the
    real env's (its reward noise given (s, a) is gone).

    Observations are int64 [E] state indices. The model drops the states that ending steps go to,
    so `final_obs` of a terminated episode is the state its last step was taken *from* (never to
    be bootstrapped from: terminated says so); for truncated episodes it is the true next state.
    """

    env_id = "tabular"
    _env_dim = 0

    def __init__(
        self,
        model: TabularModel,
        num_envs: int,
        device: torch.device | str = "cpu",
        max_episode_steps: int | None = None,
    ):
        self.model = model
        self._tables = _sampling_tables(model, torch.device(device))
        self.default_max_episode_steps = model.horizon or NO_TIME_LIMIT
        super().__init__(num_envs, device, torch.float64, max_episode_steps)

    def _spaces(self) -> tuple[gym.Space, gym.Space]:
        return gym.spaces.Discrete(self.model.num_states), gym.spaces.Discrete(self.model.num_actions)

    def _start_state(self, n: int) -> Tensor:
        u = torch.rand(n, dtype=torch.float64, device=self.device, generator=self.generator)
        start_cdf = self._tables["start_cdf"]
        return torch.searchsorted(start_cdf, u, right=True).clamp_(max=start_cdf.shape[0] - 1)

    def _transition(self, state: Tensor, actions: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        t = self._tables
        rows = state * self.model.num_actions + actions
        u = torch.rand(self.num_envs, 1, dtype=torch.float64, device=self.device, generator=self.generator)
        k = torch.searchsorted(t["cdf"][rows], u, right=True).squeeze(1)  # the first outcome with cdf > u
        successor = t["next"].view(-1)[rows * t["next"].shape[1] + k]
        terminated = successor == self.model.num_states  # the "episode ends" outcome
        new = torch.where(terminated, state, successor)
        reward = t["reward"][rows]
        return new, new.clone(), reward, terminated

    def _observe(self, state: Tensor) -> Tensor:
        return state

    def _return_dtype(self) -> torch.dtype:
        return torch.float64


def _sampling_tables(model: TabularModel, device: torch.device) -> dict[str, Tensor]:
    """Per-row padded tables for sampling P's rows: for row r = s * A + a, `next[r, :n]` holds the
    successors and `cdf[r, :n]` their cumulative probabilities; `next[r, n:]` is S (the episode
    ends) and `cdf[r, n:]` is +inf, so u ~ U[0, 1) past the last successor's cdf ends the episode
    (with the missing mass). n is the row's number of successors; the width is max n + 1."""
    P = model.P.detach().cpu()
    S = model.num_states
    if P.layout == torch.sparse_csr:
        crow, cols, probs = P.crow_indices(), P.col_indices(), P.values()
        counts = crow[1:] - crow[:-1]
        rows = torch.repeat_interleave(torch.arange(P.shape[0]), counts)
    else:
        rows, cols = P.nonzero(as_tuple=True)  # row-major order, as CSR would list them
        probs = P[rows, cols]
        counts = torch.bincount(rows, minlength=P.shape[0])
        crow = torch.cat([torch.zeros(1, dtype=torch.int64), counts.cumsum(0)])
    width = int(counts.max()) + 1 if counts.numel() else 1
    column = torch.arange(rows.shape[0]) - crow[rows]
    nxt = torch.full((P.shape[0], width), S, dtype=torch.int64)
    nxt[rows, column] = cols.to(torch.int64)
    prob = torch.zeros(P.shape[0], width, dtype=torch.float64)
    prob[rows, column] = probs.to(torch.float64)
    cdf = prob.cumsum(1)
    cdf[torch.arange(width) >= counts.unsqueeze(1)] = math.inf
    start = model.start.detach().cpu().to(torch.float64)
    return {
        "next": nxt.to(device),
        "cdf": cdf.to(device),
        "reward": model.R.detach().reshape(-1).to(device, torch.float64),
        "start_cdf": (start.cumsum(0) / start.sum()).to(device),
    }


# ---------------------------------------------------------------------------------- making them
TORCH_ENVS: dict[str, type[TorchVectorEnv]] = {
    cls.env_id: cls
    for cls in (CartPoleEnv, AcrobotEnv, MountainCarEnv, ContinuousMountainCarEnv, PendulumEnv)
}


def make_torch_env(
    env_id: str,
    num_envs: int,
    device: torch.device | str = "cpu",
    dtype: torch.dtype = torch.float32,
    max_episode_steps: int | None = None,
    randomize: dict[str, tuple[float, float]] | None = None,
    **params: float,
) -> TorchVectorEnv:
    """The batched torch version of gymnasium's `env_id`; ConfigError for an id without one, an
    unknown parameter or randomised name, or a bad range."""
    if env_id not in TORCH_ENVS:
        raise ConfigError(
            "env.backend",
            f"env.backend=torch has no batched version of {env_id!r}; it has {', '.join(TORCH_ENVS)}; "
            "use env.backend=gymnasium for other envs",
        )
    return TORCH_ENVS[env_id](num_envs, device, dtype, max_episode_steps, randomize, **params)


def make_tabular_sample_env(
    model: TabularModel,
    num_envs: int,
    device: torch.device | str = "cpu",
    max_episode_steps: int | None = None,
) -> TabularSampleEnv:
    """A batched env that samples episodes of a tabular model (its time limit: model.horizon)."""
    return TabularSampleEnv(model, num_envs, device, max_episode_steps)
