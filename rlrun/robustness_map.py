"""Robustness maps: how each trained policy does across a grid of physical parameters.

Every cell of the grid, times `episodes`, plus the nominal dynamics, is one env of a single batched
torch env whose parameters are fixed per env: one evaluation loop plays every episode of a policy at
once. Writes robustness.csv (a row per run and cell) and robustness.png (a heatmap per run, or a
curve per run for a one-parameter grid); returns one row per run for the table: ADR entropy, mean
return over the grid, share of cells solved (mean return >= `solved`), return at nominal dynamics.
"""

from __future__ import annotations

import csv
import itertools
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from rlrun.envs.factory import make_envs
from rlrun.errors import ConfigError
from rlrun.schema import TORCH_ENV_IDS


@dataclass
class Grid:
    """Parameter name -> its values (linspace(start, stop, num) from `grid.NAME=start:stop:num`)."""

    axes: dict[str, list[float]]

    @classmethod
    def parse(cls, options: dict[str, str]) -> Grid:
        axes = {}
        for name, text in options.items():
            parts = text.split(":")
            try:
                start, stop, num = float(parts[0]), float(parts[1]), int(parts[2])
                assert len(parts) == 3 and num >= 1 and math.isfinite(start) and math.isfinite(stop)
            except (ValueError, IndexError, AssertionError):
                raise ConfigError(
                    f"grid.{name}", f"must be START:STOP:NUM (NUM >= 1 values), got {text!r}"
                ) from None
            axes[name] = np.linspace(start, stop, num).tolist()
        if not 1 <= len(axes) <= 2:
            raise ConfigError(
                "grid", f"give one or two parameters (grid.NAME=START:STOP:NUM), got {len(axes)}"
            )
        return cls(axes)

    def cells(self) -> list[tuple[float, ...]]:
        return list(itertools.product(*self.axes.values()))


@dataclass
class Policy:
    """A trained run to map: its name, env config, policy, ADR entropy (None without ADR), seed."""

    name: str
    env: Any
    policy: Any
    adr_entropy: float | None
    seed: int


def nominal(env: Any, names: list[str], defaults: dict[str, float]) -> tuple[float, ...]:
    """The run's own values of the grid's parameters (env.kwargs, or gymnasium's)."""
    return tuple(float(env.kwargs.get(name, defaults[name])) for name in names)


def grid_envs(run: Policy, grid: Grid, episodes: int, device: torch.device) -> tuple[Any, torch.Tensor]:
    """One batched env of the run's env config (no env.randomize, ADR at nominal), `episodes` envs per
    cell and then `episodes` at the nominal dynamics, reset, each with its cell's parameters; and the
    first obs."""
    if run.env.backend != "torch" or run.env.id not in TORCH_ENV_IDS:
        ids = ", ".join(TORCH_ENV_IDS)
        raise ConfigError("grid", f"needs runs on env.backend=torch ({ids}); {run.name} is not")
    names, cells, env = list(grid.axes), grid.cells(), run.env
    env.randomize = {}  # every cell is one fixed dynamics: the grid's values, the run's nominal elsewhere
    envs = make_envs(env, (len(cells) + 1) * episodes, device, with_adr=False)
    params = envs.unwrapped.params
    unknown = [name for name in names if name not in params]
    if unknown:
        envs.close()
        message = f"{env.id} has no parameter {unknown[0]!r}; allowed: {', '.join(params)}"
        raise ConfigError(f"grid.{unknown[0]}", message)
    values = torch.tensor([*cells, nominal(env, names, envs.unwrapped.default_params)], dtype=torch.float64)
    obs, _ = envs.reset(seed=run.seed + 30_000)
    for i, name in enumerate(names):  # set after reset's draw: fixed for the one episode each env plays
        params[name] = values[:, i].repeat_interleave(episodes).to(device, params[name].dtype)
    return envs, obs


@torch.no_grad()
def cell_returns(run: Policy, grid: Grid, episodes: int, device: torch.device) -> tuple[np.ndarray, float]:
    """Mean return of each cell (episodes each) and at the nominal dynamics, in one batched env."""
    envs, obs = grid_envs(run, grid, episodes, device)
    returns = torch.full((envs.num_envs,), torch.nan, dtype=torch.float64, device=device)
    run.policy.eval()
    while returns.isnan().any():
        action = run.policy.act(obs, True)
        obs, _, _, _, info = envs.step(run.policy.to_env(action))
        returns = torch.where(info["_episode"] & returns.isnan(), info["episode"]["r"].double(), returns)
    envs.close()
    means = returns.view(-1, episodes).mean(1).cpu().numpy()
    return means[:-1], float(means[-1])


def robustness_map(
    runs: list[Policy], grid: Grid, episodes: int, solved: float, out: Path, device: torch.device
) -> list[dict[str, Any]]:
    """Evaluate every run on the grid; write out/robustness.csv and out/robustness.png; the table."""
    out.mkdir(parents=True, exist_ok=True)
    names, cells = list(grid.axes), grid.cells()
    table, maps = [], {}
    with open(out / "robustness.csv", "w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(["run", *names, "return_mean"])
        for run in runs:
            means, at_nominal = cell_returns(run, grid, episodes, device)
            maps[run.name] = means
            for cell, mean in zip(cells, means, strict=True):
                writer.writerow([run.name, *(f"{v:.6g}" for v in cell), f"{mean:.6g}"])
            table.append(
                {
                    "run": run.name,
                    "adr_entropy": run.adr_entropy,
                    "grid_return_mean": float(means.mean()),
                    "solved_share": float((means >= solved).mean()),
                    "nominal_return": at_nominal,
                }
            )
    draw(maps, grid, out / "robustness.png", solved)
    return table


def draw(maps: dict[str, np.ndarray], grid: Grid, path: Path, solved: float) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names, axes_values = list(grid.axes), list(grid.axes.values())
    cols = min(3, len(maps))
    rows = -(-len(maps) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.4 * rows), squeeze=False)
    low = min(float(m.min()) for m in maps.values())
    high = max(float(m.max()) for m in maps.values())
    for ax, (name, means) in zip(axes.flat, maps.items(), strict=False):
        if len(names) == 1:
            ax.plot(axes_values[0], means, marker="o")
            ax.axhline(solved, color="grey", linestyle="--", linewidth=1)
            ax.set_ylabel("return")
        else:
            image = means.reshape(len(axes_values[0]), len(axes_values[1])).T  # rows: the second parameter
            extent = (*edges(axes_values[0]), *edges(axes_values[1]))
            shown = ax.imshow(image, origin="lower", aspect="auto", extent=extent, vmin=low, vmax=high)
            ax.set_ylabel(names[1])
        ax.set_xlabel(names[0])
        ax.set_title(Path(name.split(" #")[0]).name + name[len(name.split(" #")[0]) :], fontsize=9)
    for ax in list(axes.flat)[len(maps) :]:
        ax.axis("off")
    fig.subplots_adjust(hspace=0.45, wspace=0.3)  # room for each panel's labels and title
    if len(names) == 2:
        fig.colorbar(shown, ax=axes.ravel().tolist(), label="mean return")
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)


def edges(values: list[float]) -> tuple[float, float]:
    """The outer edges of cells centred on `values` (evenly spaced)."""
    half = (values[-1] - values[0]) / (len(values) - 1) / 2 if len(values) > 1 else 0.5
    return values[0] - half, values[-1] + half


def format_table(table: list[dict[str, Any]]) -> str:
    """One row per policy, as printed by rlrun eval."""
    width = max(len("run"), *(len(row["run"]) for row in table))
    lines = [f"{'run':<{width}}  {'adr_entropy':>11}  {'grid_return':>11}  {'solved':>6}  {'nominal':>8}"]
    for row in table:
        entropy = "-" if row["adr_entropy"] is None else f"{row['adr_entropy']:.3f}"
        lines.append(
            f"{row['run']:<{width}}  {entropy:>11}  {row['grid_return_mean']:>11.1f}  "
            f"{row['solved_share']:>6.0%}  {row['nominal_return']:>8.1f}"
        )
    return "\n".join(lines)
