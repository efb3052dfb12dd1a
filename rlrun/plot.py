"""`rlrun plot DIRS...`: learning curves read back from the runs' TensorBoard event files, one mean
line and confidence band per group of runs (by default, the runs that differ only by seed), to a
PNG, with the numbers behind it in a CSV beside it."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from omegaconf import OmegaConf

from rlrun.errors import ConfigError
from rlrun.logger import TB_DIR
from rlrun.summarize import bootstrap_ci, find_runs


@dataclass
class Curve:
    label: str
    runs: int
    steps: np.ndarray
    mean: np.ndarray
    low: np.ndarray
    high: np.ndarray


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


def group_label(run_dir: Path, key: str | None) -> str:
    """The group a run belongs to: the value of `key` (a config group choice such as `algo`, or a
    config key such as `algo.lr`), or by default its overrides without the seed."""
    hydra_dir = run_dir / ".hydra"
    if key is None:
        overrides = [str(o) for o in OmegaConf.load(hydra_dir / "overrides.yaml")]
        return ",".join(o for o in overrides if not o.startswith("seed=")) or "(no overrides)"
    choices = OmegaConf.select(OmegaConf.load(hydra_dir / "hydra.yaml"), "hydra.runtime.choices") or {}
    if key in choices:
        return f"{key}={choices[key]}"
    value = OmegaConf.select(OmegaConf.load(hydra_dir / "config.yaml"), key, default="?")
    return f"{key}={value}"


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


def curves(dirs: list[str | Path], tag: str, group: str | None, smoothing: float, band: str) -> list[Curve]:
    runs = [run for d in dirs for run in (find_runs(Path(d)) if Path(d).is_dir() else [])]
    if not runs:
        names = ", ".join(map(str, dirs))
        raise ConfigError("DIRS", f"{names}: no run dirs (folders with .hydra/config.yaml)")
    groups: dict[str, list[tuple[np.ndarray, np.ndarray]]] = {}
    for run in runs:
        scalars = read_scalars(run, tag) if (run / TB_DIR).is_dir() else None
        if scalars is not None and len(scalars[0]):
            steps, values = scalars
            groups.setdefault(group_label(run, group), []).append((steps, smooth(values, smoothing)))
    if not groups:
        known = sorted({t for run in runs if (run / TB_DIR).is_dir() for t in scalar_tags(run)})
        raise ConfigError("tag", f"no run has {tag!r}; tags found: {', '.join(known) or '(none)'}")
    return [aggregate(label, series, band) for label, series in sorted(groups.items())]


def write_csv(path: Path, found: list[Curve]) -> None:
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["group", "runs", "step", "mean", "low", "high"])
        for c in found:
            for row in zip(c.steps, c.mean, c.low, c.high, strict=True):
                writer.writerow([c.label, c.runs, int(row[0]), *(float(v) for v in row[1:])])


def plot(
    dirs: list[str | Path],
    tag: str = "eval/return_mean",
    group: str | None = None,
    smoothing: float = 0.0,
    band: str = "ci",
    out: str | Path | None = None,
) -> Path:
    """Draw one mean line and band per group against environment steps; return the PNG's path."""
    if band not in ("ci", "std"):
        raise ConfigError("band", f"must be ci (95% bootstrap interval of the mean) or std, got {band!r}")
    if not 0 <= smoothing < 1:
        raise ConfigError("smooth", f"must be in [0, 1), got {smoothing}")
    found = curves(dirs, tag, group, smoothing, band)
    out = Path(out) if out else Path(dirs[0]) / f"plot_{tag.replace('/', '_')}.png"
    out.parent.mkdir(parents=True, exist_ok=True)

    import matplotlib

    matplotlib.use("Agg")  # files only, no display needed
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=120)
    for c in found:
        (line,) = ax.plot(c.steps, c.mean, label=f"{c.label} ({c.runs} run{'s' * (c.runs != 1)})")
        ax.fill_between(c.steps, c.low, c.high, color=line.get_color(), alpha=0.2, linewidth=0)
    ax.set_xlabel("environment steps (iterations for vi and pi)")
    ax.set_ylabel(tag)
    ax.set_title(f"{tag}: mean and {'95% bootstrap CI' if band == 'ci' else '1 std'} over runs")
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small")
    fig.tight_layout()
    fig.savefig(out)
    plt.close(fig)
    write_csv(out.with_suffix(".csv"), found)
    print(f"rlrun plot: {len(found)} group(s) of {tag} -> {out} (data: {out.with_suffix('.csv')})")
    return out
