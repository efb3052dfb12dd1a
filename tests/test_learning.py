"""Learning tests: the shipped defaults reach their thresholds with a fixed seed."""

import pytest
from conftest import rlrun, summary


@pytest.mark.slow
def test_ppo_cartpole_defaults_reach_475(workdir):
    # The plain command a user runs (tuned defaults: 100k steps), with a fixed seed.
    result = rlrun(
        "train", "algo=ppo", "env=CartPole", "seed=0", "hydra.run.dir=run", cwd=workdir, timeout=900
    )
    assert result.returncode == 0, result.stderr
    done = summary(workdir / "run")
    assert done["env_steps"] <= 100_352  # 100k, rounded up to whole batches of N=256
    assert done["eval_return_mean"] >= 475, done


@pytest.mark.slow
def test_ppo_acrobot_reaches_minus_100(workdir):
    # stop_return ends the run at the first evaluation at or above -100 (within the 300k default).
    result = rlrun(
        "train", "algo=ppo", "env=Acrobot", "seed=0", "stop_return=-100", "hydra.run.dir=run",
        cwd=workdir, timeout=900,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    done = summary(workdir / "run")
    assert done["stopped_early"] and done["eval_return_mean"] >= -100, done


@pytest.mark.slow
def test_fqi_cartpole_defaults_reach_475(workdir):
    # The tuned defaults (conf/tuned/fqi_CartPole.yaml), stopped at the first evaluation at 475+.
    result = rlrun(
        "train", "algo=fqi", "env=CartPole", "seed=0", "stop_return=475", "eval.every=5000",
        "hydra.run.dir=run", cwd=workdir, timeout=900,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    done = summary(workdir / "run")
    assert done["stopped_early"] and done["eval_return_mean"] >= 475, done


# pg and ac: the shipped CartPole settings reach 400 (stop_return ends the run at the first
# evaluation at or above it)
PG_AC_BUDGET = ["stop_return=400", "total_steps=60000", "eval.every=5000", "device=cpu", "device.threads=1"]


@pytest.mark.slow
@pytest.mark.parametrize("algo", ["pg", "ac"])
def test_cartpole_reaches_400_within_60k_steps(algo, workdir):
    result = rlrun(
        "train", f"algo={algo}", "env=CartPole", "seed=0", *PG_AC_BUDGET, "hydra.run.dir=run", cwd=workdir
    )
    assert result.returncode == 0, result.stderr
    done = summary(workdir / "run")
    assert done["stopped_early"] and done["eval_return_mean"] >= 400, done
