"""TensorBoard scalars, the HParams summary, a console progress bar and the run's console lines
(rlrun.rundir keeps them in the run dir's train.log as well)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
from tensorboard.compat.proto.summary_pb2 import Summary
from torch.utils.tensorboard import SummaryWriter
from torch.utils.tensorboard.summary import hparams as hparams_summary
from tqdm import tqdm

from rlrun.rundir import console

TB_DIR = "tb"


def flatten(tree: dict[str, Any], prefix: str = "") -> dict[str, int | float | str | bool]:
    """A nested config as {"algo.lr": 0.001, ...}, with values TensorBoard's HParams accepts."""
    flat: dict[str, int | float | str | bool] = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            flat.update(flatten(value, name + "."))
        elif isinstance(value, int | float | str | bool):
            flat[name] = value
        else:  # None, lists, empty dicts
            flat[name] = str(value)
    return flat


class Logger:
    """One run's logs. The x axis of every curve is environment steps (iterations for vi and pi).

    The console shows a progress bar (`progress`: the caller turns it off when the output is not a
    terminal, under a sweep launcher, or with progress=false); without it, each evaluation prints
    a line. `unit` counts the x axis ("step", or "sweep" / "iteration" for vi and pi, whose end is
    convergence: then `total_steps` is None and the bar shows no fraction or ETA). `job` names a
    sweep's job in its lines."""

    def __init__(
        self,
        run_dir: Path,
        total_steps: int | None,
        start_step: int = 0,
        progress: bool = True,
        unit: str = "step",
        job: str | None = None,
    ):
        self.run_dir = Path(run_dir)
        # A resumed run drops events logged after its checkpoint (step > start_step): it writes them again.
        self.writer = SummaryWriter(
            str(self.run_dir / TB_DIR), purge_step=start_step + 1 if start_step else None
        )
        self.unit, self.show_bar = unit, progress
        self.job = f" (job {job})" if job else ""
        steps = unit == "step"
        self.bar = tqdm(
            total=total_steps, initial=start_step, unit=unit if steps else f" {unit}s",
            unit_scale=steps, dynamic_ncols=True, disable=not progress, mininterval=1.0,
        )  # fmt: skip
        self.last_return = math.nan

    def scalars(self, values: dict[str, float], step: int) -> None:
        """Several scalars at one step, as one event: the same records as add_scalar's (a
        simple_value per tag), at a seventh of the cost for ten (measured here: add_scalar takes
        120 us each, a tenth of a PPO iteration's time for its metrics and episodes)."""
        values = [Summary.Value(tag=tag, simple_value=float(value)) for tag, value in values.items()]
        self.writer.file_writer.add_summary(Summary(value=values), step)

    def image(self, tag: str, image: np.ndarray, step: int) -> None:
        """An HWC uint8 image (the Images tab)."""
        self.writer.add_image(tag, image, step, dataformats="HWC")

    def episodes(self, finished: list[tuple[float, int]], step: int) -> None:
        for ret, length in finished:
            self.scalars({"charts/episodic_return": ret, "charts/episodic_length": length}, step)
        if finished:
            self.last_return = sum(r for r, _ in finished) / len(finished)

    def progress(
        self, step: int, sps: float, eval_mean: float | None = None, fields: dict[str, str] | None = None
    ) -> None:
        """Move the bar to `step`; `fields`: the algorithm's own (vi: residual, states reached)."""
        if self.bar.total is not None and step > self.bar.total:  # total_steps rounded up to whole iterations
            self.bar.total = step
        self.bar.update(step - self.bar.n)
        postfix = dict(fields or {})
        if math.isfinite(self.last_return):  # no training episodes (vi, pi): no return to show
            postfix["return"] = f"{self.last_return:.1f}"
        if self.unit == "step":
            postfix["sps"] = f"{sps:.0f}"
        if eval_mean is not None:
            postfix["eval"] = f"{eval_mean:.1f}"
        self.bar.set_postfix(postfix, refresh=False)

    def evaluation(self, step: int, mean: float, std: float) -> None:
        """An evaluation during training: on the bar, or as a line where there is none."""
        if not self.show_bar:
            self.message(f"rlrun: {self.unit} {step}{self.job}: evaluation return {mean:.2f} +- {std:.2f}")

    def message(self, text: str) -> None:
        """A console line, also kept in train.log; the bar is cleared around it."""
        with self.bar.external_write_mode():
            console(text, self.run_dir)

    def hparams(self, config: dict[str, Any], metrics: dict[str, float], step: int) -> None:
        """The flattened config and final metrics, in this run's own event file (HParams tab)."""
        experiment, session_start, session_end = hparams_summary(flatten(config), metrics)
        for summary in (experiment, session_start, session_end):
            self.writer.file_writer.add_summary(summary)
        self.scalars(metrics, step)

    def flush(self) -> None:
        self.writer.flush()

    def close(self) -> None:
        self.bar.close()
        self.writer.flush()
        self.writer.close()
