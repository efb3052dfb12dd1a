"""A missing optional dependency is named with the extra that brings it and the exact command that
installs it. Absence is simulated (tests/without_modules.py), nothing is uninstalled."""

import tomllib
from pathlib import Path

import pytest
from conftest import TESTS, assert_one_line_error, rlrun

from rlrun.extras import EXTRAS, install_command

ROOT = TESTS.parent


def rlrun_without(modules: list[str], *args: str, cwd: Path):
    # `-m without_modules` takes the place of rlrun's own `-m rlrun`
    return rlrun(*args, cwd=cwd, python_args=["-m", "without_modules", ",".join(modules)])


def test_install_command_is_the_editable_one_from_the_clone(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert install_command("box2d") == f'cd {ROOT} && pip install -e ".[box2d]"'
    monkeypatch.chdir(ROOT)
    assert install_command("box2d") == 'pip install -e ".[box2d]"'


def test_every_extra_in_pyproject_is_described():
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    assert set(extras) == set(EXTRAS)
    docs = "".join(p.read_text() for p in [ROOT / "README.md", *ROOT.glob("docs/**/*.md")])
    for extra in EXTRAS:
        assert f'pip install -e ".[{extra}]"' in docs, f"the table of extras (README or docs/) lacks {extra}"


@pytest.mark.parametrize(
    "hidden, args, option, extra",
    [
        (["hydra_plugins.hydra_joblib_launcher"], ["-m", "hydra/launcher=joblib", "seed=0,1"],
         "hydra/launcher=joblib", "sweep"),
        (["hydra_plugins.hydra_submitit_launcher"], ["-m", "hydra/launcher=submitit_slurm"],
         "hydra/launcher=submitit_slurm", "sweep"),
        (["hydra_plugins.hydra_optuna_sweeper"], ["-m", "hydra/sweeper=optuna"],
         "hydra/sweeper=optuna", "sweep"),
        (["hydra_plugins.hydra_optuna_sweeper"], ["-m", "hparams_search=ppo_CartPole"],
         "hydra/sweeper=optuna", "sweep"),
        (["hydra_plugins.hydra_ray_launcher"], ["-m", "hydra/launcher=ray"], "hydra/launcher=ray", "ray"),
    ],
)  # fmt: skip
def test_a_missing_hydra_plugin_names_its_extra(workdir, hidden, args, option, extra):
    result = rlrun_without(hidden, "train", *args, "total_steps=10", cwd=workdir)
    assert_one_line_error(result, f"{option}: this option needs the '{extra}' extra", workdir)
    assert f'pip install -e ".[{extra}]"' in result.stderr
    assert "installed: basic" in result.stderr  # what there is instead


@pytest.mark.parametrize(
    "hidden, env_id, extra",
    [(["Box2D"], "LunarLander-v3", "box2d"), (["mujoco"], "HalfCheetah-v5", "mujoco"),
     (["ale_py"], "ALE/Breakout-v5", "atari")],
)  # fmt: skip
def test_an_env_of_a_missing_extra_names_it(workdir, hidden, env_id, extra):
    result = rlrun_without(hidden, "train", "env=gym", f"env.id={env_id}", cwd=workdir)
    assert_one_line_error(result, f"env.id: {env_id} needs the '{extra}' extra", workdir)
    assert f'pip install -e ".[{extra}]"' in result.stderr


def test_video_without_moviepy_names_the_video_extra(workdir):
    run_dir = workdir / "run"  # evaluate_run checks for moviepy before it loads anything
    (run_dir / ".hydra").mkdir(parents=True)
    (run_dir / ".hydra" / "config.yaml").write_text("{}\n")
    (run_dir / "checkpoint.pt").write_bytes(b"")
    cwd = workdir / "cwd"
    cwd.mkdir()
    result = rlrun_without(["moviepy"], "eval", str(run_dir), "video=true", cwd=cwd)
    assert_one_line_error(result, "video: video=true (moviepy) needs the 'video' extra", cwd)
    assert 'pip install -e ".[video]"' in result.stderr


def test_the_helper_hides_only_what_it_is_told(workdir):
    result = rlrun_without([], "--version", cwd=workdir)
    assert result.returncode == 0 and result.stdout.startswith("rlrun "), result.stderr
