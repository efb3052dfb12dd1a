"""SIGTERM/SIGINT save a checkpoint and keep the logs; resume= continues the same run, and on the
CPU ends with exactly the metrics and parameters of the same run left alone."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from conftest import rlrun, summary
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from rlrun.algos.ac import ACConfig
from rlrun.algos.pg import PGConfig
from rlrun.runner import train
from rlrun.schema import DeviceConfig, EnvConfig, EvalConfig, RunConfig

RUN = ["env=CartPole", "total_steps=20480", "eval.every=5120", "eval.episodes=2", "checkpoint.every=1"]


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    root = tmp_path_factory.mktemp("uninterrupted")
    result = rlrun("train", *RUN, "hydra.run.dir=run", cwd=root)
    assert result.returncode == 0, result.stderr
    return root / "run"


def start_until_first_checkpoint(workdir, run=RUN, **pipes) -> subprocess.Popen:
    """`rlrun train RUN` in the background, returned once its first checkpoint exists."""
    env = {k: v for k, v in os.environ.items() if k != "HYDRA_FULL_ERROR"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "rlrun", "train", *run, "hydra.run.dir=run"], cwd=workdir, env=env, **pipes
    )
    deadline = time.time() + 120
    while not (workdir / "run" / "checkpoint.pt").exists() and time.time() < deadline:
        time.sleep(0.1)
    return proc


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_saves_a_checkpoint_and_resume_ends_as_if_never_stopped(sig, uninterrupted, workdir):
    proc = start_until_first_checkpoint(workdir, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    run_dir = workdir / "run"
    proc.send_signal(sig)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, f"the run should stop at the signal, not finish: {stderr[-500:]}"
    assert f"stopped by {sig.name} at step" in stderr and "checkpoint saved" in stderr
    assert "Traceback" not in stderr
    assert not (run_dir / "summary.json").exists()
    stopped_at = int(stderr.split("at step ")[1].split(";")[0])
    assert stopped_at < 20480

    # resume= alone: the run keeps its own overrides (env, steps, eval, ...).
    result = rlrun("train", f"resume={run_dir}", cwd=workdir)
    assert result.returncode == 0, result.stderr
    assert f"resumed from {run_dir / 'checkpoint.pt'} at step {stopped_at}" in result.stdout

    resumed, alone = summary(run_dir), summary(uninterrupted)
    for key in ("env_steps", "iterations", "eval_return_mean", "eval_return_std", "best_eval_return_mean"):
        assert resumed[key] == alone[key], key
    params = torch.load(run_dir / "checkpoint.pt", weights_only=False)["algo"]["agent"]
    params_alone = torch.load(uninterrupted / "checkpoint.pt", weights_only=False)["algo"]["agent"]
    for name, tensor in params_alone.items():
        assert torch.equal(params[name], tensor), name

    events, events_alone = EventAccumulator(str(run_dir / "tb")), EventAccumulator(str(uninterrupted / "tb"))
    events.Reload()
    events_alone.Reload()
    steps = [e.step for e in events.Scalars("losses/policy")]
    assert steps == list(range(256, 20481, 256)), "no gap and no duplicate across the resume"
    assert [e.value for e in events.Scalars("losses/policy")] == [
        e.value for e in events_alone.Scalars("losses/policy")
    ]


def test_sigkill_loses_at_most_the_iteration_since_the_checkpoint(uninterrupted, workdir):
    proc = start_until_first_checkpoint(workdir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    run_dir = workdir / "run"
    time.sleep(1.5)  # somewhere inside a later iteration, or inside a checkpoint write
    proc.kill()
    proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    saved = torch.load(run_dir / "checkpoint.pt", weights_only=False)["algo"]["env_steps"]
    assert 0 < saved < 20480, "the kill should land mid-run"

    result = rlrun("train", f"resume={run_dir}", cwd=workdir)
    assert result.returncode == 0, result.stderr
    resumed, alone = summary(run_dir), summary(uninterrupted)
    # checkpoint.every=1 and an exact resume: wherever the kill landed, the run ends the same
    for key in ("env_steps", "eval_return_mean", "eval_return_std", "best_eval_return_mean"):
        assert resumed[key] == alone[key], key
    events = EventAccumulator(str(run_dir / "tb"))
    events.Reload()
    assert [e.step for e in events.Scalars("losses/policy")] == list(range(256, 20481, 256))


def test_sigterm_stops_a_sweep_and_running_it_again_finishes_it(workdir):
    """SIGTERM to the sweep (the basic launcher runs jobs in its own process): the running job
    saves its checkpoint, no later job starts, and the same command run again skips the finished
    job, resumes the interrupted one and runs the rest."""
    sweep = ["train", "-m", "seed=0,1,2", "total_steps=4096", "eval.episodes=2", "checkpoint.every=1",
             "hydra.sweep.dir=sweep"]  # fmt: skip
    env = {k: v for k, v in os.environ.items() if k != "HYDRA_FULL_ERROR"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "rlrun", *sweep], cwd=workdir, env=env, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    jobs = [workdir / "sweep" / f"eval.episodes=2,seed={s},total_steps=4096"
            for s in range(3)]  # fmt: skip
    deadline = time.time() + 300
    while not (jobs[1] / "checkpoint.pt").exists() and time.time() < deadline:
        time.sleep(0.1)
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, stderr[-500:]
    assert "stopped by SIGTERM" in stderr and "hydra.sweep.dir=sweep" in stderr
    assert "Traceback" not in stderr
    assert (jobs[0] / "summary.json").exists()
    assert (jobs[1] / "checkpoint.pt").exists() and not (jobs[1] / "summary.json").exists()
    assert not (jobs[1] / "error.txt").exists(), "an interrupted job is unfinished, not failed"
    assert not jobs[2].exists(), "no job starts after the signal"
    stopped_at = torch.load(jobs[1] / "checkpoint.pt", weights_only=False)["algo"]["env_steps"]
    done_before = summary(jobs[0])

    again = rlrun(*sweep, cwd=workdir)
    assert again.returncode == 0, again.stderr
    assert "already done" in again.stdout and f"at step {stopped_at}" in again.stdout
    assert summary(jobs[0]) == done_before, "a finished job is not run again"
    assert all(summary(job)["env_steps"] == 4096 for job in jobs)


# The other algorithms, each small: stopped by SIGTERM after its first checkpoint and resumed, it
# ends exactly as the same run left alone.
OTHER_ALGOS = {
    "fqi": ["algo=fqi", "env=CartPole", "env.num_envs=2", "total_steps=3072", "algo.N=256", "algo.S=16",
            "algo.hidden=[32,32]", "algo.learning_starts=512", "eval.every=1024", "eval.episodes=2",
            "checkpoint.every=1"],
    # torch-native envs (with randomised dynamics) and the tensor reward normaliser resume exactly too
    "ppo-torch-backend": ["algo=ppo", "env=Pendulum", "env.backend=torch", "env.num_envs=16", "algo.N=512",
                          "algo.S=4", "algo.normalize_reward=true", "+env.randomize.m=[0.8,1.2]",
                          "total_steps=4096", "eval.every=1024", "eval.episodes=2", "checkpoint.every=1"],
}  # fmt: skip


def alone_and_resumed(run: list[str], tmp_path: Path) -> tuple[Path, Path]:
    """`rlrun train RUN` left alone, and the same run stopped by SIGTERM after its first checkpoint
    and resumed: their two run dirs."""
    alone_dir, stopped_dir = tmp_path / "alone", tmp_path / "stopped"
    stopped_dir.mkdir()
    result = rlrun("train", *run, f"hydra.run.dir={alone_dir}", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    proc = start_until_first_checkpoint(
        stopped_dir, run, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130 and "stopped by SIGTERM" in stderr, stderr[-500:]
    result = rlrun("train", f"resume={stopped_dir / 'run'}", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    return alone_dir, stopped_dir / "run"


@pytest.mark.parametrize("algo", sorted(OTHER_ALGOS))
def test_every_algorithm_resumes_exactly_after_sigterm(algo, tmp_path):
    alone_dir, resumed_dir = alone_and_resumed(OTHER_ALGOS[algo], tmp_path)
    resumed, alone = summary(resumed_dir), summary(alone_dir)
    for key in ("env_steps", "iterations", "eval_return_mean", "best_eval_return_mean"):
        assert resumed[key] == alone[key], key
    state = torch.load(resumed_dir / "checkpoint.pt", weights_only=False)["algo"]
    state_alone = torch.load(alone_dir / "checkpoint.pt", weights_only=False)["algo"]
    flat, flat_alone = flatten_tensors(state), flatten_tensors(state_alone)
    assert flat.keys() == flat_alone.keys()
    for name, tensor in flat_alone.items():
        assert torch.equal(flat[name], tensor), name


def flatten_tensors(tree, prefix=""):
    """Every tensor in a nested state dict, by its path."""
    found = {}
    items = (
        tree.items() if isinstance(tree, dict) else enumerate(tree) if isinstance(tree, list | tuple) else []
    )
    for key, value in items:
        if isinstance(value, torch.Tensor):
            found[f"{prefix}{key}"] = value
        else:
            found.update(flatten_tensors(value, f"{prefix}{key}."))
    return found


# pg and ac through the runner in this process: a run stopped at a checkpoint and continued ends
# with the parameters and metrics of the same run left alone
def in_process_config(algo, total_steps: int) -> RunConfig:
    return RunConfig(
        algo=algo, env=EnvConfig(id="CartPole-v1", num_envs=4), device=DeviceConfig(type="cpu", threads=1),
        total_steps=total_steps, eval=EvalConfig(every=1000, episodes=2),
    )  # fmt: skip


@pytest.mark.parametrize(
    "algo", [PGConfig(N=4, S=2), ACConfig(N=8, n_steps=2, S=2, shared=True)], ids=["pg", "ac"]
)
def test_pg_and_ac_resumed_in_process_end_as_if_never_stopped(algo, tmp_path, one_thread):
    train(in_process_config(algo, 2000), tmp_path / "alone", progress=False)
    train(in_process_config(algo, 1000), tmp_path / "stopped", progress=False)
    train(in_process_config(algo, 2000), tmp_path / "stopped", progress=False)  # its checkpoint: resumed
    alone, resumed = summary(tmp_path / "alone"), summary(tmp_path / "stopped")
    # (not the best evaluation: the stopped run evaluated once more, where it stopped)
    for key in ("env_steps", "iterations", "eval_return_mean"):
        assert resumed[key] == alone[key], key
    params = torch.load(tmp_path / "stopped" / "checkpoint.pt", weights_only=False)["algo"]["agent"]
    params_alone = torch.load(tmp_path / "alone" / "checkpoint.pt", weights_only=False)["algo"]["agent"]
    for name, tensor in params_alone.items():
        assert torch.equal(params[name], tensor), name
