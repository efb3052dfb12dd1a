"""Files of a run dir besides Hydra's and TensorBoard's: summary.json, error.txt, and the console
lines in train.log (no torch here, so the Hydra task and `rlrun summarize` stay quick to load)."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

SUMMARY = "summary.json"
ERROR_FILE = "error.txt"  # a failed run's error, kept in its dir
LOG_FILE = "train.log"  # Hydra's job log (named after the task); rlrun's console lines go there too


def append_log(run_dir: Path | None, text: str) -> None:
    """Keep a console line in the run dir's train.log, with the time."""
    if run_dir is None or not Path(run_dir).is_dir():
        return
    with open(Path(run_dir) / LOG_FILE, "a") as f:
        f.write(f"[{datetime.now():%Y-%m-%d %H:%M:%S}] {text}\n")


def console(text: str, run_dir: Path | None = None) -> None:
    """A line for the user: on stdout, and in the run dir's train.log."""
    print(text, flush=True)
    append_log(run_dir, text)


def write_summary(run_dir: Path, summary: dict[str, Any]) -> Path:
    path = Path(run_dir) / SUMMARY
    path.write_text(json.dumps(summary, indent=2) + "\n")
    return path


def read_summary(run_dir: Path) -> dict[str, Any] | None:
    """The summary of a finished run, or None (no summary, or one from an unfinished write)."""
    path = Path(run_dir) / SUMMARY
    try:
        return json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None
