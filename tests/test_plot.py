"""rlrun plot: curves read back from real event files, grouped, averaged, banded, drawn to a PNG."""

import csv

import numpy as np
import pytest
from conftest import rlrun
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from rlrun.plot import aggregate, smooth


def test_smoothing_is_tensorboards_debiased_moving_average():
    # weight 0.5: (0.5*1)/(1-0.5) = 1; (0.5*0.5 + 0.5*2)/(1-0.25) = 1.25/0.75
    assert smooth(np.array([1.0, 2.0]), 0.5) == pytest.approx([1.0, 1.25 / 0.75])
    assert list(smooth(np.array([3.0, 4.0]), 0.0)) == [3.0, 4.0]


def test_runs_logged_at_different_steps_are_interpolated_up_to_the_shortest():
    a = (np.array([0.0, 10.0, 20.0]), np.array([0.0, 10.0, 20.0]))
    b = (np.array([0.0, 5.0, 10.0]), np.array([2.0, 2.0, 2.0]))
    curve = aggregate("g", [a, b], band="std")
    assert list(curve.steps) == [0.0, 5.0, 10.0]  # b ends at 10
    assert curve.mean == pytest.approx([1.0, 3.5, 6.0])  # a at step 5 is 5 by interpolation
    assert curve.high - curve.mean == pytest.approx([1.0, 1.5, 4.0])


def eval_curve(run_dir):
    events = EventAccumulator(str(run_dir / "tb"))
    events.Reload()
    return {s.step: s.value for s in events.Scalars("eval/return_mean")}


def test_plot_a_sweep_one_band_per_group(workdir):
    sweep = workdir / "sweep"
    result = rlrun(
        "train", "-m", "algo.lr=0.001,0.003", "seed=0,1", "total_steps=1024", "eval.every=256",
        "eval.episodes=2", f"hydra.sweep.dir={sweep}", cwd=workdir,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr

    out = rlrun("plot", str(sweep), "band=std", "out=curves.png", cwd=workdir)
    assert out.returncode == 0, out.stderr
    png = (workdir / "curves.png").read_bytes()
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 10_000
    with open(workdir / "curves.csv") as f:
        rows = list(csv.DictReader(f))
    for lr in ("0.001", "0.003"):
        group = f"algo.lr={lr},total_steps=1024,eval.every=256,eval.episodes=2"
        seeds = [eval_curve(sweep / f"algo.lr={lr},eval.episodes=2,eval.every=256,seed={s},total_steps=1024")
                 for s in (0, 1)]  # fmt: skip
        plotted = [r for r in rows if r["group"] == group]
        assert [int(r["step"]) for r in plotted] == [256, 512, 768, 1024]
        for row in plotted:
            values = [curve[int(row["step"])] for curve in seeds]
            assert float(row["runs"]) == 2
            assert float(row["mean"]) == pytest.approx(np.mean(values), rel=1e-6)
            band = float(row["high"]) - float(row["mean"])
            assert band == pytest.approx(np.std(values), rel=1e-6, abs=1e-6)

    # grouped by algorithm: all four runs in one band; the default band is the bootstrap CI
    out = rlrun("plot", str(sweep), "group=algo", cwd=workdir)
    assert out.returncode == 0, out.stderr
    with open(sweep / "plot_eval_return_mean.csv") as f:
        rows = list(csv.DictReader(f))
    assert {r["group"] for r in rows} == {"algo=ppo"} and all(r["runs"] == "4" for r in rows)
    for row in rows:
        assert float(row["low"]) <= float(row["mean"]) <= float(row["high"])
