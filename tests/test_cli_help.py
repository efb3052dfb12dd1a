"""Every command answers --help with its usage and keys; rlrun --version; the device and tuned
options are documented where users look."""

from importlib.metadata import version

import pytest
from conftest import TESTS, rlrun

from rlrun.cli import COMMAND_HELP, main

ROOT = TESTS.parent


@pytest.mark.parametrize("command", ["eval", "summarize", "plot", "collect"])
@pytest.mark.parametrize("flag", ["--help", "-h"])
def test_each_command_prints_its_usage_and_keys(command, flag, capsys):
    assert main([command, flag]) == 0
    out, err = capsys.readouterr()
    assert out.startswith(f"usage: rlrun {command} ") and err == ""
    assert out == COMMAND_HELP[command]
    if command != "summarize":
        assert "\nkeys:\n" in out


def test_help_comes_before_any_other_argument(capsys):
    # `rlrun eval --help` used to take --help for a run dir
    assert main(["eval", "outputs/x", "--help"]) == 0
    assert capsys.readouterr().out.startswith("usage: rlrun eval RUN_DIR")
    assert main(["help", "plot"]) == 0
    assert capsys.readouterr().out.startswith("usage: rlrun plot DIR...")


def test_every_key_a_command_takes_is_in_its_help():
    for command, keys in {
        "eval": ["episodes=", "video=", "device=", "seed=", "env.KEY=VALUE"],
        "plot": ["tag=", "group=", "panel=", "smooth=", "band=", "out="],
        "collect": ["transitions=", "epsilon=", "out=", "seed=", "num_envs=", "device="],
    }.items():
        for key in keys:
            assert key in COMMAND_HELP[command], (command, key)


def test_version_through_the_cli(workdir):
    result = rlrun("--version", cwd=workdir)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"rlrun {version('rlrun')} (Python ")


def test_train_help_documents_cuda_index_tuned_none_and_progress(workdir):
    result = rlrun("train", "--help", cwd=workdir)
    assert result.returncode == 0, result.stderr
    for text in ("device.type=cuda:N", "tuned=none", "progress=false"):
        assert text in result.stdout, text
    for option in ("auto", "cpu", "cuda"):
        assert "cuda:N" in (ROOT / "conf" / "device" / f"{option}.yaml").read_text(), option
