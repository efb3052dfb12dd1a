"""Making the vector env a run trains or evaluates on, from its env config: a torch-native batched
env on the run's device (env.backend=torch) or a gymnasium vector env, and the reward
normalisation wrapper of that backend."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
import torch

from rlrun.envs.gym import make_vector_env
from rlrun.envs.robustness import wrap_robustness
from rlrun.envs.tabular import tabular_model
from rlrun.envs.tensor_env import NormalizeReward
from rlrun.envs.torch_envs import make_tabular_sample_env, make_torch_env
from rlrun.errors import ConfigError
from rlrun.schema import TABULAR_ENVS, EnvConfig


def make_envs(
    env: EnvConfig,
    num_envs: int,
    device: torch.device,
    wrap_first: Any = None,
    backend: str | None = None,
    with_adr: bool = True,
    training: bool = True,
) -> Any:
    """The vector env of an env config, of its backend (or `backend`): a torch-native batched env
    on `device`, a gymnasium vector env, or (Atari, training) envpool's, seen as one. `wrap_first`
    (a video recorder) needs gymnasium. The case study's noise, latency and perturbations wrap a
    torch env; with_adr=False leaves ADR's parameters at their nominal values (evaluation).
    `training` false: as the env is scored (Atari: whole games, unclipped rewards, on gymnasium)."""
    chosen = backend or env.backend
    if chosen == "envpool" and training and wrap_first is None:
        from rlrun.envs.envpool_atari import EnvpoolAtari

        return EnvpoolAtari(env, num_envs, training=training)
    if chosen != "torch":  # gymnasium; also envpool runs' evaluation: seeded whole games, videos
        return make_vector_env(env, num_envs, env.vector, wrap_first=wrap_first, training=training)
    if env.id in TABULAR_ENVS:  # s' sampled from the model's P[s, a]; reward: R[s, a]
        if env.randomize:
            raise ConfigError("env.randomize", f"{env.id} is a tabular model: it has no physical parameters")
        return make_tabular_sample_env(tabular_model(env, device), num_envs, device, env.max_episode_steps)
    randomize = {name: tuple(bounds) for name, bounds in env.randomize.items()}
    envs = make_torch_env(
        env.id, num_envs, device, max_episode_steps=env.max_episode_steps, randomize=randomize, **env.kwargs
    )
    return wrap_robustness(envs, env, with_adr)


def normalize_reward(envs: Any, gamma: float, clip: float | None = None) -> Any:
    """Rewards divided by a running std of the discounted return: gymnasium's wrapper, or its
    tensor twin on the torch backend; then clipped to [-clip, clip] (None: not)."""
    if getattr(envs.unwrapped, "is_tensor_env", False):
        return NormalizeReward(envs, gamma=gamma, clip=clip)
    return ClippedNormalizeReward(envs, gamma=gamma, clip=clip)


class ClippedNormalizeReward(gym.wrappers.vector.NormalizeReward):
    """gymnasium's NormalizeReward, its output clipped to [-clip, clip] (as SB3's VecNormalize):
    one wrapper, so `return_rms` stays where the runner and the diagnostics read it."""

    def __init__(self, envs: gym.vector.VectorEnv, gamma: float, clip: float | None = None):
        super().__init__(envs, gamma=gamma)
        self.clip = clip

    def step(self, actions: Any) -> tuple[Any, ...]:
        obs, reward, terminated, truncated, info = super().step(actions)
        if self.clip is not None:
            reward = np.clip(reward, -self.clip, self.clip)
        return obs, reward, terminated, truncated, info
