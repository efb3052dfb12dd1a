"""Shared helpers: run the real CLI in a subprocess, read run dirs."""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).parent


@pytest.fixture(autouse=True)
def seeded_torch():
    """Tests that draw from torch's global RNG are reproducible; RLRUN_TEST_SEED=k reruns
    them on other draws (docs/development.md), so none passes only on one."""
    import torch

    torch.manual_seed(int(os.environ.get("RLRUN_TEST_SEED", "0")))


def rlrun(
    *args: str,
    cwd: Path,
    timeout: float = 600,
    env: dict | None = None,
    python_args: list[str] | None = None,
) -> subprocess.CompletedProcess:
    """`rlrun ARGS` as a user would run it (python -m rlrun is the console script's target);
    `python_args` replaces `-m rlrun` (e.g. a wrapper that hides packages)."""
    environ = {k: v for k, v in os.environ.items() if k != "HYDRA_FULL_ERROR"}
    environ.update({"SDL_VIDEODRIVER": "dummy", "SDL_AUDIODRIVER": "dummy", **(env or {})})
    environ["PYTHONPATH"] = os.pathsep.join([str(TESTS), environ.get("PYTHONPATH", "")])
    return subprocess.run(
        [sys.executable, *(python_args or ["-m", "rlrun"]), *args],
        cwd=cwd, env=environ, capture_output=True, text=True, timeout=timeout,
    )  # fmt: skip


def rlrun_in_process(*args: str, cwd: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    """`rlrun ARGS` run by rlrun.cli.main in this process, its output captured: for the many
    refusals, where a subprocess spends about a second importing torch and Hydra before a check
    of milliseconds. The console script's own process (exit, signals, stray output at import)
    is tested through rlrun()."""
    from rlrun import cli

    out, err = io.StringIO(), io.StringIO()
    cwd_before, environ_before, argv_before = os.getcwd(), dict(os.environ), sys.argv[:]
    os.environ.pop("HYDRA_FULL_ERROR", None)
    os.environ.update(env or {})
    os.chdir(cwd)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = cli.main(list(args))
    finally:
        os.chdir(cwd_before)
        os.environ.clear()
        os.environ.update(environ_before)
        sys.argv[:] = argv_before
    return subprocess.CompletedProcess(["rlrun", *args], code, out.getvalue(), err.getvalue())


def assert_one_line_error(result: subprocess.CompletedProcess, expected: str, cwd: Path) -> None:
    """A user mistake: exit 2, one line on the console that says `expected`, nothing trained."""
    lines = [line for line in (result.stdout + result.stderr).splitlines() if line.strip()]
    assert result.returncode == 2, result.stderr
    assert len(lines) == 1 and lines[0].startswith("rlrun: error: "), lines
    assert expected in lines[0], lines[0]
    assert not list(cwd.rglob("checkpoint.pt")), "nothing may train"


def summary(run_dir: Path) -> dict:
    return json.loads((run_dir / "summary.json").read_text())


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    return tmp_path


@pytest.fixture
def one_thread():
    """Small tensors, one step at a time: torch's thread pool only adds overhead (and noise)."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
