"""Shared helpers: run the real CLI in a subprocess, read run dirs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).parent


def rlrun(
    *args: str, cwd: Path, timeout: float = 600, env: dict | None = None
) -> subprocess.CompletedProcess:
    """`rlrun ARGS` as a user would run it (python -m rlrun is the console script's target)."""
    environ = {k: v for k, v in os.environ.items() if k != "HYDRA_FULL_ERROR"}
    environ.update({"SDL_VIDEODRIVER": "dummy", "SDL_AUDIODRIVER": "dummy", **(env or {})})
    environ["PYTHONPATH"] = os.pathsep.join([str(TESTS), environ.get("PYTHONPATH", "")])
    return subprocess.run(
        [sys.executable, "-m", "rlrun", *args],
        cwd=cwd, env=environ, capture_output=True, text=True, timeout=timeout,
    )  # fmt: skip


def summary(run_dir: Path) -> dict:
    return json.loads((run_dir / "summary.json").read_text())


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    return tmp_path
