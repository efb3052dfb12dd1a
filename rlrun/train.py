"""The Hydra task: the composed config is checked, the run dir locked, then the runner trains.

Hydra appears only here and in rlrun.config. A single run's config files (.hydra/) are written by
the task itself once every check has passed (the CLI sets hydra.output_subdir=null), so a refused
run leaves an existing run dir as it was and takes away a dir it made; a sweep job's are written
by Hydra, and a sweep job that fails keeps its error in error.txt.
"""

from __future__ import annotations

import os
import shutil
import signal
import sys
import threading
import time
import traceback
from pathlib import Path
from typing import Any

import hydra
from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

from rlrun import rundir
from rlrun.config import describe_error, parse_config, register_configs
from rlrun.errors import ConfigError, Interrupted
from rlrun.stops import LAUNCHER_PID, sweep_hint
from rlrun.tuned import check_tuned_choice

register_configs()

# The CLI sets this list for a single run: the task's error is kept here and reported by the CLI in
# one line, instead of Hydra's job runner printing its own report first. Sweeps leave it None, so
# Hydra marks the job failed, runs the others, and exits non-zero.
captured_errors: list[Exception] | None = None
# the single run's dir (the CLI's closing line after a signal says what it kept)
current_run_dir: Path | None = None


@hydra.main(config_path="pkg://rlrun.conf", config_name="config", version_base="1.3")
def main(cfg: DictConfig) -> float | None:
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    global current_run_dir
    hydra_cfg = HydraConfig.get()
    run_dir = Path(hydra_cfg.runtime.output_dir)
    multirun = hydra_cfg.mode == RunMode.MULTIRUN
    current_run_dir = run_dir
    in_worker = multirun and os.environ.get(LAUNCHER_PID, str(os.getpid())) != str(os.getpid())
    if in_worker:
        watch_launcher()

    def on_start() -> None:
        """Every check has passed: the run's config files, and no stale error."""
        (run_dir / rundir.ERROR_FILE).unlink(missing_ok=True)
        if hydra_cfg.output_subdir is None:
            hydra_dir = run_dir / ".hydra"
            hydra_dir.mkdir(exist_ok=True)
            rundir.write_atomic(hydra_dir / "config.yaml", OmegaConf.to_yaml(cfg))
            rundir.write_atomic(hydra_dir / "hydra.yaml", OmegaConf.to_yaml(HydraConfig.instance().cfg))
            rundir.write_atomic(hydra_dir / "overrides.yaml", OmegaConf.to_yaml(hydra_cfg.overrides.task))

    try:
        check_tuned_choice(hydra_cfg.runtime.choices, tuned_options())
        run = parse_config(cfg)
        from rlrun.runner import train

        # a bar only on a terminal, and not in a sweep, whose jobs' bars would garble each other
        progress = run.progress and not multirun and sys.stdout.isatty() and sys.stderr.isatty()
        name = hydra_cfg.job.override_dirname or "(no overrides)"
        job = f"{hydra_cfg.job.num}: {name}" if multirun else None
        key = "hydra.sweep.dir" if multirun else "resume" if run.resume else "hydra.run.dir"
        with rundir.locked(run_dir, key):
            return train(run, run_dir, progress=progress, job=job, on_start=on_start)
    except Interrupted as err:
        if multirun:
            err.args = (f"{err}\nrlrun: sweep stopped; {sweep_hint(hydra_cfg.sweep.dir)}",)
            if in_worker:  # a launcher's worker: say so here, and end the process (the launcher waits)
                print(f"rlrun: {err}", file=sys.stderr, flush=True)
                os._exit(130)
        raise
    except Exception as err:
        if multirun and not isinstance(err, rundir.InUseError):
            keep_error(run_dir, err)  # the job's error stays in its own dir (not in one another holds)
        elif not multirun and (run_dir / rundir.CHECKPOINT).exists() and not isinstance(err, ConfigError):
            keep_error(run_dir, err)  # a run that trained and then failed
        elif not multirun:
            remove_if_new(run_dir)
        if captured_errors is None:
            raise
        captured_errors.append(err)
        return None


def tuned_options() -> list[str]:
    """The options of the `tuned` group in every config source (rlrun's, a --config-dir's)."""
    from hydra.core.global_hydra import GlobalHydra

    return GlobalHydra.instance().config_loader().get_group_options("tuned")


def keep_error(run_dir: Path, err: Exception) -> None:
    """error.txt: one line, then the traceback (skipped if even that cannot be written), and the
    line in train.log."""
    trace = "".join(traceback.format_exception(err))
    try:
        rundir.write_atomic(run_dir / rundir.ERROR_FILE, f"{describe_error(err)}\n\n{trace}")
        rundir.append_log(run_dir, f"rlrun: error: {describe_error(err)}")
    except OSError:
        pass


def remove_if_new(run_dir: Path) -> None:
    """A dir this process made for a run that never started holds nothing worth keeping (nor do the
    parents it made for it, once empty)."""
    run_dir = run_dir.resolve()
    if run_dir in rundir.new_dirs and not (run_dir / rundir.CHECKPOINT).exists():
        shutil.rmtree(run_dir, ignore_errors=True)
        for parent in run_dir.parents:
            if parent not in rundir.new_dirs or not parent.is_dir() or any(parent.iterdir()):
                break
            parent.rmdir()


# ---------------------------------------------------------------------------- sweeps


class SweepDir(Callback):
    """A Hydra callback (conf/config.yaml) that keeps the sweep's dir in the launching process, for
    the line that says how to finish a stopped sweep."""

    path: str | None = None

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        SweepDir.path = str(config.hydra.sweep.dir)


_watching = False


def watch_launcher(period_s: float = 0.5) -> None:
    """In a launcher's worker process (joblib, submitit): stop this job, with a checkpoint, as soon
    as the launcher is gone, so that a killed sweep leaves no worker training on its own."""
    global _watching
    if _watching:
        return
    _watching = True
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(period_s)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, name="rlrun-launcher-watch", daemon=True).start()
