"""The base of the batched torch envs: state layout, reset and autoreset, randomised parameters,
state_dict (see the package's docstring for the contract)."""

from __future__ import annotations

import dataclasses
import math
from typing import Any, ClassVar

import gymnasium as gym
import torch
from gymnasium.vector import AutoresetMode
from gymnasium.vector.utils import batch_space

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
    def episode_steps(self) -> torch.Tensor:
        """Each env's steps in its current episode [E] (0 at an episode's first step)."""
        return self._steps

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
    for name, value in params.items():
        if name not in cls.default_params:
            raise ConfigError(
                "env.kwargs",
                f"{cls.env_id} (env.backend=torch) has no parameter {name!r}; allowed: {allowed}",
            )
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise ConfigError(f"env.kwargs.{name}", f"must be a finite number, got {value!r}")
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
