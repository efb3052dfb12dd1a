"""`tuned=` is checked: an option that does not exist, null, or settings of another algorithm end in
one line naming `tuned` and the options for this algo and env; tuned=none trains untuned."""

import pytest
from conftest import assert_one_line_error, rlrun, rlrun_in_process
from omegaconf import OmegaConf

from rlrun.config import describe_error


@pytest.mark.parametrize(
    "args, expected",
    [
        (["tuned=foo"], "tuned: 'foo' is not an option; options for algo=ppo: ppo_Acrobot, ppo_Atari, "
         "ppo_Box2D, ppo_CartPole, ppo_MountainCar, ppo_MuJoCo, ppo_Pendulum, or none to train without "
         "tuned settings (default for env=CartPole: ppo_CartPole)"),
        (["tuned=null"], "tuned: null is not an option; options for algo=ppo: "),
        (["algo=pg", "tuned=ppo_Pendulum"], "tuned: ppo_Pendulum holds settings for algo=ppo, not algo=pg; "
         "no tuned settings are shipped for algo=pg: leave tuned out, or tuned=none"),
        (["algo=fqi", "env=Acrobot", "tuned=fqi_Cartpole"], "tuned: 'fqi_Cartpole' is not an option; options "
         "for algo=fqi: fqi_Acrobot, fqi_Atari, fqi_CartPole, or none to train without tuned settings "
         "(default for env=Acrobot: fqi_Acrobot)"),
        (["-m", "algo=ac,ppo", "tuned=ppo_CartPole"], "tuned: ppo_CartPole holds settings for algo=ppo, "
         "not algo=ac"),
    ],
)  # fmt: skip
def test_a_bad_tuned_choice_is_one_line(workdir, args, expected):
    result = rlrun_in_process("train", *args, "total_steps=256", cwd=workdir)
    assert_one_line_error(result, expected, workdir)


def test_tuned_none_trains_on_the_plain_defaults(workdir):
    result = rlrun(
        "train", "tuned=none", "total_steps=2048", "eval.episodes=1", "hydra.run.dir=run", cwd=workdir
    )
    assert result.returncode == 0, result.stderr
    config = OmegaConf.load(workdir / "run" / ".hydra" / "config.yaml")
    assert (config.algo.N, config.algo.K, config.total_steps) == (2048, 10, 2048)  # ppo.yaml's, not tuned's


def test_tuned_settings_from_a_config_dir_are_accepted(workdir):
    (workdir / "mine" / "tuned").mkdir(parents=True)
    (workdir / "mine" / "tuned" / "ppo_Small.yaml").write_text("# @package _global_\nalgo:\n  N: 128\n")
    result = rlrun(
        "train", "--config-dir", "mine", "tuned=ppo_Small", "total_steps=128", "eval.episodes=1",
        "hydra.run.dir=run", cwd=workdir,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert OmegaConf.load(workdir / "run" / ".hydra" / "config.yaml").algo.N == 128


def test_a_composition_error_keeps_its_reason():
    from hydra.errors import ConfigCompositionException

    err = ConfigCompositionException(
        "In 'tuned/ppo_Pendulum': ConfigKeyError raised while composing config:\n"
        "Key 'K' not in 'PGConfig'\n    full_key: algo.K"
    )
    assert describe_error(err) == (
        "In 'tuned/ppo_Pendulum': ConfigKeyError raised while composing config: Key 'K' not in 'PGConfig'"
    )
