"""What the runner's loop needs from an algorithm; the loop itself (evaluation schedule, logging,
checkpoints, signals, summary) lives once, in rlrun/runner.py.

Each algorithm module defines `SPEC` (rlrun.schema.AlgoSpec): its config class, its checks and
its builder `make(config, build) -> Algorithm`, where `build` holds what the runner made for it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch


class Policy(Protocol):
    """What evaluation plays: a batch of observations in, actions out."""

    def eval(self) -> Any: ...

    def act(self, obs: torch.Tensor, deterministic: bool = False) -> torch.Tensor: ...

    def to_env(self, action: torch.Tensor) -> torch.Tensor: ...

    def state_dict(self) -> dict[str, Any]: ...  # the policy's weights alone (best.pt)

    def load_state_dict(self, state: dict[str, Any]) -> None: ...


@dataclass
class Build:
    """What a builder gets besides its own config."""

    envs: Any  # the training vector env; None for the planners (vi, pi), which use the model
    device: torch.device
    total_steps: int
    seed: int
    # the env's tabular model (P, R), made on demand; None when the env has none
    tabular_model: Callable[[], Any] | None = None
    reward: Any = None  # the run's RewardConfig (rlrun.rewards.schema); ppo's RLHF case study


class Algorithm:
    iteration: int = 0  # iterations done
    env_steps: int = 0  # the x axis: environment steps (iterations for vi and pi)
    done: bool = False  # converged: the loop ends before total_steps
    progress_unit: str = "step"  # what the x axis counts, on the console ("sweep" for vi)

    def iterate(self) -> dict[str, float]:
        """One iteration of the lecture's loop; returns scalars to log (TensorBoard tags)."""
        raise NotImplementedError

    def policy(self) -> Policy:
        raise NotImplementedError

    def state_dict(self) -> dict[str, Any]:
        raise NotImplementedError

    def load_state_dict(self, state: dict[str, Any]) -> None:
        raise NotImplementedError

    def pop_episodes(self) -> list[tuple[float, int]]:
        """Training episodes finished since the last call: (undiscounted return, length)."""
        return []

    def restart_episodes(self) -> None:
        """After a resume whose environments could not be restored: start fresh episodes."""

    def pop_images(self) -> dict[str, np.ndarray]:
        """Images (HWC uint8 arrays) to log at this iteration, by TensorBoard tag."""
        return {}

    def evaluated(self, returns: np.ndarray) -> None:
        """The return of each episode of the evaluation just played (the last one feeds finish)."""

    def finish(self, run_dir: Path) -> dict[str, Any]:
        """At the end of training: write any extra outputs; return extra summary.json fields."""
        return {}

    def progress_fields(self) -> dict[str, str]:
        """What the progress bar shows of this algorithm's state, besides the step and the return."""
        return {}

    def outcome(self, summary: dict[str, Any], wall_s: float) -> str:
        """How the run ended, for the console's `done:` line (summary: summary.json's fields)."""
        return f"{self.env_steps} steps in {wall_s:.1f}s"
