"""The Hydra task: the composed config is checked, then handed to the runner as dataclasses.

Hydra appears only here. The runner (and torch, which takes seconds to import) is loaded after
the config has been checked, so a mistake is reported at once.
"""

from __future__ import annotations

import traceback
from pathlib import Path

import hydra
from omegaconf import DictConfig

from rlrun.config import describe_error, parse_config, register_configs
from rlrun.errors import Interrupted
from rlrun.rundir import ERROR_FILE

register_configs()

# The CLI sets this list for a single run: the task's error is kept here and reported by the CLI in
# one line, instead of Hydra's job runner printing its own report first. Sweeps leave it None, so
# Hydra marks the job failed, runs the others, and exits non-zero.
captured_errors: list[Exception] | None = None


@hydra.main(config_path="pkg://rlrun.conf", config_name="config", version_base="1.3")
def main(cfg: DictConfig) -> float | None:
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    run_dir = Path(HydraConfig.get().runtime.output_dir)
    (run_dir / ERROR_FILE).unlink(missing_ok=True)
    try:
        run = parse_config(cfg)
        from rlrun.runner import train

        return train(run, run_dir)
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
        if captured_errors is None:
            raise
        captured_errors.append(err)
        return None
