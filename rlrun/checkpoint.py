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


class _RecordingFile(io.FileIO):
    """A file that keeps the OSError of a failed write: torch's writer turns it into a RuntimeError
    that no longer says why (a full disk, a file-size limit)."""

    error: OSError | None = None

    def write(self, data: Any) -> int:
        try:
            return super().write(data)
        except OSError as err:
            self.error = err
            raise


def save_checkpoint(run_dir: Path, state: dict[str, Any], name: str = CHECKPOINT) -> Path:
    """Write state to run_dir/name, streamed to a temporary file (a big replay store is not copied
    in memory first), then renamed over the old one. If the write fails, the temporary file is
    removed, the previous checkpoint stays, and the OSError names the file and why."""
    path = Path(run_dir) / name
    tmp = path.with_name(path.name + ".tmp")
    f: _RecordingFile | None = None
    try:
        with _RecordingFile(tmp, "wb") as f:
            torch.save(state, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)  # atomic: a reader sees the old checkpoint or the new one, never half
    except (OSError, RuntimeError) as err:
        tmp.unlink(missing_ok=True)
        cause = f.error if f is not None and f.error is not None else err
        if not isinstance(cause, OSError):
            raise
        kept = "; the previous one is kept" if path.exists() else ""
        raise OSError(cause.errno, f"cannot be written: {cause.strerror}{kept}", str(path)) from None
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
