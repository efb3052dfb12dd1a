"""Checkpoints written atomically: to a temporary file, flushed, then renamed over the old one."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from rlrun.errors import ConfigError

CHECKPOINT = "checkpoint.pt"


def save_checkpoint(run_dir: Path, state: dict[str, Any]) -> Path:
    path = Path(run_dir) / CHECKPOINT
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        torch.save(state, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)  # atomic: a reader sees the old checkpoint or the new one, never half
    return path


def load_checkpoint(run_dir: Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """The state saved in run_dir; a file that is truncated or not ours is a ConfigError."""
    path = Path(run_dir) / CHECKPOINT
    try:
        state = torch.load(path, map_location=map_location, weights_only=False)
    except Exception:
        raise ConfigError(str(path), "cannot be read: truncated, or not a torch checkpoint") from None
    if not isinstance(state, dict) or "algo_name" not in state:
        raise ConfigError(str(path), "is not an rlrun checkpoint")
    return state


def check_matches(state: dict[str, Any], path: Path, algo: str, env_id: str) -> None:
    """Refuse to continue a checkpoint of another algorithm or environment."""
    saved_algo, saved_env = state["algo_name"], state["config"]["env"]["id"]
    if (saved_algo, saved_env) != (algo, env_id):
        raise ConfigError(
            str(path),
            f"holds a run of algo={saved_algo} on {saved_env}, not algo={algo} on {env_id}; "
            "resume it with its own config or choose another run dir",
        )
