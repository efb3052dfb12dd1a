"""Learning tests for pg and ac: the shipped CartPole settings reach a threshold with a fixed seed
within a short budget (stop_return ends the run at the first evaluation at or above it)."""

import pytest
from conftest import rlrun, summary

BUDGET = ["stop_return=400", "total_steps=60000", "eval.every=5000", "device=cpu", "device.threads=1"]


@pytest.mark.slow
@pytest.mark.parametrize("algo", ["pg", "ac"])
def test_cartpole_reaches_400_within_60k_steps(algo, workdir):
    result = rlrun(
        "train", f"algo={algo}", "env=CartPole", "seed=0", *BUDGET, "hydra.run.dir=run", cwd=workdir
    )
    assert result.returncode == 0, result.stderr
    done = summary(workdir / "run")
    assert done["stopped_early"] and done["eval_return_mean"] >= 400, done
