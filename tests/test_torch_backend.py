"""env.backend=torch: every algorithm that steps an env runs on the torch-native envs through the
same interface; PPO learns CartPole on it; domain randomisation trains across dynamics and
`rlrun eval` plays on shifted ones."""

import pytest
from conftest import assert_one_line_error, rlrun, rlrun_in_process, summary

FAST_PPO = [
    "algo=ppo", "env=CartPole", "env.backend=torch", "env.num_envs=64", "algo.N=2048", "algo.K=4",
    "algo.S=4", "algo.lr=0.02", "algo.hidden=[32,32]", "algo.gae_lambda=0.9",
]  # fmt: skip

SHORT = {
    "ppo": ["algo=ppo", "env=Pendulum", "algo.normalize_reward=true", "algo.normalize_obs=true"],
    "pg": ["algo=pg", "env=Acrobot", "algo.N=8"],
    # a tabular env with reward normalisation: the value-error check reads the normaliser's statistics
    "pg-tabular": ["algo=pg", "env=FrozenLake", "algo.normalize_reward=true"],
    "ac": ["algo=ac", "env=MountainCarContinuous"],
    "fqi": ["algo=fqi", "env=MountainCar", "algo.N=256", "algo.learning_starts=256", "algo.hidden=[32]"],
}


@pytest.mark.parametrize("algo", sorted(SHORT))
def test_every_env_stepping_algorithm_runs_on_the_torch_backend(algo, tmp_path):
    result = rlrun(
        "train", *SHORT[algo], "env.backend=torch", "env.num_envs=8", "total_steps=2048",
        "eval.every=1024", "eval.episodes=2", "hydra.run.dir=run", cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    done = summary(tmp_path / "run")
    assert done["env_steps"] >= 2048 and done["algo"] == algo.split("-")[0]
    assert done["eval_return_mean"] == done["eval_return_mean"]  # not NaN


@pytest.mark.slow
def test_ppo_reaches_475_on_cartpole_on_the_torch_backend(tmp_path):
    result = rlrun(
        "train", *FAST_PPO, "total_steps=150000", "stop_return=475", "eval.every=4096", "hydra.run.dir=run",
        cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    done = summary(tmp_path / "run")
    assert done["stopped_early"] and done["eval_return_mean"] >= 475, done


@pytest.mark.slow
def test_a_policy_trained_across_pole_lengths_is_evaluated_on_shifted_ones(tmp_path):
    result = rlrun(
        "train", *FAST_PPO, "total_steps=40960", "+env.randomize.length=[0.4,0.6]", "hydra.run.dir=run",
        cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    run = tmp_path / "run"

    def mean_return(*overrides: str) -> float:
        played = rlrun("eval", str(run), "episodes=10", *overrides, cwd=tmp_path)
        assert played.returncode == 0, played.stderr
        return float(played.stdout.split("return ")[1].split(" +-")[0])

    inside = mean_return()  # the training distribution
    shifted = mean_return("env.kwargs.length=3.0")  # a fixed length far outside it
    assert inside >= 400 and shifted < inside / 2, (inside, shifted)


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        (["env=gym", "env.id=Blackjack-v1", "env.backend=torch"], "env.backend: torch has CartPole-v1"),
        (["env.backend=jax"], "env.backend: must be gymnasium, torch or envpool"),
        (["+env.randomize.length=[0.4,0.6]"], "env.randomize: needs env.backend=torch"),
        (["env.backend=torch", "+env.randomize.length=[3,2]"], "env.randomize.length: must be [low, high]"),
        (["env.backend=torch", "+env.randomize.mass=[1,2]"], "cannot randomise 'mass'; allowed: gravity"),
        (["env.backend=torch", "+env.kwargs.mass=1"], "has no parameter 'mass'; allowed: gravity"),
    ],
)
def test_bad_backend_input_is_one_line(override, expected, tmp_path):
    result = rlrun_in_process("train", "algo=ppo", "env=CartPole", *override, cwd=tmp_path)
    assert_one_line_error(result, expected, tmp_path)


def test_the_config_lists_exactly_the_torch_native_envs():
    from rlrun.envs.torch_envs import TORCH_ENVS
    from rlrun.schema import TORCH_ENV_IDS

    assert set(TORCH_ENV_IDS) == set(TORCH_ENVS)


def test_tabular_fqi_solves_frozenlake_sampled_from_its_model_on_the_torch_backend(tmp_path):
    result = rlrun(
        "train", "algo=fqi", "env=FrozenLake", "env.is_slippery=false", "env.backend=torch",
        "env.num_envs=16", "total_steps=8192", "algo.N=512", "algo.collect=random", "eval.episodes=4",
        "hydra.run.dir=run",
        cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert summary(tmp_path / "run")["eval_return_mean"] == 1.0  # the greedy policy reaches the goal
