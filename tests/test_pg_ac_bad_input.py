"""pg's and ac's own mistakes end before training in one line that names the key."""

import pytest
from conftest import assert_one_line_error, rlrun

CASES = [
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
    assert_one_line_error(rlrun("train", *overrides, cwd=workdir, timeout=120), expected, workdir)
