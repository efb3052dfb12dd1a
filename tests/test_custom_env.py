"""Custom envs from the user's own folder, and shifted dynamics on the gymnasium backend."""

import os
import sys
from pathlib import Path

import pytest
from conftest import assert_one_line_error, rlrun, summary

MY_MODULE = '''
import gymnasium as gym
import numpy as np


class MyEnv(gym.Env):
    """Five steps; reward 1 for action 1."""

    observation_space = gym.spaces.Box(-1.0, 1.0, (2,), np.float32)
    action_space = gym.spaces.Discrete(2)

    def reset(self, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return np.zeros(2, np.float32), {}

    def step(self, action):
        self.t += 1
        return np.zeros(2, np.float32), float(action), self.t >= 5, False, {}


gym.register("MyEnv-v0", entry_point=MyEnv)
'''


def console_script(*args: str, cwd: Path):
    """The installed `rlrun` script, as a user runs it: its sys.path starts at its own folder (unlike
    `python -m rlrun`, which puts the working directory first); PYTHONPATH is not set."""
    import subprocess

    script = Path(sys.executable).parent / "rlrun"
    environ = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "HYDRA_FULL_ERROR")}
    return subprocess.run(
        [str(script), *args], cwd=cwd, env=environ, capture_output=True, text=True, timeout=600
    )


@pytest.mark.skipif(not (Path(sys.executable).parent / "rlrun").exists(), reason="needs the console script")
def test_an_env_module_in_the_working_directory(workdir):
    (workdir / "my_module.py").write_text(MY_MODULE)
    result = console_script(
        "train", "algo=pg", "env=gym", "env.id=my_module:MyEnv-v0", "algo.N=4", "total_steps=100",
        "eval.episodes=2", "hydra.run.dir=run", cwd=workdir,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert summary(workdir / "run")["env"] == "my_module:MyEnv-v0"
    played = console_script("eval", "run", "episodes=2", cwd=workdir)
    assert played.returncode == 0, played.stderr


@pytest.mark.skipif(not (Path(sys.executable).parent / "rlrun").exists(), reason="needs the console script")
def test_a_missing_env_module_says_where_it_looked(workdir):
    result = console_script("train", "env=gym", "env.id=not_my_module:MyEnv-v0", cwd=workdir)
    assert_one_line_error(
        result, f"env.id: cannot import module 'not_my_module' (looked in sys.path and {workdir})", workdir
    )


@pytest.fixture(scope="module")
def gymnasium_run(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("shifted")
    result = rlrun("train", "total_steps=256", "eval.episodes=1", "hydra.run.dir=run", cwd=workdir)
    assert result.returncode == 0, result.stderr
    return workdir / "run"


def test_a_parameter_only_the_torch_backend_has(gymnasium_run):
    cwd = gymnasium_run.parent
    result = rlrun("eval", str(gymnasium_run), "env.kwargs.length=1.5", cwd=cwd)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "rlrun: error: env.kwargs.length: CartPole-v1 on the gymnasium backend has no parameter 'length' "
        "(it takes: sutton_barto_reward, render_mode); the torch backend has it: add env.backend=torch "
        "(parameters: gravity, masscart, masspole, length, force_mag)"
    ]
    shifted = rlrun("eval", str(gymnasium_run), "env.backend=torch", "env.kwargs.length=1.5", cwd=cwd)
    assert shifted.returncode == 0, shifted.stderr
    assert "rlrun eval: ppo on CartPole-v1" in shifted.stdout


def test_a_parameter_neither_backend_has(gymnasium_run):
    result = rlrun("eval", str(gymnasium_run), "env.kwargs.colour=1", cwd=gymnasium_run.parent)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "rlrun: error: env.kwargs.colour: CartPole-v1 on the gymnasium backend has no parameter 'colour' "
        "(it takes: sutton_barto_reward, render_mode)"
    ]
