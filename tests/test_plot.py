"""rlrun plot: curves read back from real event files, grouped, averaged, banded, drawn to a PNG."""

import csv
import re

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


# ---------------------------------------------------------------------------- real folders, readable


def fake_run(run_dir, env: str, env_id: str, overrides: list[str], returns: list[float], every: int = 2500):
    """A run dir as rlrun train leaves it, as far as plotting reads it: Hydra's three files and an
    event file with eval/return_mean at every `every` steps."""
    from omegaconf import OmegaConf
    from torch.utils.tensorboard import SummaryWriter

    hydra_dir = run_dir / ".hydra"
    hydra_dir.mkdir(parents=True)
    OmegaConf.save({"algo": {"name": "ppo"}, "env": {"id": env_id}, "seed": 0}, hydra_dir / "config.yaml")
    OmegaConf.save({"hydra": {"runtime": {"choices": {"algo": "ppo", "env": env}}}}, hydra_dir / "hydra.yaml")
    OmegaConf.save(overrides, hydra_dir / "overrides.yaml")
    writer = SummaryWriter(str(run_dir / "tb"))
    for i, value in enumerate(returns):
        writer.add_scalar("eval/return_mean", value, (i + 1) * every)
    writer.close()


@pytest.fixture
def outputs(workdir):
    """outputs/ after an Optuna search on CartPole (one run per trial, 16-digit samples in long dir
    names), a Pendulum sweep over seeds, and a run that was evaluated once."""
    rng = np.random.default_rng(0)
    root = workdir / "outputs"
    for trial in range(6):
        lr, lam, clip = 10 ** rng.uniform(-4, -2), rng.uniform(0.8, 0.99), [0.1, 0.2, 0.3][trial % 3]
        overrides = [
            f"algo.lr={lr!r}", f"algo.gae_lambda={lam!r}", f"algo.K={[5, 10, 20][trial % 3]}",
            f"algo.clip={clip}", "algo.ent_coef=0.0", "hparams_search=ppo_CartPole", "total_steps=50000",
        ]  # fmt: skip
        curve = list(np.minimum(500, np.cumsum(rng.uniform(10, 120, 20))))
        fake_run(
            root / "multirun" / "optuna" / ",".join(overrides), "CartPole", "CartPole-v1", overrides, curve
        )
    for seed in range(3):
        overrides = ["env=Pendulum", f"seed={seed}"]
        curve = list(-1500 + np.cumsum(rng.uniform(0, 60, 12)))
        fake_run(root / "multirun" / "pendulum" / f"seed={seed}", "Pendulum", "Pendulum-v1", overrides, curve)
    fake_run(root / "once", "Acrobot", "Acrobot-v1", ["env=Acrobot", "total_steps=2500"], [-120.0])
    return root


def figure_of(monkeypatch, *args):
    """The figure `rlrun plot ARGS` draws and saves, kept open to be inspected."""
    import matplotlib.pyplot as plt

    from rlrun.cli import main

    figures = []
    monkeypatch.setattr(plt, "close", figures.append)
    assert main(["plot", *map(str, args)]) == 0
    assert len(figures) == 1
    return figures[0]


def test_plot_of_outputs_has_one_panel_per_env_and_every_label_inside_the_canvas(outputs, monkeypatch):
    fig = figure_of(monkeypatch, outputs, "out=" + str(outputs / "all.png"))
    panels = {ax.get_title().split(" ")[0]: ax for ax in fig.axes if ax.get_visible()}
    assert set(panels) == {"Acrobot-v1", "CartPole-v1", "Pendulum-v1"}
    # each env on its own scale: CartPole's 0..500 is not squeezed against Pendulum's -1500
    assert panels["CartPole-v1"].get_ylim()[0] > -100 and panels["Pendulum-v1"].get_ylim()[1] < -700

    renderer = fig.canvas.get_renderer()
    canvas = fig.bbox

    def inside(box) -> bool:
        return (
            canvas.x0 - 1 <= box.x0
            and box.x1 <= canvas.x1 + 1
            and canvas.y0 - 1 <= box.y0 <= box.y1 <= canvas.y1 + 1
        )

    legends = [ax.get_legend() for ax in panels.values()]
    drawn = [fig._suptitle, *legends]
    for ax in panels.values():
        drawn += [ax.title, ax.xaxis.label, ax.yaxis.label]
        (x0, x1), (y0, y1) = sorted(ax.get_xlim()), sorted(ax.get_ylim())
        drawn += [t for t in ax.get_xticklabels() if x0 <= t.get_position()[0] <= x1]  # ticks in view
        drawn += [t for t in ax.get_yticklabels() if y0 <= t.get_position()[1] <= y1]
        assert inside(ax.get_tightbbox(renderer)), ax.get_title()  # everything the axes draws
    assert len(drawn) > 30
    for artist in drawn:
        assert inside(artist.get_window_extent(renderer)), getattr(artist, "get_text", lambda: "legend")()
    # the legend stays off the data: below its axes
    for legend in legends:
        assert legend.get_window_extent(renderer).y1 < legend.axes.get_window_extent(renderer).y0

    # labels name what differs between the trials, numbers to 3 digits; what they share is in the title
    cartpole = panels["CartPole-v1"]
    labels = [t.get_text() for t in cartpole.get_legend().get_texts()]
    assert len(labels) == 6
    for label in labels:
        assert label.startswith("K=") and "lr=" in label and "hparams_search" not in label, label
        for value in re.findall(r"=([0-9.e-]+)", label):  # 3 significant digits, not Optuna's 16
            assert float(value) == float(f"{float(value):.3g}"), label
    assert "total_steps=50000" in cartpole.get_title() and "ent_coef=0" in cartpole.get_title()
    assert "eval/return_mean" in fig.get_suptitle() and "95% bootstrap CI" in fig.get_suptitle()

    # few points: a marker on each; one evaluation: a point with its band, not nothing
    assert all(line.get_marker() == "o" for line in cartpole.get_lines())
    once = panels["Acrobot-v1"]
    points = [line for line in once.get_lines() if line.get_marker() == "o"]
    assert (
        len(points) == 1 and list(points[0].get_xdata()) == [2500] and list(points[0].get_ydata()) == [-120.0]
    )


def test_plot_in_one_panel_and_by_a_key(outputs, monkeypatch):
    fig = figure_of(
        monkeypatch, outputs / "multirun", "panel=none", "group=env", "out=" + str(outputs / "one.png")
    )
    axes = [ax for ax in fig.axes if ax.get_visible()]
    assert len(axes) == 1
    assert sorted(t.get_text() for t in axes[0].get_legend().get_texts()) == [
        "env=CartPole-v1\u00a0(6)", "env=Pendulum-v1\u00a0(3)"
    ]  # fmt: skip
