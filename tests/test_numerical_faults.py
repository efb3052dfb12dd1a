"""A NaN in a loss stops the run with one line naming the quantity and the iteration; the last
good checkpoint stays."""

import re

import pytest
import torch
from conftest import rlrun


def test_nan_reward_stops_the_run_and_keeps_the_last_good_checkpoint(workdir):
    # 8 envs x 256 steps per iteration: rewards turn NaN in iteration 2 (each env's step 301).
    result = rlrun(
        "train", "env=gym", "env.id=fake_envs:NanRewardToy-v0", "algo.N=2048", "checkpoint.every=1",
        "eval.every=0", "eval.episodes=1", "total_steps=8192", "hydra.run.dir=run", cwd=workdir,
    )  # fmt: skip
    assert result.returncode == 1
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("rlrun: error: losses/") and "is nan at iteration 2 (step 4096)" in last, last
    assert "Traceback" not in result.stderr
    state = torch.load(workdir / "run" / "checkpoint.pt", weights_only=False)
    assert state["algo"]["env_steps"] == 2048 and state["algo"]["iteration"] == 1
    assert not (workdir / "run" / "summary.json").exists()


OTHER_ALGOS = {
    "pg": ["algo=pg", "algo.N=8"],
    "ac": ["algo=ac", "algo.N=400"],
    "fqi": ["algo=fqi", "algo.N=400", "algo.learning_starts=400", "algo.S=8", "algo.hidden=[16]"],
}


@pytest.mark.parametrize("algo", sorted(OTHER_ALGOS))
def test_every_algorithm_stops_at_a_nan_and_keeps_the_last_good_checkpoint(algo, workdir):
    # 8 envs; each env's rewards turn NaN after its 300th step
    result = rlrun(
        "train", "env=gym", "env.id=fake_envs:NanRewardToy-v0", *OTHER_ALGOS[algo], "checkpoint.every=1",
        "eval.every=0", "eval.episodes=1", "total_steps=20000", "hydra.run.dir=run", cwd=workdir,
    )  # fmt: skip
    assert result.returncode == 1, result.stderr
    last = result.stderr.strip().splitlines()[-1]
    match = re.match(r"rlrun: error: (losses|charts)/\w+ is nan at iteration (\d+)", last)
    assert match, last
    assert "Traceback" not in result.stderr
    state = torch.load(workdir / "run" / "checkpoint.pt", weights_only=False)
    assert state["algo"]["iteration"] == int(match.group(2)) - 1  # the last good one, every iteration saved
    weights = state["algo"]["agent" if algo != "fqi" else "q"]
    assert all(torch.isfinite(w).all() for w in weights.values())
    assert not (workdir / "run" / "summary.json").exists()
