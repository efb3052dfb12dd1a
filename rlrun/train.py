"""The Hydra task: the composed config is checked, then handed to the runner as dataclasses.

Hydra appears only here. The runner (and torch, which takes seconds to import) is loaded after
the config has been checked, so a mistake is reported at once.
"""

from __future__ import annotations

import sys
import traceback
from pathlib import Path

import hydra
from omegaconf import DictConfig

from rlrun.config import parse_config, register_configs
from rlrun.errors import Interrupted, describe_error
from rlrun.rundir import ERROR_FILE, append_log
from rlrun.tuned import check_tuned_choice

register_configs()

# The CLI sets this list for a single run: the task's error is kept here and reported by the CLI in
# one line, instead of Hydra's job runner printing its own report first. Sweeps leave it None, so
# Hydra marks the job failed, runs the others, and exits non-zero.
captured_errors: list[Exception] | None = None


def tuned_options() -> list[str]:
    """The options of the `tuned` group in every config source (rlrun's, a --config-dir's)."""
    from hydra.core.global_hydra import GlobalHydra

    return GlobalHydra.instance().config_loader().get_group_options("tuned")


@hydra.main(config_path="pkg://rlrun.conf", config_name="config", version_base="1.3")
def main(cfg: DictConfig) -> float | None:
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    hydra_cfg = HydraConfig.get()
    run_dir = Path(hydra_cfg.runtime.output_dir)
    (run_dir / ERROR_FILE).unlink(missing_ok=True)
    multirun = hydra_cfg.mode == RunMode.MULTIRUN
    try:
        check_tuned_choice(hydra_cfg.runtime.choices, tuned_options())
        run = parse_config(cfg)
        from rlrun.runner import train

        # a bar only on a terminal, and not in a sweep, whose jobs' bars would garble each other
        progress = run.progress and not multirun and sys.stdout.isatty() and sys.stderr.isatty()
        name = hydra_cfg.job.override_dirname or "(no overrides)"
        job = f"{hydra_cfg.job.num}: {name}" if multirun else None
        return train(run, run_dir, progress=progress, job=job)
    except Interrupted as err:
        if HydraConfig.get().mode == RunMode.MULTIRUN:
            sweep_dir = HydraConfig.get().sweep.dir
            hint = f"sweep stopped; to finish it, run the same command with hydra.sweep.dir={sweep_dir}"
            err.args = (f"{err}\nrlrun: {hint}",)
        raise
    except Exception as err:
        # the error stays with the run (in a sweep, each job's own dir): one line, then the traceback
        trace = "".join(traceback.format_exception(err))
        (run_dir / ERROR_FILE).write_text(f"{describe_error(err)}\n\n{trace}")
        append_log(run_dir, f"rlrun: error: {describe_error(err)}")
        if captured_errors is None:
            raise
        captured_errors.append(err)
        return None
