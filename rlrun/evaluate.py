"""Playing a policy for a number of whole episodes, each in its own environment."""

from __future__ import annotations

from pathlib import Path

import gymnasium as gym
import numpy as np
import torch

from rlrun.algos.base import Policy
from rlrun.envs.factory import make_envs
from rlrun.envs.tensor_env import as_tensor_env
from rlrun.schema import EnvConfig


class Evaluator:
    """Runs `episodes` environments side by side, one episode each, from the same seeds every
    time, so successive evaluations of a run differ only by the policy."""

    def __init__(
        self, env: EnvConfig, episodes: int, seed: int, device: torch.device, video_dir: Path | None = None
    ):
        wrap = None
        if video_dir is not None:

            def wrap(e: gym.Env) -> gym.Env:
                return gym.wrappers.RecordVideo(
                    e, str(video_dir), episode_trigger=lambda i: i == 0, name_prefix="eval"
                )

        # a video is rendered by gymnasium; otherwise the training backend plays (with its physics
        # parameters, e.g. env.kwargs.length=0.8 to evaluate on shifted dynamics)
        backend = "gymnasium" if video_dir is not None else env.backend
        # ADR's parameters at their nominal values: an evaluation measures, it does not adapt ranges;
        # an Atari game as it is scored (whole games, unclipped rewards)
        self.envs = make_envs(
            env, episodes, device, wrap_first=wrap, backend=backend, with_adr=False, training=False
        )
        self.tensor_envs = as_tensor_env(self.envs, device)
        self.episodes, self.seed = episodes, seed

    @torch.no_grad()
    def __call__(self, agent: Policy, device: torch.device, deterministic: bool = True) -> np.ndarray:
        """The undiscounted return of each episode."""
        agent.eval()
        returns = torch.full((self.episodes,), torch.nan, dtype=torch.float64, device=device)
        obs, _ = self.tensor_envs.reset(seed=self.seed)
        while returns.isnan().any():
            action = agent.act(obs, deterministic)
            obs, _, _, _, info = self.tensor_envs.step(agent.to_env(action))
            first = info["_episode"] & returns.isnan()
            returns = torch.where(first, info["episode"]["r"].double(), returns)
        return returns.cpu().numpy()

    def close(self) -> None:
        self.envs.close()
