"""`rlrun plot DIRS...`: learning curves read back from the runs' TensorBoard event files, one mean
line and confidence band per group of runs (by default, the runs that differ only by seed), one
panel per env (returns of different envs live on different scales), to a PNG, with the numbers
behind it in a CSV beside it.

Legends name each group by the settings that differ between the groups of its panel; the settings
they share go under the panel's title, so a sweep's long override names stay readable.
"""

from __future__ import annotations

import csv
import math
import textwrap
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from omegaconf import OmegaConf

from rlrun.algos import registry
from rlrun.errors import ConfigError
from rlrun.logger import TB_DIR
from rlrun.rundir import find_runs
from rlrun.stats import bootstrap_ci

# keys that do not change the experiment, where a run dir does not say (Hydra's exclude_keys do)
NOT_SETTINGS = ["device", "device.type", "device.threads", "checkpoint.every", "resume", "hparams_search"]
FEW_POINTS = 30  # curves with at most this many points get a marker on each


@dataclass
class Curve:
    label: str  # the group: its overrides without the seed (or KEY=value for group=KEY)
    runs: int
    steps: np.ndarray
    mean: np.ndarray
    low: np.ndarray
    high: np.ndarray
    panel: str = ""  # the env (or the panel key's value) its runs share
    settings: dict[str, str] = field(default_factory=dict)  # the group's overrides, by key
    tabular: bool = False  # vi or pi: the x axis counts iterations
    short: str = ""  # the legend's label: the settings that differ between the panel's groups


@dataclass
class RunInfo:
    """What grouping needs from a run dir's .hydra files."""

    config: Any
    choices: dict[str, str]
    overrides: list[str]
    excluded: list[str]  # keys left out of job dir names: they do not change the experiment

    @classmethod
    def read(cls, run_dir: Path) -> RunInfo:
        hydra_dir = run_dir / ".hydra"
        config = OmegaConf.load(hydra_dir / "config.yaml")
        hydra_file = hydra_dir / "hydra.yaml"
        hydra = OmegaConf.load(hydra_file) if hydra_file.is_file() else OmegaConf.create()
        choices = OmegaConf.select(hydra, "hydra.runtime.choices") or {}
        excluded = OmegaConf.select(hydra, "hydra.job.config.override_dirname.exclude_keys")
        overrides_file = hydra_dir / "overrides.yaml"
        overrides = [str(o) for o in OmegaConf.load(overrides_file)] if overrides_file.is_file() else []
        return cls(config, dict(choices), overrides, list(NOT_SETTINGS if excluded is None else excluded))

    def value(self, key: str) -> str:
        """The value of a config group choice (`algo`) or of a config key (`algo.lr`)."""
        if key == "env":  # the env's id tells env=gym runs apart
            return str(OmegaConf.select(self.config, "env.id", default=None) or self.choices.get("env", "?"))
        if key in self.choices:
            return str(self.choices[key])
        return str(OmegaConf.select(self.config, key, default="?"))

    def settings(self) -> dict[str, str]:
        """The overrides as {key: value}, without the seed and keys that do not change the
        experiment; the algorithm always (the panel's title or the legend names it)."""
        out = {"algo": self.value("algo")}
        for override in self.overrides:
            key, _, value = override.partition("=")
            key = key.lstrip("+")
            if key.lstrip("~") not in ("seed", *self.excluded) and not key.startswith("hydra."):
                out[key] = value
        return out


def read_scalars(run_dir: Path, tag: str) -> tuple[np.ndarray, np.ndarray] | None:
    """(steps, values) of one tag, read by TensorBoard's own reader; None if the run lacks it."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(run_dir / TB_DIR), size_guidance={"scalars": 0})
    events.Reload()
    if tag not in events.Tags()["scalars"]:
        return None
    scalars = events.Scalars(tag)
    return np.array([s.step for s in scalars], dtype=float), np.array([s.value for s in scalars])


def scalar_tags(run_dir: Path) -> list[str]:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(run_dir / TB_DIR), size_guidance={"scalars": 0})
    events.Reload()
    return sorted(events.Tags()["scalars"])


def smooth(values: np.ndarray, weight: float) -> np.ndarray:
    """TensorBoard's smoothing: an exponential moving average, debiased at the start."""
    if weight == 0 or len(values) == 0:
        return values
    out, running = np.empty_like(values), 0.0
    for i, value in enumerate(values):
        running = weight * running + (1 - weight) * value
        out[i] = running / (1 - weight ** (i + 1))
    return out


def group_label(run: RunInfo, key: str | None) -> str:
    """The group a run belongs to: the value of `key` (a config group choice such as `algo`, or a
    config key such as `algo.lr`), or by default its overrides without the seed."""
    if key is None:
        return ",".join(o for o in run.overrides if not o.startswith("seed=")) or "(no overrides)"
    return f"{key}={run.value(key)}"


def aggregate(label: str, series: list[tuple[np.ndarray, np.ndarray]], band: str) -> Curve:
    """Mean and band over runs, on the steps every run has reached (each run interpolated linearly
    onto the union of their logged steps, up to the shortest run's last step)."""
    last = min(steps[-1] for steps, _ in series)
    grid = np.unique(np.concatenate([steps[steps <= last] for steps, _ in series]))
    values = np.stack([np.interp(grid, steps, vals) for steps, vals in series])  # [runs, steps]
    mean = values.mean(axis=0)
    if band == "std":
        spread = values.std(axis=0)
        low, high = mean - spread, mean + spread
    else:  # the 95% bootstrap interval of the mean, as rlrun summarize reports it
        low, high = np.array([bootstrap_ci(list(column)) for column in values.T]).T
    return Curve(label, len(series), grid, mean, low, high)


def curves(
    dirs: list[str | Path],
    tag: str,
    group: str | None,
    smoothing: float,
    band: str,
    panel: str | None = "env",
) -> list[Curve]:
    """One curve per (panel, group) of the runs below `dirs`, each with its short legend label."""
    runs = [run for d in dirs for run in (find_runs(Path(d)) if Path(d).is_dir() else [])]
    if not runs:
        names = ", ".join(map(str, dirs))
        raise ConfigError("DIRS", f"{names}: no run dirs (folders with .hydra/config.yaml)")
    groups: dict[tuple[str, str], list[tuple[np.ndarray, np.ndarray]]] = {}
    about: dict[tuple[str, str], tuple[dict[str, str], bool]] = {}
    for run_dir in runs:
        scalars = read_scalars(run_dir, tag) if (run_dir / TB_DIR).is_dir() else None
        if scalars is None or not len(scalars[0]):
            continue
        run = RunInfo.read(run_dir)
        where = (run.value(panel) if panel else "", group_label(run, group))
        groups.setdefault(where, []).append((scalars[0], smooth(scalars[1], smoothing)))
        settings = {group: run.value(group)} if group else run.settings()
        if panel in settings:  # the panel's title names it
            del settings[panel]
        algo = registry().get(str(run.value("algo")))
        about[where] = (settings, algo is not None and algo.tabular)
    if not groups:
        known = sorted({t for run in runs if (run / TB_DIR).is_dir() for t in scalar_tags(run)})
        raise ConfigError("tag", f"no run has {tag!r}; tags found: {', '.join(known) or '(none)'}")
    found = []
    for (panel_value, label), series in sorted(groups.items()):
        curve = aggregate(label, series, band)
        curve.panel, (curve.settings, curve.tabular) = panel_value, about[(panel_value, label)]
        found.append(curve)
    for panel_value in {c.panel for c in found}:
        label_by_difference([c for c in found if c.panel == panel_value])
    return found


def label_by_difference(panel: list[Curve]) -> dict[str, str]:
    """Set each curve's short label to the settings that differ between the panel's groups; return
    the settings they all share."""
    keys = sorted({k for c in panel for k in c.settings})
    first = panel[0].settings
    shared = {k: first[k] for k in keys if all(c.settings.get(k) == first.get(k) for c in panel)}
    differ = [k for k in keys if k not in shared]
    names = short_names(differ)
    for c in panel:
        parts = [f"{names[k]}={short_value(c.settings[k])}" for k in differ if k in c.settings]
        c.short = ", ".join(parts) or "all runs"
    return shared


def short_names(keys: list[str]) -> dict[str, str]:
    """Algorithm keys without their `algo.` (algo.lr -> lr) where that is unambiguous."""
    tails = [k.removeprefix("algo.") for k in keys]
    return {k: (t if tails.count(t) == 1 else k) for k, t in zip(keys, tails, strict=True)}


def short_value(value: str) -> str:
    """Numbers to 3 significant digits (Optuna's samples have 16)."""
    try:
        number = float(value)
    except ValueError:
        return value
    if number.is_integer() and "e" not in value.lower() and "." not in value:
        return value
    return f"{number:.3g}"


def write_csv(path: Path, found: list[Curve]) -> None:
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["panel", "group", "label", "runs", "step", "mean", "low", "high"])
        for c in found:
            for step, *values in zip(c.steps, c.mean, c.low, c.high, strict=True):
                writer.writerow([c.panel, c.label, c.short, c.runs, int(step), *(float(v) for v in values)])


def plot(
    dirs: list[str | Path],
    tag: str = "eval/return_mean",
    group: str | None = None,
    smoothing: float = 0.0,
    band: str = "ci",
    out: str | Path | None = None,
    panel: str | None = "env",
) -> Path:
    """Draw one mean line and band per group against environment steps, one panel per value of
    `panel` (None or "none": one panel); return the PNG's path."""
    if band not in ("ci", "std"):
        raise ConfigError("band", f"must be ci (95% bootstrap interval of the mean) or std, got {band!r}")
    if not 0 <= smoothing < 1:
        raise ConfigError("smooth", f"must be in [0, 1), got {smoothing}")
    panel = None if panel in (None, "", "none") else panel
    found = curves(dirs, tag, group, smoothing, band, panel)
    out = Path(out) if out else Path(dirs[0]) / f"plot_{tag.replace('/', '_')}.png"
    out.parent.mkdir(parents=True, exist_ok=True)

    import matplotlib

    matplotlib.use("Agg")  # files only, no display needed
    import matplotlib.pyplot as plt

    fig = draw(found, tag, band, panel)
    fig.savefig(out)
    plt.close(fig)
    write_csv(out.with_suffix(".csv"), found)
    panels = len({c.panel for c in found})
    print(
        f"rlrun plot: {len(found)} group(s) of {tag} in {panels} panel(s) -> {out} "
        f"(data: {out.with_suffix('.csv')})"
    )
    return out


# ---------------------------------------------------------------------------- drawing

PANEL_WIDTH, AXES_HEIGHT = 5.2, 3.0  # inches
LEGEND_ROW, TITLE_LINE = 0.2, 0.2  # inches per legend row, per line of a panel's title
LABEL_CHARS = 56  # a legend label wraps after this many characters


def draw(found: list[Curve], tag: str, band: str, panel: str | None) -> Any:
    """The figure: a grid of panels (at most 3 a row), each with its legend below its axes, the
    figure's title saying what was plotted. Every text stays inside the canvas: the figure grows
    until it does."""
    import matplotlib.pyplot as plt

    panels = sorted({c.panel for c in found})
    ncols = min(len(panels), 3)
    nrows = math.ceil(len(panels) / ncols)
    colours = colour_by_label(found)
    content = [panel_content(p, [c for c in found if c.panel == p], panel) for p in panels]
    legend_rows = max(math.ceil(len(k["curves"]) / k["ncol"]) + k["extra_lines"] for k in content)
    title_lines = max(k["title"].count("\n") + 1 for k in content)
    height = nrows * (AXES_HEIGHT + legend_rows * LEGEND_ROW + title_lines * TITLE_LINE + 0.8) + 0.5
    fig, axes = plt.subplots(
        nrows, ncols, figsize=(PANEL_WIDTH * ncols, height), dpi=110, squeeze=False, layout="constrained"
    )
    what = "95% bootstrap CI of the mean" if band == "ci" else "1 std"
    fig.suptitle(f"{tag}: mean and {what} over the runs of each group", fontsize=11)
    for ax, item in zip(axes.flat, content, strict=False):
        draw_panel(ax, item, colours, tag)
    for ax in list(axes.flat)[len(content) :]:
        ax.set_visible(False)
    for _ in range(4):  # grow the canvas until every text fits (long labels, many groups)
        overflow = outside_canvas(fig)
        if overflow <= 0:
            break
        w, h = fig.get_size_inches()
        fig.set_size_inches(w, h + overflow / fig.dpi + 0.2)
    return fig


def colour_by_label(found: list[Curve]) -> dict[str, Any]:
    """One colour per legend label, the same in every panel (algo=ppo is blue everywhere)."""
    import matplotlib.pyplot as plt

    cycle = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    labels = sorted({c.short for c in found}, key=[c.short for c in found].index)
    if len(labels) > len(cycle):
        cmap = plt.get_cmap("turbo", len(labels))
        return {label: cmap(i) for i, label in enumerate(labels)}
    return {label: cycle[i] for i, label in enumerate(labels)}


def panel_content(name: str, panel: list[Curve], key: str | None) -> dict[str, Any]:
    """A panel's title (what its runs share) and its legend's layout."""
    shared = label_by_difference(panel)
    names = short_names(list(shared))
    common = ", ".join(f"{names[k]}={short_value(v)}" for k, v in shared.items())
    runs = sum(c.runs for c in panel)
    head = f"{key}={name}" if key and key != "env" else name or "all runs"
    title = f"{head} ({runs} run{'s' * (runs != 1)}, {len(panel)} group{'s' * (len(panel) != 1)})"
    if common:
        title += "\n" + textwrap.fill(common, 70)
    # a no-break space keeps the run count with the last setting when a label wraps
    labels = [textwrap.fill(f"{c.short}\u00a0({c.runs})", LABEL_CHARS) for c in panel]
    longest = max(max(len(line) for line in label.split("\n")) for label in labels)
    ncol = max(1, min(len(panel), 80 // (longest + 6)))
    extra = sum(label.count("\n") for label in labels)
    return {"title": title, "curves": panel, "labels": labels, "ncol": ncol, "extra_lines": extra}


def draw_panel(ax: Any, item: dict[str, Any], colours: dict[str, Any], tag: str) -> None:
    for curve, label in zip(item["curves"], item["labels"], strict=True):
        colour = colours[curve.short]
        if len(curve.steps) == 1:  # one evaluation: a point with its band as an error bar
            ax.errorbar(
                curve.steps, curve.mean, yerr=[curve.mean - curve.low, curve.high - curve.mean],
                fmt="o", color=colour, capsize=4, label=label,
            )  # fmt: skip
            continue
        marker = "o" if len(curve.steps) <= FEW_POINTS else None
        ax.plot(curve.steps, curve.mean, color=colour, marker=marker, markersize=3.5, label=label)
        ax.fill_between(curve.steps, curve.low, curve.high, color=colour, alpha=0.2, linewidth=0)
    tabular = {c.tabular for c in item["curves"]}
    ax.set_xlabel(
        "iterations" if tabular == {True} else "environment steps" if tabular == {False}
        else "environment steps (iterations for vi and pi)"
    )  # fmt: skip
    ax.set_ylabel(tag)
    ax.set_title(item["title"], fontsize=9)
    ax.grid(alpha=0.3)
    from matplotlib.transforms import offset_copy

    # below the axis label, however tall the axes end up
    below = offset_copy(ax.transAxes, fig=ax.figure, y=-34, units="points")
    ax.legend(
        loc="upper center", bbox_to_anchor=(0.5, 0.0), bbox_transform=below, ncol=item["ncol"],
        fontsize=8, frameon=False, title="group (runs)", title_fontsize=8,
    )  # fmt: skip


def outside_canvas(fig: Any) -> float:
    """How many pixels the figure's title and its axes (titles, labels, tick labels, legends: their
    tight boxes) reach beyond the canvas (<= 0: all inside)."""
    renderer = fig.canvas.get_renderer()
    fig.draw_without_rendering()
    boxes = [ax.get_tightbbox(renderer) for ax in fig.axes if ax.get_visible()]
    if fig.get_suptitle():
        boxes.append(fig._suptitle.get_window_extent(renderer))
    canvas = fig.bbox
    return max(
        max(canvas.y0 - box.y0, box.y1 - canvas.y1, canvas.x0 - box.x0, box.x1 - canvas.x1) for box in boxes
    )
