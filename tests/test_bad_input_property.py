"""Property-based: whatever wrong type, out-of-range number, unknown key or unknown group option
reaches `rlrun train`, it ends before training with a non-zero exit and one line naming the key."""

import copy
import os
import string
import tempfile
from pathlib import Path

import pytest
from conftest import assert_one_line_error, rlrun, rlrun_in_process
from hydra import compose, initialize_config_module
from hydra.core.override_parser.overrides_parser import OverridesParser
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from omegaconf import DictConfig, OmegaConf

from rlrun.config import describe_error, is_user_error, parse_config, register_configs

NUMERIC_KEYS = {
    # key: (type, predicate that holds for every *allowed* value)
    "algo.lr": (float, lambda x: x > 0),
    "algo.gamma": (float, lambda x: 0 < x <= 1),
    "algo.gae_lambda": (float, lambda x: 0 <= x <= 1),
    "algo.clip": (float, lambda x: 0 < x < 1),
    "algo.vf_coef": (float, lambda x: x >= 0),
    "algo.max_grad_norm": (float, lambda x: x > 0),
    "algo.N": (int, lambda x: x > 0),
    "algo.K": (int, lambda x: x > 0),
    "algo.S": (int, lambda x: x > 0),
    "env.num_envs": (int, lambda x: x > 0),
    "total_steps": (int, lambda x: x > 0),
    "eval.episodes": (int, lambda x: x > 0),
    "checkpoint.every": (int, lambda x: x > 0),
    "seed": (int, lambda x: x >= 0),
}
KNOWN = {
    "ppo",
    "pg",
    "ac",
    "fqi",
    "CartPole",
    "Acrobot",
    "MountainCar",
    "MountainCarContinuous",
    "Pendulum",
    "gym",
}
KNOWN |= {"vi", "pi", "FrozenLake", "Taxi", "CliffWalking", "RandomMDP", "GridWorld"}  # tabular
KNOWN |= {"auto", "cpu", "cuda", "true", "false", "null", "nan", "inf", "yes", "no", "on", "off"}
words = st.text(string.ascii_letters, min_size=1, max_size=10).filter(lambda w: w.lower() not in KNOWN)


@st.composite
def wrong_type(draw):
    return draw(st.sampled_from(sorted(NUMERIC_KEYS))), draw(words)


@st.composite
def out_of_range(draw):
    key = draw(st.sampled_from(sorted(NUMERIC_KEYS)))
    kind, allowed = NUMERIC_KEYS[key]
    numbers = st.integers(-(10**6), 10**6) if kind is int else st.floats(-1e6, 1e6, allow_nan=False)
    return key, draw(numbers.filter(lambda x: not allowed(x)))


@st.composite
def unknown_key(draw):
    prefix = draw(st.sampled_from(["", "algo.", "env.", "eval.", "checkpoint.", "device."]))
    return prefix + draw(words.filter(lambda w: w not in KNOWN_KEYS)), draw(st.integers(0, 9))


KNOWN_KEYS = {k.split(".")[-1] for k in NUMERIC_KEYS} | {
    "name", "anneal_lr", "anneal_clip", "clip_vloss", "ent_coef", "target_kl", "norm_adv", "normalize_obs",
    "normalize_reward", "hidden", "activation", "init_log_std", "id", "vector", "backend",
    "max_episode_steps", "kwargs", "type", "threads", "every", "deterministic", "stop_return",
    "resume", "algo", "env", "device", "eval", "checkpoint", "tuned", "hydra",
}  # fmt: skip


@st.composite
def unknown_option(draw):
    return draw(st.sampled_from(["algo", "env", "device"])), draw(words)


def check_one_line(override: str, names: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        assert_one_line_error(rlrun_in_process("train", override, cwd=Path(tmp)), names, Path(tmp))


FEW = settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FEW
@given(wrong_type())
def test_wrong_types(case):
    key, value = case
    check_one_line(f"{key}={value}", key)


@FEW
@given(out_of_range())
def test_out_of_range_numbers(case):
    key, value = case
    check_one_line(f"{key}={value}", key)


@FEW
@given(unknown_key())
def test_unknown_keys(case):
    key, value = case
    check_one_line(f"{key}={value}", key)


@FEW
@given(unknown_option())
def test_unknown_group_options(case):
    group, option = case
    check_one_line(f"{group}={option}", f"{group}={option}: no such option")


# Many more cases through the same checks in this process: Hydra composes the default config once
# (a composition takes about a second here), then each case applies its override to a copy with
# Hydra's own override parser, as `rlrun train` would, and must fail with one line naming the key.
MANY = settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.fixture(scope="module")
def composed() -> DictConfig:
    register_configs()
    with initialize_config_module("rlrun.conf", version_base="1.3"):
        return compose("config")


@MANY
@given(st.one_of(wrong_type(), out_of_range(), unknown_key()))
def test_many_bad_values_and_keys_are_refused_in_one_line(composed, case):
    assert_refused_in_one_line(composed, *case)


def assert_refused_in_one_line(composed: DictConfig, key: str, value: object) -> None:
    """The override key=value, applied as `rlrun train` would, ends in one line naming the key."""
    override = OverridesParser.create().parse_override(f"{key}={value}")
    cfg = copy.deepcopy(composed)
    with pytest.raises(Exception) as caught:
        OmegaConf.update(cfg, override.key_or_group, override.value(), merge=True)
        parse_config(cfg)
    line = describe_error(caught.value)
    assert is_user_error(caught.value), line
    assert "\n" not in line and line.startswith(f"{key}:"), line


# Huge numbers: no number key of ours means anything beyond float32's comfort or a 31-bit count.
@st.composite
def huge_number(draw):
    key = draw(st.sampled_from(sorted(NUMERIC_KEYS)))
    kind, _ = NUMERIC_KEYS[key]
    sign = draw(st.sampled_from([1, -1]))
    if kind is int:
        return key, sign * draw(st.integers(2**62, 2**100))
    return key, sign * draw(st.floats(1e16, 1e300))


@MANY
@given(huge_number())
def test_huge_numbers_are_refused_in_one_line(composed, case):
    assert_refused_in_one_line(composed, *case)


# Wrong types inside env.kwargs, on either backend: refused before any step, naming the key.
@FEW
@given(
    st.sampled_from(["env=Pendulum +env.kwargs.g", "env=CartPole env.backend=torch +env.kwargs.length"]),
    words,
)
def test_wrong_types_inside_env_kwargs(prefix, word):
    *group, key = prefix.split()
    with tempfile.TemporaryDirectory() as tmp:
        result = rlrun_in_process("train", *group, f"{key}={word}", "total_steps=64", cwd=Path(tmp))
        assert_one_line_error(result, key.lstrip("+"), Path(tmp))


# The other commands' arguments: unknown keys and values of the wrong type end in one line.
SOME = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


@SOME
@given(
    command=st.sampled_from(["eval", "collect", "plot", "summarize"]),
    argument=st.one_of(
        words.map(lambda w: f"{w}=1"), st.sampled_from(["episodes", "seed", "smooth"]).map(lambda k: f"{k}=x")
    ),
)
def test_other_commands_refuse_bad_arguments_in_one_line(command, argument, tmp_path_factory, capsys):
    from rlrun.cli import main

    folder = tmp_path_factory.mktemp("args")
    (folder / "notes.txt").write_text("a file\n")
    target = {"eval": "notes.txt", "collect": "env=CartPole", "plot": "notes.txt", "summarize": "notes.txt"}
    cwd = os.getcwd()
    os.chdir(folder)
    try:
        code = main([command, target[command], argument])
    finally:
        os.chdir(cwd)
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and err[0].startswith("rlrun: error: "), (code, err)


# Paths that are files, and run files that are not what they claim, for every command reading them.
FILE_CASES = [
    ["train", "resume=notes.txt"],
    ["train", "hydra.run.dir=notes.txt/run"],
    ["eval", "notes.txt"],
    ["collect", "notes.txt", "transitions=8"],
    ["eval", "broken"],
    ["train", "resume=broken"],
    ["collect", "broken", "transitions=8"],
]


@pytest.mark.parametrize("args", FILE_CASES, ids=" ".join)
def test_paths_that_are_files_and_malformed_run_files(args, tmp_path):
    (tmp_path / "notes.txt").write_text("a file\n")
    broken = tmp_path / "broken"
    (broken / ".hydra").mkdir(parents=True)
    (broken / ".hydra" / "config.yaml").write_text("algo: [unclosed\n")
    (broken / ".hydra" / "overrides.yaml").write_text("- seed=0\n")
    (broken / "checkpoint.pt").write_bytes(os.urandom(256))
    before = sorted(str(p) for p in tmp_path.rglob("*"))
    result = rlrun(*args, cwd=tmp_path, timeout=120)
    lines = [line for line in (result.stdout + result.stderr).splitlines() if line.strip()]
    assert result.returncode == 2 and len(lines) == 1 and lines[0].startswith("rlrun: error: "), lines
    assert sorted(str(p) for p in tmp_path.rglob("*")) == before
