"""Playing a policy for a number of whole episodes, each in its own environment."""

from __future__ import annotations

from pathlib import Path

import gymnasium as gym
import numpy as np
import torch

from rlrun.algos.base import Policy
from rlrun.config import EnvConfig
from rlrun.envs import make_vector_env


class Evaluator:
    """Runs `episodes` environments side by side, one episode each, from the same seeds every
    time, so successive evaluations of a run differ only by the policy."""

    def __init__(self, env: EnvConfig, episodes: int, seed: int, video_dir: Path | None = None):
        wrap = None
        if video_dir is not None:

            def wrap(e: gym.Env) -> gym.Env:
                return gym.wrappers.RecordVideo(
                    e, str(video_dir), episode_trigger=lambda i: i == 0, name_prefix="eval"
                )

        self.envs = make_vector_env(env, episodes, wrap_first=wrap)
        self.episodes, self.seed = episodes, seed

    @torch.no_grad()
    def __call__(self, agent: Policy, device: torch.device, deterministic: bool = True) -> np.ndarray:
        """The undiscounted return of each episode."""
        agent.eval()
        returns = np.full(self.episodes, np.nan)
        obs, _ = self.envs.reset(seed=self.seed)
        while np.isnan(returns).any():
            action = agent.act(torch.as_tensor(obs, device=device), deterministic)
            obs, _, _, _, info = self.envs.step(agent.to_env(action))
            if "episode" in info:
                first = info["_episode"] & np.isnan(returns)
                returns[first] = info["episode"]["r"][first]
        return returns

    def close(self) -> None:
        self.envs.close()
