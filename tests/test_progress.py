"""Progress that means something for every algorithm: vi and pi count sweeps (iterations) towards
convergence, not a fraction of a cap, and end saying whether they converged; no bar off a terminal,
in a sweep, or with progress=false; each console line is kept in the run's train.log."""

import fcntl
import os
import pty
import re
import struct
import subprocess
import sys
import termios

import numpy as np
from conftest import TESTS, rlrun, summary


def rlrun_on_a_terminal(*args: str, cwd) -> tuple[int, str]:
    """`rlrun ARGS` with stdout and stderr on a pseudo-terminal 150 columns wide: (status, output)."""
    main, child = pty.openpty()
    fcntl.ioctl(child, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 150, 0, 0))
    environ = {k: v for k, v in os.environ.items() if k != "HYDRA_FULL_ERROR"}
    environ["PYTHONPATH"] = os.pathsep.join([str(TESTS), environ.get("PYTHONPATH", "")])
    proc = subprocess.Popen(
        [sys.executable, "-m", "rlrun", *args], cwd=cwd, env=environ,
        stdin=subprocess.DEVNULL, stdout=child, stderr=child,
    )  # fmt: skip
    os.close(child)
    chunks = []
    while True:
        try:
            chunk = os.read(main, 65536)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(main)
    return proc.wait(timeout=600), b"".join(chunks).decode(errors="replace").replace("\r\n", "\n")


def bar_states(output: str) -> list[str]:
    """The states the bar was drawn in (it redraws itself after a carriage return)."""
    return [part.strip() for line in output.split("\n") for part in line.split("\r") if " sweeps [" in part]


def test_vi_counts_sweeps_and_ends_with_convergence_and_the_exact_return(workdir):
    code, out = rlrun_on_a_terminal("train", "algo=vi", "env=FrozenLake", "hydra.run.dir=run", cwd=workdir)
    assert code == 0, out
    done = summary(workdir / "run")
    last = bar_states(out)[-1]
    # e.g. "571 sweeps [00:00, 790.1 sweeps/s, residual=9.79e-11, reached=11/16 states, changes=0]"
    match = re.match(r"(\d+) sweeps \[.*residual=([0-9.e+-]+), reached=(\d+)/16 states, changes=0\]", last)
    assert match, last
    assert int(match[1]) == done["iterations"] and float(match[2]) == float(f"{done['bellman_residual']:.2e}")
    assert "%" not in out and "nan" not in out and "100k" not in out  # no fraction of the cap, no ETA
    assert int(match[3]) == int((np.load(workdir / "run" / "values.npy") != 0).sum())  # states V reached
    line = [line for line in out.splitlines() if line.startswith("rlrun: done: ")][0]
    assert line.startswith(f"rlrun: done: converged after {done['iterations']} sweeps (residual ")
    assert (
        f"exact return {done['exact_return']:.6g} discounted, {done['exact_eval_return']:.6g} per episode"
        in line
    )


def test_vi_stopped_by_its_cap_says_it_did_not_converge(workdir):
    result = rlrun("train", "algo=vi", "env=FrozenLake", "algo.K=5", "hydra.run.dir=run", cwd=workdir)
    assert result.returncode == 0, result.stderr
    assert "rlrun: done: not converged: stopped after 5 sweeps at algo.K=5 (residual " in result.stdout
    assert summary(workdir / "run")["converged"] is False


def test_pi_counts_iterations(workdir):
    code, out = rlrun_on_a_terminal("train", "algo=pi", "env=Taxi", "hydra.run.dir=run", cwd=workdir)
    assert code == 0, out
    iterations = summary(workdir / "run")["iterations"]
    assert f"{iterations} iterations [" in out
    assert f"rlrun: done: converged after {iterations} iterations (policy stable) in " in out


def test_a_bar_on_a_terminal_and_none_with_progress_false(workdir):
    args = ["train", "total_steps=2048", "eval.every=1024", "eval.episodes=2"]
    code, out = rlrun_on_a_terminal(*args, "hydra.run.dir=bar", cwd=workdir)
    assert code == 0, out
    assert "kstep/s" in out and "step 1024: evaluation return" not in out
    code, out = rlrun_on_a_terminal(*args, "progress=false", "hydra.run.dir=quiet", cwd=workdir)
    assert code == 0, out
    assert "step/s" not in out and "%|" not in out
    assert re.search(r"^rlrun: step 1024: evaluation return [0-9.]+ \+- [0-9.]+$", out, re.M), out


def test_no_bar_when_the_output_is_not_a_terminal(workdir):
    result = rlrun("train", "algo=vi", "env=FrozenLake", "hydra.run.dir=run", cwd=workdir)
    assert result.returncode == 0, result.stderr
    assert result.stderr == "" and "sweeps/s" not in result.stdout


def test_sweep_jobs_name_themselves_and_draw_no_bar(workdir):
    code, out = rlrun_on_a_terminal(
        "train",
        "-m",
        "algo=vi",
        "env=FrozenLake",
        "algo.gamma=0.9,0.99",
        "hydra.sweep.dir=sweep",
        cwd=workdir,
    )
    assert code == 0, out
    assert "sweeps [" not in out
    for num, gamma in enumerate(("0.9", "0.99")):
        job = f"algo.gamma={gamma},algo=vi,env=FrozenLake"
        assert f"rlrun: done (job {num}: {job}): converged after " in out
        log = (workdir / "sweep" / job / "train.log").read_text()
        assert f"rlrun: done (job {num}: {job}): converged after " in log


def test_train_log_holds_the_console_lines(workdir):
    result = rlrun(
        "train", "total_steps=1024", "eval.every=512", "eval.episodes=2", "hydra.run.dir=run", cwd=workdir
    )
    assert result.returncode == 0, result.stderr
    logged = [line.split("] ", 1)[1] for line in (workdir / "run" / "train.log").read_text().splitlines()]
    assert logged == [line for line in result.stdout.splitlines() if line.startswith("rlrun: ")]
    assert logged[0].startswith("rlrun: device ") and logged[-1].startswith("rlrun: done: 1024 steps in ")
    # a refused run writes nothing, train.log included: the dir it would have made is not there
    result = rlrun("train", "algo.lr=-1", "hydra.run.dir=bad", cwd=workdir)
    assert result.returncode == 2
    assert not (workdir / "bad").exists()
