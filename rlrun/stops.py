"""Stopping a `rlrun train` cleanly whenever a signal comes: inside the training loop at the end of
the iteration, with a checkpoint (StopFlag); outside it, a one-line report that says truthfully
what was kept (SignalCatcher). A launcher with worker processes passes SIGTERM on to the workers
that are training and waits for them; Linux's /proc tells which children hold a run dir's lock."""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

LAUNCHER_PID = "RLRUN_LAUNCHER_PID"  # set by the CLI; a launcher's worker process inherits it and watches it


class StopFlag:
    """The training loop's handler: set by SIGINT/SIGTERM, and the loop stops at the end of the
    current iteration; a second signal stops at once (the last checkpoint stays)."""

    def __init__(self) -> None:
        self.signum = 0
        self.previous: dict[int, Any] = {}

    def install(self) -> None:
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                self.previous[sig] = signal.signal(sig, self.handle)
            except ValueError:  # not the main thread (some launchers): keep default handling
                return

    def uninstall(self) -> None:
        for sig, handler in self.previous.items():
            signal.signal(sig, handler)

    def handle(self, signum: int, _frame: Any) -> None:
        if self.signum:
            raise KeyboardInterrupt
        self.signum = signum


class SignalCatcher(StopFlag):
    """SIGINT and SIGTERM outside the training loop (which installs its own StopFlag to stop with a
    checkpoint): a KeyboardInterrupt, reported in one line that says truthfully what is kept. A
    launcher with worker processes first passes SIGTERM on to them and waits until they have
    stopped with their checkpoints."""

    def __init__(self, forward_to_workers: bool):
        super().__init__()
        self.forward = forward_to_workers

    def handle(self, signum: int, _frame: Any) -> None:
        self.signum = signum
        if self.forward:
            stop_workers(signal.SIGTERM)
        raise KeyboardInterrupt

    def stopped_line(self, multirun: bool) -> str:
        name = signal.Signals(self.signum).name if self.signum else "an interrupt"
        if multirun:
            return f"sweep stopped by {name}; the jobs keep their last checkpoints; {sweep_hint()}"
        from rlrun import rundir

        train = sys.modules.get("rlrun.train")  # (not imported now: a signal may have cut its import)
        run_dir = train.current_run_dir if train is not None else None
        if run_dir is not None and (run_dir / rundir.CHECKPOINT).is_file():
            kept = f"the last checkpoint ({run_dir / rundir.CHECKPOINT}) and the logs are kept"
            return f"stopped by {name}; {kept}; continue with: rlrun train resume={run_dir}"
        if run_dir is not None:
            train.remove_if_new(run_dir)
        return f"stopped by {name} before the first checkpoint; nothing was saved"


def sweep_hint(sweep_dir: str | None = None) -> str:
    """How to finish a stopped sweep (its dir: the one given, or the one the launcher kept)."""
    if sweep_dir is None:
        train = sys.modules.get("rlrun.train")
        sweep_dir = train.SweepDir.path if train is not None else None
    if sweep_dir is None:
        return "nothing was started"
    return f"to finish it, run the same command with hydra.sweep.dir={sweep_dir}"


def stop_workers(signum: int, timeout_s: float = 120.0) -> None:
    """Send signum to this process's children that are training a job (those holding a run dir's
    lock) and wait until they have stopped, with their checkpoints."""
    training = [pid for pid in child_pids() if pid in lock_holders()]
    for pid in training:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signum)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and any(alive(pid) for pid in training):
        time.sleep(0.1)


def lock_holders() -> set[int]:
    """The processes that hold an flock (Linux's /proc/locks)."""
    try:
        lines = Path("/proc/locks").read_text().splitlines()
    except OSError:
        return set()
    return {
        int(fields[4])
        for fields in (line.split() for line in lines)
        if len(fields) > 4 and fields[1] == "FLOCK"
    }


def child_pids() -> list[int]:
    """The live children of this process (from /proc; Linux)."""
    me, found = os.getpid(), []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                if int(fields[1]) == me:
                    found.append(int(entry.name))
    return found


def alive(pid: int) -> bool:
    """Running (not exited, not a zombie waiting to be reaped)."""
    try:
        return (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False
