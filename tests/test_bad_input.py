"""Every user mistake ends before training, with a non-zero exit and one line that names the key."""

import pytest
from conftest import assert_one_line_error, rlrun, rlrun_in_process

CASES = [
    # (overrides, text the one line must contain)
    (["algo.foo=1"], "algo.foo: unknown key; allowed: name, N, K, S, lr"),
    (["+algo.foo=1"], "algo.foo: unknown key"),
    (["foo=1"], "foo: unknown key; allowed: algo, env, device, seed"),
    (["algo.lr=abc"], "algo.lr: Value 'abc' of type 'str' could not be converted to Float"),
    (["algo.lr=-1"], "algo.lr: must be > 0"),
    (["algo.clip=2"], "algo.clip: must be in (0, 1)"),
    (["algo.N=0"], "algo.N: must be an integer > 0"),
    (["algo.N=100"], "algo.N: must be a multiple of env.num_envs=8"),
    (["algo.S=3"], "algo.S: must divide algo.N=256"),
    (["algo.gamma=1.5"], "algo.gamma: must be in (0, 1]"),
    (["algo=nope"], "algo=nope: no such option; choose one of: ac, "),
    (["env=Nope"], "env=Nope: no such option; choose one of: Acrobot, Atari, Box2D, CartPole"),
    (["env=gym"], "env.id: a value is required"),
    (["env=gym", "env.id=NoSuchEnv-v0"], "env.id: 'NoSuchEnv-v0' is not a registered gymnasium id"),
    (["env=gym", "env.id=CartPol-v1"], "did you mean CartPole-v1"),
    (["env.vector=threads"], "env.vector: must be sync or async"),
    (["env.num_envs=0"], "env.num_envs: must be > 0"),
    (["device=cuda"], "device: cuda asked for, but torch.cuda.is_available() is False"),
    (["device=tpu"], "device=tpu: no such option; choose one of: auto, cpu, cuda"),
    (["env=gym", "env.id=Blackjack-v1"], "env.id: algo=ppo needs a Box or Discrete observation space"),
    (["env=gym", "env.id=fake_envs:MultiDiscreteToy-v0"], "env.id: algo=ppo needs a Discrete or Box action"),
    (["env=gym", "env.id=no_such_module:X-v0"], "env.id: cannot import module 'no_such_module'"),
    (["eval.episodes=0"], "eval.episodes: must be > 0"),
    (["total_steps=-5"], "total_steps: must be > 0"),
    (["resume=/nonexistent/run"], "resume: /nonexistent/run holds no checkpoint.pt"),
    (["algo.lr=("], "Error parsing override 'algo.lr=('"),
    # pg's and ac's own keys
    (["algo=pg", "algo.baseline=median"], "algo.baseline: must be none, mean or value, got 'median'"),
    (["algo=pg", "algo.value_target=td"], "algo.value_target: must be mc or bootstrap"),
    (["algo=pg", "algo.baseline=mean", "algo.gae_lambda=0.9"], "algo.gae_lambda: needs algo.baseline=value"),
    (["algo=pg", "algo.N=0"], "algo.N: must be an integer > 0"),
    (["algo=pg", "algo.clip=0.2"], "algo.clip: unknown key; allowed: name, N, S, lr"),
    (["algo=ac", "algo.n_steps=9"], "algo.n_steps: must be in [1, algo.N/env.num_envs=5]"),
    (["algo=ac", "algo.N=12"], "algo.N: must be a multiple of env.num_envs=8"),
    (["algo=ac", "algo.critic_lr=0"], "algo.critic_lr: must be > 0"),
]


@pytest.mark.parametrize("overrides,expected", CASES, ids=[" ".join(c[0]) for c in CASES])
def test_bad_input_gives_one_line_and_nonzero_exit(overrides, expected, workdir):
    assert_one_line_error(rlrun_in_process("train", *overrides, cwd=workdir), expected, workdir)


@pytest.mark.parametrize("overrides,expected", CASES[:2], ids=[" ".join(c[0]) for c in CASES[:2]])
def test_bad_input_through_the_console_script(overrides, expected, workdir):
    assert_one_line_error(rlrun("train", *overrides, cwd=workdir, timeout=120), expected, workdir)


def test_full_error_env_var_shows_the_stack_trace(workdir):
    result = rlrun("train", "algo.lr=-1", cwd=workdir, env={"HYDRA_FULL_ERROR": "1"})
    assert result.returncode != 0
    assert "Traceback" in result.stderr and "algo.lr: must be > 0" in result.stderr


def test_eval_of_a_folder_that_is_not_a_run_dir(workdir):
    result = rlrun("eval", str(workdir), cwd=workdir)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"rlrun: error: RUN_DIR: {workdir} is not a finished or checkpointed run dir "
        "(needs .hydra/config.yaml and checkpoint.pt)"
    ]


def test_unknown_command(workdir):
    result = rlrun("trian", cwd=workdir)
    assert result.returncode == 2
    assert (
        result.stderr.strip()
        == "rlrun: error: unknown command 'trian'; choose one of: train, eval, summarize, plot, collect"
    )


def test_an_output_dir_that_cannot_be_made(workdir):
    result = rlrun("train", "hydra.run.dir=/proc/rlrun-test-run", "total_steps=256", cwd=workdir)
    assert result.returncode == 1
    assert (
        result.stderr.strip().splitlines()[-1]
        == "rlrun: error: /proc/rlrun-test-run: No such file or directory"
    )
