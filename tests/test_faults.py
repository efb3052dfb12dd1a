"""Fault injection through the real CLI: a run dir that cannot be falsified or lost, whatever a user
(or an adversary) does. Each test starts real `rlrun` processes and, where it says so, signals them."""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from conftest import TESTS, assert_one_line_error, rlrun, summary

SHORT = ["algo=ppo", "env=CartPole", "algo.N=256", "eval.every=0", "eval.episodes=2"]


def popen(*args: str, cwd: Path, **kwargs) -> subprocess.Popen:
    environ = {k: v for k, v in os.environ.items() if k != "HYDRA_FULL_ERROR"}
    environ["PYTHONPATH"] = os.pathsep.join([str(TESTS), environ.get("PYTHONPATH", "")])
    return subprocess.Popen(
        [sys.executable, "-m", "rlrun", *args], cwd=cwd, env=environ, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kwargs,
    )  # fmt: skip


def wait_for(condition, timeout_s: float = 120.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def digest(folder: Path) -> dict[str, str]:
    """Every file below folder by its content."""
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("finished")
    result = rlrun("train", *SHORT, "total_steps=1024", "hydra.run.dir=run", cwd=root)
    assert result.returncode == 0, result.stderr
    return root / "run"


def copy_run(run: Path, to: Path) -> Path:
    to.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(["cp", "-r", str(run), str(to)], check=True)
    return to


# ---------------------------------------------------------------------------- no code from a run dir


class Payload:
    """Unpickling this would create the marker file."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


COMMANDS = {
    "eval": lambda run: ["eval", str(run)],
    "resume": lambda run: ["train", f"resume={run}"],
    "collect": lambda run: ["collect", str(run), "transitions=8", f"out={run.parent / 'data.npz'}"],
    "rerun": lambda run: ["train", *SHORT, "total_steps=1024", f"hydra.run.dir={run}"],
}


@pytest.mark.parametrize("how", ["torch.save", "pickle.dump"])
@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_a_crafted_checkpoint_runs_no_code(finished_run, tmp_path, command, how):
    run = copy_run(finished_run, tmp_path / "run")
    (run / "summary.json").unlink()  # so that a rerun reads the checkpoint
    marker = tmp_path / "marker"
    state = {"algo_name": "ppo", "config": {"env": {"id": "CartPole-v1"}}, "algo": Payload(marker)}
    with open(run / "checkpoint.pt", "wb") as f:
        torch.save(state, f) if how == "torch.save" else pickle.dump(state, f)
    result = rlrun(*COMMANDS[command](run), cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    lines = (result.stdout + result.stderr).strip().splitlines()
    assert len(lines) == 1 and "checkpoint.pt: refused" in lines[0] and "nothing in it was run" in lines[0]
    assert not marker.exists()


def test_a_checkpoint_holds_only_tensors_and_plain_data(finished_run):
    for name in ("checkpoint.pt", "best.pt"):
        state = torch.load(finished_run / name, weights_only=True)  # would raise on any object
        assert state["algo_name"] == "ppo"


# ---------------------------------------------------------------------------- one writer, no collisions


def test_a_second_writer_is_refused_naming_the_holder(tmp_path):
    first = popen("train", *SHORT, "total_steps=200000", "hydra.run.dir=run", cwd=tmp_path)
    try:
        wait_for(lambda: (tmp_path / "run" / ".hydra" / "config.yaml").exists())
        config = (tmp_path / "run" / ".hydra" / "config.yaml").read_bytes()
        for args in (["train", "total_steps=1024", "hydra.run.dir=run"], ["train", "resume=run"]):
            result = rlrun(*args, cwd=tmp_path)
            assert result.returncode == 2, result.stderr
            assert f"in use by rlrun process {first.pid}" in result.stderr
        assert (tmp_path / "run" / ".hydra" / "config.yaml").read_bytes() == config
        assert first.poll() is None, "the first run goes on"
    finally:
        first.send_signal(signal.SIGTERM)
        _, stderr = first.communicate(timeout=120)
    assert first.returncode == 130 and "stopped by SIGTERM" in stderr, stderr


def test_ten_runs_started_at_once_get_ten_dirs(tmp_path):
    seeds = [0, 1, 2, 3, 4] * 2  # pairs that would get the same name
    procs = [popen("train", *SHORT, "total_steps=2000", f"seed={s}", cwd=tmp_path) for s in seeds]
    for proc in procs:
        _, stderr = proc.communicate(timeout=600)
        assert proc.returncode == 0, stderr
    runs = sorted(p.parent for p in tmp_path.glob("outputs/*/*/summary.json"))
    assert len(runs) == 10
    for run in runs:
        given = [o for o in json.loads(json.dumps(read_overrides(run))) if o.startswith("seed=")]
        assert given == [f"seed={summary(run)['seed']}"]
        assert f"-ppo-CartPole-s{summary(run)['seed']}" in run.name
        assert len(list((run / "tb").glob("events.out.tfevents.*"))) == 1


def read_overrides(run: Path) -> list[str]:
    from omegaconf import OmegaConf

    return list(OmegaConf.load(run / ".hydra" / "overrides.yaml"))


# ---------------------------------------------------------------------------- refusals change nothing


def test_a_refused_resume_changes_nothing_and_a_plain_resume_still_finishes(finished_run, tmp_path):
    run = copy_run(finished_run, tmp_path / "run")
    before = digest(run)
    for args in (
        ["train", f"resume={run}", "algo=fqi"],
        ["train", f"resume={run}", "env=Acrobot"],
        ["train", "algo=pg", f"hydra.run.dir={run}"],
        ["train", f"resume={run}", "algo.lr=-1"],
    ):
        result = rlrun(*args, cwd=tmp_path)
        assert result.returncode == 2, (args, result.stdout, result.stderr)
        assert digest(run) == before, args
    result = rlrun("train", f"resume={run}", "total_steps=2048", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert summary(run)["env_steps"] == 2048


@pytest.mark.parametrize(
    "args",
    [["algo.lr=-1"], ["algo=vi"], ["resume=missing"], ["resume=notes.txt"], ["hydra.run.dir=notes.txt/run"]],
    ids=lambda a: " ".join(a),
)
def test_a_refused_run_leaves_no_new_dir(tmp_path, args):
    (tmp_path / "notes.txt").write_text("a file\n")
    result = rlrun("train", *args, cwd=tmp_path)
    assert_one_line_error(result, args[0].split("=")[0].split(".")[0], tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]


# ---------------------------------------------------------------------------- stops


def test_sigterm_in_the_first_seconds_says_nothing_was_saved(tmp_path):
    proc = popen("train", *SHORT, "total_steps=4096", cwd=tmp_path)
    time.sleep(0.5)  # imports and config: before any training
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, stderr
    lines = stderr.strip().splitlines()
    assert lines == ["rlrun: stopped by SIGTERM before the first checkpoint; nothing was saved"], lines
    assert not list(tmp_path.rglob("checkpoint.pt"))


def test_ctrl_c_with_async_envs_stops_cleanly_with_a_checkpoint(tmp_path):
    proc = popen(
        "train", *SHORT, "env.num_envs=2", "env.vector=async", "total_steps=200000", "checkpoint.every=1",
        "hydra.run.dir=run", cwd=tmp_path, start_new_session=True,
    )  # fmt: skip
    wait_for(lambda: (tmp_path / "run" / "checkpoint.pt").exists())
    os.killpg(proc.pid, signal.SIGINT)  # as a terminal does: the whole process group
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, stderr
    assert "stopped by SIGINT" in stderr and "Broken pipe" not in stderr and "Traceback" not in stderr
    result = rlrun("train", "resume=run", "total_steps=2048", cwd=tmp_path)
    assert result.returncode == 0, result.stderr


# ---------------------------------------------------------------------------- write errors


def limit_file_size(limit: int):
    def apply() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG instead
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return apply


def test_a_checkpoint_that_cannot_be_written_leaves_the_old_one_and_says_why(tmp_path):
    big = ["algo.hidden=[256,256]", "checkpoint.every=1"]
    result = rlrun("train", *SHORT, *big, "total_steps=512", "hydra.run.dir=run", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    old = (tmp_path / "run" / "checkpoint.pt").read_bytes()
    assert len(old) > 600_000
    proc = popen("train", "resume=run", "total_steps=4096", cwd=tmp_path, preexec_fn=limit_file_size(500_000))
    _, stderr = proc.communicate(timeout=300)
    lines = [line for line in stderr.splitlines() if line.startswith("rlrun:")]
    assert proc.returncode == 1 and len(lines) == 1, stderr
    assert "checkpoint.pt" in lines[0] or "best.pt" in lines[0], lines
    assert "cannot be written: File too large" in lines[0], lines
    assert (tmp_path / "run" / "checkpoint.pt").read_bytes() == old
    assert not list((tmp_path / "run").glob("*.tmp"))


# ---------------------------------------------------------------------------- sweeps


def workers_of(launcher_pid: int) -> list[int]:
    """Live processes started for the launcher (they inherit its RLRUN_LAUNCHER_PID)."""
    mark = f"RLRUN_LAUNCHER_PID={launcher_pid}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != launcher_pid:
            try:
                if mark in (entry / "environ").read_bytes().split(b"\0"):
                    state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
                    if state != "Z":
                        found.append(int(entry.name))
            except OSError:
                pass
    return found


JOBLIB_SWEEP = [
    "train", "-m", "seed=0,1,2", *SHORT, "total_steps=8192", "checkpoint.every=1",
    "hydra/launcher=joblib", "hydra.launcher.n_jobs=2", "hydra.sweep.dir=sweep",
]  # fmt: skip


def started_jobs(root: Path) -> int:
    return len(list((root / "sweep").glob("*/checkpoint.pt")))


def test_a_killed_joblib_sweep_leaves_no_worker_and_its_rerun_runs_each_job_once(tmp_path):
    proc = popen(*JOBLIB_SWEEP, cwd=tmp_path)
    wait_for(lambda: started_jobs(tmp_path) >= 2)
    proc.kill()
    proc.communicate(timeout=60)
    time.sleep(5)
    assert workers_of(proc.pid) == []
    again = rlrun(*JOBLIB_SWEEP, cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    jobs = sorted(p for p in (tmp_path / "sweep").iterdir() if p.is_dir())
    assert len(jobs) == 3
    for job in jobs:
        assert summary(job)["env_steps"] == 8192
        assert iteration_steps(job) == list(range(256, 8193, 256)), job.name  # each iteration once


def iteration_steps(run: Path) -> list[int]:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(run / "tb"))
    events.Reload()
    return [e.step for e in events.Scalars("losses/policy")]


def test_sigterm_to_a_joblib_sweep_stops_its_jobs_with_checkpoints(tmp_path):
    proc = popen(*JOBLIB_SWEEP, cwd=tmp_path)
    wait_for(lambda: started_jobs(tmp_path) >= 2)
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, stderr
    assert "hydra.sweep.dir=sweep" in stderr and "Traceback" not in stderr, stderr
    assert workers_of(proc.pid) == []
    assert started_jobs(tmp_path) >= 2


# ---------------------------------------------------------------------------- user mistakes


def test_a_dataset_with_nan_is_refused_at_load_naming_field_and_row(tmp_path):
    import numpy as np

    n = 64
    data = {
        "obs": np.zeros((n, 4), np.float32), "next_obs": np.zeros((n, 4), np.float32),
        "actions": np.zeros(n, np.int64), "rewards": np.ones(n, np.float32),
        "terminated": np.zeros(n, bool), "truncated": np.zeros(n, bool),
    }  # fmt: skip
    data["rewards"][17] = np.nan
    np.savez(tmp_path / "data.npz", **data)
    result = rlrun("train", "algo=fqi", "env=CartPole", f"algo.dataset={tmp_path / 'data.npz'}", cwd=tmp_path)
    assert_one_line_error(result, "algo.dataset", tmp_path)
    assert "rewards holds NaN or Inf, first at row 17" in result.stderr


@pytest.mark.parametrize("content", ["[1, 2]", '{"env_steps": "x"}', "not json", "null"])
def test_summarize_reads_malformed_summaries_without_a_traceback(finished_run, tmp_path, content):
    run = copy_run(finished_run, tmp_path / "sweep" / "run")
    (run / "summary.json").write_text(content)
    result = rlrun("summarize", str(tmp_path / "sweep"), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr and "unfinished" in result.stdout


@pytest.mark.parametrize(
    "args,expected",
    [
        (["eval", "notes.txt"], "RUN_DIR: notes.txt is a file"),
        (["eval", "missing"], "RUN_DIR: missing does not exist"),
        (["collect", "notes.txt", "transitions=8"], "RUN_DIR: notes.txt is a file"),
        (["summarize", "notes.txt"], "notes.txt"),
        (["plot", "notes.txt"], "notes.txt"),
    ],
    ids=lambda a: " ".join(a) if isinstance(a, list) else None,
)
def test_commands_refuse_paths_that_are_files_in_one_line(tmp_path, args, expected):
    (tmp_path / "notes.txt").write_text("a file\n")
    result = rlrun(*args, cwd=tmp_path)
    assert_one_line_error(result, expected, tmp_path)
