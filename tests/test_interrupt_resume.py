"""SIGTERM/SIGINT save a checkpoint and keep the logs; resume= continues the same run."""

import signal
import subprocess
import sys
import time

import pytest
from conftest import rlrun, summary
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

RUN = ["env=CartPole", "eval.episodes=2", "eval.every=0", "checkpoint.every=1"]


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_saves_a_checkpoint_and_resume_finishes_the_run(sig, workdir):
    import os

    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env.pop("HYDRA_FULL_ERROR", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "rlrun", "train", *RUN, "total_steps=1000000", "hydra.run.dir=run"],
        cwd=workdir, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    run_dir = workdir / "run"
    deadline = time.time() + 120
    while not (run_dir / "checkpoint.pt").exists() and time.time() < deadline:
        time.sleep(0.2)
    time.sleep(1.0)
    proc.send_signal(sig)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    assert f"stopped by {sig.name} at step" in stderr and "checkpoint saved" in stderr
    assert "Traceback" not in stderr
    assert not (run_dir / "summary.json").exists()
    stopped_at = int(stderr.split("at step ")[1].split(";")[0])

    # The resumed run keeps the first run's overrides (env, eval, ...) and adds the steps it needs.
    total = stopped_at + 512
    result = rlrun("train", f"resume={run_dir}", f"total_steps={total}", cwd=workdir)
    assert result.returncode == 0, result.stderr
    assert f"resumed from {run_dir / 'checkpoint.pt'} at step {stopped_at}" in result.stdout
    done = summary(run_dir)
    assert done["env_steps"] == total and done["eval_episodes"] == 2

    events = EventAccumulator(str(run_dir / "tb"))
    events.Reload()
    steps = [e.step for e in events.Scalars("losses/policy")]
    assert steps == list(range(256, total + 1, 256)), "no gap and no duplicate across the resume"
