"""One vector-env interface for the collectors and the evaluator, whatever the backend: actions in,
observations, rewards, flags and episode statistics out, as tensors on the training device.

The torch-native envs (rlrun.envs.torch_envs) speak it already; a gymnasium vector env (SAME_STEP
autoreset, with RecordEpisodeStatistics) is seen through `GymnasiumTensorEnv`. `step` returns

    obs, reward [E] float32, terminated [E] bool, truncated [E] bool, info

with info["final_obs"] the observation each step ended in (the true final one where an episode
ended, the reset one having been returned as obs), info["_final_obs"] the envs whose episode
ended, and info["episode"] = {"r": return, "l": length} valid where info["_episode"] is set.
Every key is always there, so a caller never needs a host sync to learn which exist.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import gymnasium as gym
import numpy as np
import torch


class GymnasiumTensorEnv:
    def __init__(self, envs: gym.vector.VectorEnv, device: torch.device):
        self.envs, self.device = envs, device
        self.num_envs = envs.num_envs
        self.single_observation_space = envs.single_observation_space
        self.single_action_space = envs.single_action_space

    def tensor(self, array: Any) -> torch.Tensor:
        return torch.as_tensor(np.asarray(array), device=self.device)

    def reset(self, *, seed: int | None = None) -> tuple[torch.Tensor, dict]:
        obs, _ = self.envs.reset(seed=seed)
        return self.tensor(obs), {}

    def step(self, actions: torch.Tensor) -> tuple[torch.Tensor, ...]:
        obs, reward, terminated, truncated, info = self.envs.step(actions.cpu().numpy())
        ended = terminated | truncated
        obs_t, ended_t = self.tensor(obs), self.tensor(ended)
        if ended.any():  # (a numpy check: no device sync) most steps end no episode
            final_obs = np.array(obs, copy=True)
            for i in np.flatnonzero(ended):
                final_obs[i] = info["final_obs"][i]
            final_t, episode = self.tensor(final_obs), info["episode"]
            stats = {"r": self.tensor(episode["r"]).float(), "l": self.tensor(episode["l"]).long()}
        else:
            final_t, stats = obs_t, {"r": ended_t.float(), "l": ended_t.long()}  # zeros
        # the episodes the statistics report: those that ended, or (Atari) the whole games that did
        episodes_t = self.tensor(info["_episode"]) if "_episode" in info else ended_t
        info = {"final_obs": final_t, "_final_obs": ended_t, "episode": stats, "_episode": episodes_t}
        flags = self.tensor(terminated), self.tensor(truncated)
        return obs_t, self.tensor(reward).float(), *flags, info


def as_tensor_env(envs: Any, device: torch.device) -> Any:
    """The env itself if it speaks tensors, else a gymnasium vector env wrapped to."""
    return envs if getattr(envs.unwrapped, "is_tensor_env", False) else GymnasiumTensorEnv(envs, device)


def next_observations(obs: torch.Tensor, info: dict) -> torch.Tensor:
    """s' of each env's step: the true final observation where the episode ended, else obs."""
    ended = info["_final_obs"].view(-1, *[1] * (obs.dim() - 1))
    return torch.where(ended, info["final_obs"], obs)


class NormalizeReward:
    """gymnasium's vector NormalizeReward (SAME_STEP mode) for a tensor env: each reward divided by
    the running std of the discounted return, kept per env; statistics in float64 on the device."""

    is_tensor_env = True

    def __init__(self, envs: Any, gamma: float, epsilon: float = 1e-8, clip: float | None = None):
        self.envs, self.gamma, self.epsilon, self.clip = envs, gamma, epsilon, clip
        device = envs.device
        self.accumulated = torch.zeros(envs.num_envs, dtype=torch.float64, device=device)
        # gymnasium's RunningMeanStd's attributes and start (0, 1, 1e-4), so that code reading
        # `envs.return_rms.var` (the value-error check) works on either backend
        zero = torch.zeros((), dtype=torch.float64, device=device)
        self.return_rms = SimpleNamespace(mean=zero, var=zero + 1.0, count=zero + 1e-4)

    def __getattr__(self, name: str) -> Any:  # num_envs, spaces, device, close, ...
        if name == "envs":  # not set yet (unpickling): no recursion
            raise AttributeError(name)
        return getattr(self.envs, name)

    @property
    def unwrapped(self) -> Any:
        return self.envs.unwrapped

    def reset(self, **kwargs: Any) -> tuple[torch.Tensor, dict]:
        return self.envs.reset(**kwargs)

    def step(self, actions: torch.Tensor) -> tuple[torch.Tensor, ...]:
        obs, reward, terminated, truncated, info = self.envs.step(actions)
        self.accumulated = self.accumulated * self.gamma * (~terminated) + reward
        rms = self.return_rms
        mean, var, count = rms.mean, rms.var, rms.count
        batch_mean, batch_var, n = (
            self.accumulated.mean(),
            self.accumulated.var(unbiased=False),
            reward.numel(),
        )
        delta, total = batch_mean - mean, count + n
        var = (var * count + batch_var * n + delta**2 * count * n / total) / total
        self.return_rms = SimpleNamespace(mean=mean + delta * n / total, var=var, count=total)
        self.accumulated = torch.where(terminated | truncated, 0.0, self.accumulated)
        scaled = (reward / torch.sqrt(var + self.epsilon)).float()
        if self.clip is not None:
            scaled = scaled.clamp(-self.clip, self.clip)
        return obs, scaled, terminated, truncated, info
