"""Checkpoints: tensors and plain data only (numbers, strings, lists, tuples, dicts), written
atomically (a temporary file, flushed, then renamed over the old one) and read with
torch.load(weights_only=True), so that loading a run dir never runs code from it."""

from __future__ import annotations

import io
import os
import warnings
from pathlib import Path
from typing import Any

import torch

from rlrun.errors import ConfigError
from rlrun.rundir import CHECKPOINT

BEST = "best.pt"  # the policy of the best evaluation so far


def save_checkpoint(run_dir: Path, state: dict[str, Any], name: str = CHECKPOINT) -> Path:
    """Write state to run_dir/name. If the write fails (a full disk), the temporary file is removed,
    the previous checkpoint stays, and the OSError names the file and why."""
    path = Path(run_dir) / name
    tmp = path.with_name(path.name + ".tmp")
    buffer = io.BytesIO()
    torch.save(state, buffer)  # in memory first: a failed write is then an OSError that says why
    try:
        with open(tmp, "wb") as f:
            f.write(buffer.getbuffer())
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)  # atomic: a reader sees the old checkpoint or the new one, never half
    except OSError as err:
        tmp.unlink(missing_ok=True)
        kept = "; the previous one is kept" if path.exists() else ""
        raise OSError(err.errno, f"cannot be written: {err.strerror}{kept}", str(path)) from None
    return path


def load_checkpoint(run_dir: Path, map_location: str | torch.device = "cpu", name: str = CHECKPOINT) -> dict:
    """The state saved in run_dir/name. Anything but tensors and plain data is refused unread (no
    code in the file runs); a file that is truncated or not ours is a ConfigError too."""
    path = Path(run_dir) / name
    try:
        with warnings.catch_warnings():  # (a foreign pickle protocol warns before it is refused)
            warnings.simplefilter("ignore")
            state = torch.load(path, map_location=map_location, weights_only=True)
    except FileNotFoundError:
        raise ConfigError(str(path), "does not exist") from None
    except Exception as err:
        if "weights_only" in str(err).lower():
            raise ConfigError(
                str(path),
                "refused: it holds objects other than tensors and plain data; nothing in it was run",
            ) from None
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
