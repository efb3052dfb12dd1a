"""`rlrun summarize DIR`: one row per job of a sweep (or run), then one row per configuration over
its seeds (mean, interquartile mean, 95% bootstrap confidence interval); also written as CSV."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np

from rlrun.config import load_yaml
from rlrun.errors import ConfigError
from rlrun.rundir import ERROR_FILE, find_runs, read_summary
from rlrun.stats import bootstrap_ci, interquartile_mean


def job_row(run_dir: Path) -> dict:
    overrides = [str(o) for o in load_yaml(run_dir / ".hydra" / "overrides.yaml")]
    summary = read_summary(run_dir)
    status = "done" if summary else "failed" if (run_dir / ERROR_FILE).exists() else "unfinished"
    summary = summary or {}
    return {
        "run": str(run_dir),
        "overrides": ",".join(overrides),
        "config": ",".join(o for o in overrides if not o.startswith("seed=")),
        "seed": summary.get("seed", ""),
        "status": status,
        "env_steps": summary.get("env_steps", ""),
        "wall_s": summary.get("wall_s", ""),
        "eval_return_mean": summary.get("eval_return_mean", ""),
        "error": error_line(run_dir) if status == "failed" else "",
    }


def error_line(run_dir: Path) -> str:
    """The one-line message a failed run kept as the first line of its error file."""
    lines = (run_dir / ERROR_FILE).read_text().splitlines()
    return lines[0] if lines else ""


def group_rows(jobs: list[dict]) -> list[dict]:
    groups: dict[str, list[float]] = {}
    for job in jobs:
        if job["status"] == "done":
            groups.setdefault(job["config"], []).append(float(job["eval_return_mean"]))
    rows = []
    for config, returns in groups.items():
        low, high = bootstrap_ci(returns)
        rows.append({
            "config": config or "(no overrides)", "seeds": len(returns), "mean": float(np.mean(returns)),
            "iqm": interquartile_mean(returns), "ci95_low": low, "ci95_high": high,
        })  # fmt: skip
    return rows


def write_csv(path: Path, rows: list[dict]) -> None:
    if not rows:
        return
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def table(rows: list[dict], columns: list[str]) -> str:
    def cell(value: object) -> str:
        return f"{value:.2f}" if isinstance(value, float) and math.isfinite(value) else str(value)

    cells = [[cell(row[c]) for c in columns] for row in rows]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(columns)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True))]
    lines += ["  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)) for r in cells]
    return "\n".join(lines)


def summarize(root: str | Path) -> tuple[list[dict], list[dict]]:
    root = Path(root)
    runs = find_runs(root) if root.is_dir() else []
    if not runs:
        raise ConfigError("DIR", f"{root} holds no run dirs (folders with .hydra/config.yaml)")
    jobs = [job_row(r) for r in runs]
    groups = group_rows(jobs)
    columns = ["overrides", "status", "env_steps", "wall_s", "eval_return_mean"]
    print(table(jobs, columns + (["error"] if any(job["error"] for job in jobs) else [])))
    if groups:
        print()
        print(table(groups, ["config", "seeds", "mean", "iqm", "ci95_low", "ci95_high"]))
    write_csv(root / "summary_jobs.csv", jobs)
    write_csv(root / "summary_configs.csv", groups)
    print(f"\nrlrun summarize: wrote {root / 'summary_jobs.csv'} and {root / 'summary_configs.csv'}")
    return jobs, groups
