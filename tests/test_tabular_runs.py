"""vi and pi through the real CLI: the run dir (summary fields, values.npy, policy.npy, TensorBoard
scalars and the value image read back by TensorBoard's own reader), FrozenLake's played success
rate against the model's exact one, bad input in one line, resume, and ppo on a tabular env."""

import math
from pathlib import Path

import numpy as np
import pytest
from conftest import assert_one_line_error, rlrun, rlrun_in_process, summary
from hydra import compose, initialize_config_module
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from rlrun.config import parse_config, register_configs
from rlrun.errors import ConfigError
from rlrun.valuemap import BAR_WIDTH

EPISODES = 1000


@pytest.fixture(scope="module")
def frozen_lake_run(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("vi")
    result = rlrun(
        "train", "algo=vi", "env=FrozenLake", f"eval.episodes={EPISODES}", "hydra.run.dir=run", cwd=root
    )
    assert result.returncode == 0, result.stderr
    return root / "run"


def test_run_dir_holds_values_policy_and_the_exact_returns(frozen_lake_run):
    result = summary(frozen_lake_run)
    assert result["algo"] == "vi" and result["env"] == "FrozenLake-v1"
    assert result["converged"] and result["bellman_residual"] < 1e-10
    assert result["env_steps"] == result["iterations"] > 1
    assert result["num_states"] == 16 and result["num_actions"] == 4
    for key in ("wall_s", "exact_return", "exact_eval_return", "exact_success_rate", "eval_success_rate"):
        assert result[key] is not None, key
    values, policy = np.load(frozen_lake_run / "values.npy"), np.load(frozen_lake_run / "policy.npy")
    assert values.shape == (16,) and values.dtype == np.float64
    assert policy.shape == (16,) and set(policy) <= {0, 1, 2, 3}
    # the discounted return from the start state is V(start)
    assert result["exact_return"] == pytest.approx(values[0], abs=1e-8)


def test_played_success_rate_agrees_with_the_models_exact_one(frozen_lake_run):
    result = summary(frozen_lake_run)
    p, played = result["exact_success_rate"], result["eval_success_rate"]
    assert 0.5 < p < 0.9  # FrozenLake 4x4, slippery, within its 100-step limit
    assert result["eval_return_mean"] == pytest.approx(played)
    sigma = math.sqrt(p * (1 - p) / EPISODES)
    assert abs(played - p) < 4 * sigma, f"played {played} vs exact {p:.4f} (sigma {sigma:.4f})"


def test_tensorboard_has_the_residual_the_policy_changes_and_the_value_image(frozen_lake_run):
    events = EventAccumulator(str(frozen_lake_run / "tb"), size_guidance={"images": 0})
    events.Reload()
    iterations = summary(frozen_lake_run)["iterations"]
    for tag in ("tabular/bellman_residual", "tabular/policy_changes"):
        assert [e.step for e in events.Scalars(tag)] == list(range(1, iterations + 1)), tag
    assert events.Scalars("tabular/bellman_residual")[-1].value < 1e-10
    images = events.Images("tabular/values")
    assert [i.step for i in images] == [1, iterations]
    assert images[-1].width == images[-1].height + BAR_WIDTH and images[-1].height > 100  # map, colour bar


def test_pi_on_cliff_walking_plays_the_shortest_safe_path(workdir):
    result = rlrun(
        "train", "algo=pi", "env=CliffWalking", "eval.episodes=2", "hydra.run.dir=run", cwd=workdir
    )
    assert result.returncode == 0, result.stderr
    s = summary(workdir / "run")
    assert s["converged"] and s["iterations"] < 20
    # deterministic: the played return is the exact one; the optimal path along the cliff is 13 steps
    assert s["eval_return_mean"] == s["exact_eval_return"] == pytest.approx(-13.0)


@pytest.mark.parametrize(
    "overrides,expected",
    [
        (["algo=vi", "env=CartPole"], "env: algo=vi needs a tabular model (P, R), which CartPole-v1 has not; "
         "choose one of: env=FrozenLake, env=FrozenLake8x8, env=Taxi, env=CliffWalking, env=RandomMDP, "
         "env=GridWorld"),
        (["algo=vi", "env=FrozenLake", "env.is_slippery=false", "algo.gamma=1"],
         "algo.gamma: 1 needs every policy to end its episodes, but from"),
        (["algo=pi", "env=Taxi", "env.is_slippery=true"], "env.is_slippery: unknown key; allowed: id,"),
    ],
    ids=["vi-CartPole", "gamma-1", "unknown-key"],
)  # fmt: skip
def test_bad_input_gives_one_line(overrides, expected, workdir):
    assert_one_line_error(rlrun_in_process("train", *overrides, cwd=workdir), expected, workdir)


@pytest.mark.parametrize(
    "overrides,expected",
    [
        (["algo=pi", "algo.S=-1"], "algo.S: must be >= 0"),
        (["algo=vi", "algo.tol=0"], "algo.tol: must be > 0"),
        (["algo=vi", "algo.K=0"], "algo.K: must be an integer > 0"),
        (["algo=vi", "env.map_name=5x5"], "env.map_name: must be 4x4 or 8x8"),
        (["algo=vi", "env.desc=[SFF,FFF]"], "env.desc: needs at least one goal G"),
        (["algo=vi", "env=GridWorld", "env.slip=2"], "env.slip: must be in [0, 1]"),
        (["algo=vi", "env=GridWorld", "env.goal=[0,0]"], "env.goal: must be [row, col] inside"),
        (["algo=vi", "env=RandomMDP", "env.branching=200"], "env.branching: must be in [1, env.states=100]"),
    ],
)
def test_range_checks_name_the_key(overrides, expected):
    register_configs()
    defaults = ["env=FrozenLake"] if not any(o.startswith("env=") for o in overrides) else []
    with initialize_config_module(config_module="rlrun.conf", version_base="1.3"):
        cfg = compose("config", overrides=[*defaults, *overrides])
    with pytest.raises(ConfigError, match=None) as err:
        parse_config(cfg)
    assert expected in str(err.value)


def test_resume_continues_to_the_same_values(workdir):
    common = ["algo=vi", "env=FrozenLake8x8", "eval.episodes=2", "checkpoint.every=7"]
    alone = rlrun("train", *common, "total_steps=60", "hydra.run.dir=alone", cwd=workdir)
    assert alone.returncode == 0, alone.stderr
    first = rlrun("train", *common, "total_steps=25", "hydra.run.dir=run", cwd=workdir)
    assert first.returncode == 0, first.stderr
    resumed = rlrun("train", f"resume={workdir / 'run'}", "total_steps=60", cwd=workdir)
    assert resumed.returncode == 0, resumed.stderr
    assert "resumed from" in resumed.stdout and "at step 25" in resumed.stdout
    for name in ("values.npy", "policy.npy"):
        assert np.array_equal(np.load(workdir / "run" / name), np.load(workdir / "alone" / name)), name
    run, ref = summary(workdir / "run"), summary(workdir / "alone")
    assert run["bellman_residual"] == ref["bellman_residual"] and run["iterations"] == 60
    events = EventAccumulator(str(workdir / "run" / "tb"))
    events.Reload()
    assert [e.step for e in events.Scalars("tabular/bellman_residual")] == list(range(1, 61))


def test_ppo_still_trains_on_a_tabular_env(workdir):
    result = rlrun(
        "train", "algo=ppo", "env=FrozenLake", "total_steps=512", "algo.N=256", "algo.S=4", "algo.K=2",
        "eval.episodes=2", "hydra.run.dir=run", cwd=workdir,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert summary(workdir / "run")["env_steps"] == 512
