"""A run dir's own rules (no torch here, so the Hydra task and `rlrun summarize` stay quick to load):
its default name, unique per process; one writer at a time (a lock the OS drops when the process
dies); summary.json and error.txt, written atomically; the checks commands make before they read
a run dir."""

from __future__ import annotations

import contextlib
import fcntl
import itertools
import json
import os
import re
import tempfile
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

from rlrun.errors import ConfigError

SUMMARY = "summary.json"
ERROR_FILE = "error.txt"  # a failed run's error, kept in its dir
LOG_FILE = "train.log"  # the run's console lines, with their times
PID_FILE = ".lock"  # the pid of the process that trains in the dir (the lock is on the dir itself)
CONFIG = Path(".hydra") / "config.yaml"
CHECKPOINT = "checkpoint.pt"

# dirs this process made for its own run (removed again if the run is refused before it starts)
new_dirs: set[Path] = set()
_reserved: dict[str, str] = {}


def run_name(algo: str, env_id: str, seed: Any) -> str:
    """The readable part of a default run dir's name: ppo-CartPole-s0 (the env id without its
    namespace, module or version)."""
    env = re.sub(r"-v\d+$", "", re.split(r"[/:]", str(env_id))[-1]) or "env"
    return f"{algo}-{env}-s{seed}"


def reserve_new_dir(base: str) -> str:
    """`base`, or `base-2`, `base-3`...: the first that did not exist, made now, so that runs started
    in the same second never share a dir. The same base gives the same dir within a process."""
    if base not in _reserved:
        path = Path(base)
        missing = [p for p in path.parents if not p.exists()]
        path.parent.mkdir(parents=True, exist_ok=True)
        new_dirs.update(p.resolve() for p in missing)
        for n in itertools.count(1):
            candidate = path if n == 1 else path.with_name(f"{path.name}-{n}")
            try:
                candidate.mkdir()
            except FileExistsError:
                continue
            new_dirs.add(candidate.resolve())
            _reserved[base] = str(candidate)
            break
    return _reserved[base]


# ---------------------------------------------------------------------------- one writer


class InUseError(ConfigError):
    """Another process holds the run dir."""


@contextlib.contextmanager
def locked(run_dir: Path, key: str = "hydra.run.dir") -> Iterator[None]:
    """Hold run_dir for this process: a second writer is refused (ConfigError naming the holder's
    pid). The lock is an flock on the dir itself, so the OS releases it when the process dies."""
    fd = os.open(run_dir, os.O_RDONLY | os.O_DIRECTORY)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            message = f"{run_dir} is in use by rlrun process {holder(run_dir)}; wait for it or stop it"
            raise InUseError(key, message) from None
        pid_file = Path(run_dir) / PID_FILE
        pid_file.write_text(f"{os.getpid()}\n")
        try:
            yield
        finally:
            pid_file.unlink(missing_ok=True)
    finally:
        os.close(fd)  # releases the flock


def holder(run_dir: Path) -> str:
    try:
        return (Path(run_dir) / PID_FILE).read_text().strip() or "unknown"
    except OSError:
        return "unknown"


# ---------------------------------------------------------------------------- files


def append_log(run_dir: Path | None, text: str) -> None:
    """Keep a console line in the run dir's train.log, with the time."""
    if run_dir is None or not Path(run_dir).is_dir():
        return
    with open(Path(run_dir) / LOG_FILE, "a") as f:
        f.write(f"[{datetime.now():%Y-%m-%d %H:%M:%S}] {text}\n")


def console(text: str, run_dir: Path | None = None) -> None:
    """A line for the user: on stdout, and in the run dir's train.log."""
    print(text, flush=True)
    append_log(run_dir, text)


def write_atomic(path: Path, text: str) -> Path:
    """Write through a temporary file and a rename: a reader sees the old file or the new one, and
    a failed write (a full disk) leaves no partial file behind."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    try:
        with open(tmp, "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as err:
        tmp.unlink(missing_ok=True)
        raise OSError(err.errno, f"cannot be written: {err.strerror}", str(path)) from None
    return path


def write_summary(run_dir: Path, summary: dict[str, Any]) -> Path:
    return write_atomic(Path(run_dir) / SUMMARY, json.dumps(summary, indent=2) + "\n")


def read_summary(run_dir: Path) -> dict[str, Any] | None:
    """The summary of a finished run, or None (no summary, or one that is not a summary)."""
    path = Path(run_dir) / SUMMARY
    try:
        summary = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    if not isinstance(summary, dict) or not isinstance(summary.get("env_steps"), int):
        return None
    if not isinstance(summary.get("eval_return_mean"), int | float):
        return None
    return summary


# ---------------------------------------------------------------------------- checks


def check_writable(run_dir: Path) -> None:
    """Fail before training, not at the first checkpoint, when the run dir cannot be written."""
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=run_dir):  # unnamed: nothing is left, even after a kill
            pass
    except OSError as err:
        raise ConfigError("hydra.run.dir", f"cannot write the run dir {run_dir}: {err.strerror}") from None


def check_new_run_dir(path: str, key: str = "hydra.run.dir") -> None:
    """A dir a run may be made in: nothing on its way is a file."""
    for parent in [Path(path), *Path(path).parents]:
        if parent.exists() and not parent.is_dir():
            raise ConfigError(key, f"{path}: {parent} is a file, not a folder")


def check_folder(run_dir: str | Path, key: str, expected: str) -> Path:
    """run_dir as a Path, or a ConfigError saying that it is a file or does not exist."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        what = "is a file" if run_dir.exists() else "does not exist"
        raise ConfigError(key, f"{run_dir} {what}; expected {expected}")
    return run_dir


def check_resume_dir(run_dir: str | Path) -> Path:
    """A run dir to continue: a folder with a checkpoint."""
    run_dir = Path(run_dir)
    if not run_dir.exists():
        raise ConfigError("resume", f"{run_dir} holds no {CHECKPOINT} to continue from: it does not exist")
    run_dir = check_folder(run_dir, "resume", "a run dir to continue")
    if not (run_dir / CHECKPOINT).is_file():
        raise ConfigError("resume", f"{run_dir} holds no {CHECKPOINT} to continue from")
    return run_dir


def check_run_dir(run_dir: str | Path, key: str = "RUN_DIR") -> Path:
    """A run dir with a config and a checkpoint, or a ConfigError saying what is missing."""
    run_dir = check_folder(run_dir, key, f"a run dir (with {CONFIG} and {CHECKPOINT})")
    if not (run_dir / CONFIG).is_file() or not (run_dir / CHECKPOINT).is_file():
        raise ConfigError(
            key, f"{run_dir} is not a finished or checkpointed run dir (needs {CONFIG} and {CHECKPOINT})"
        )
    return run_dir


def find_runs(root: Path) -> list[Path]:
    """Every run dir below root (a dir with Hydra's .hydra/config.yaml), root included."""
    return sorted(p.parent.parent for p in root.rglob(".hydra/config.yaml"))
