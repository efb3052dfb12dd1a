"""Files of a run dir besides Hydra's and TensorBoard's: summary.json and error.txt (no torch here,
so the Hydra task and `rlrun summarize` stay quick to load)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

SUMMARY = "summary.json"
ERROR_FILE = "error.txt"  # a failed run's error, kept in its dir


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
