"""The robotics case study's perturbations (rlrun.envs.robustness): observation noise, action latency,
action noise and random-network perturbations change what the policy sees and what the env applies,
never the env's true state, rewards or termination."""

from __future__ import annotations

import pytest
import torch

from rlrun.envs.factory import make_envs
from rlrun.envs.robustness import RobustEnv
from rlrun.envs.torch_envs import make_torch_env
from rlrun.errors import ConfigError
from rlrun.schema import EnvConfig, check_env

CPU = torch.device("cpu")


def torch_env(env_id: str = "CartPole-v1", **keys) -> EnvConfig:
    cfg = EnvConfig(id=env_id, backend="torch")
    for key, value in keys.items():
        group, _, name = key.partition("__")
        if name:
            setattr(getattr(cfg, group), name, value)
        else:
            setattr(cfg, key, value)
    check_env(cfg)
    return cfg


def record_applied(envs: RobustEnv) -> list[torch.Tensor]:
    """The actions the inner env receives, step by step."""
    applied, step = [], envs.envs.step

    def recording(actions):
        applied.append(actions.clone())
        return step(actions)

    envs.envs.step = recording
    return applied


def test_everything_off_by_default_is_the_bare_env():
    envs = make_envs(torch_env(), 4, CPU)
    assert not isinstance(envs, RobustEnv)


@pytest.mark.parametrize("subset", [True, False], ids=["cpu-way", "cuda-way"])
def test_correlated_noise_is_constant_within_an_episode_and_redrawn_at_reset(subset):
    envs = make_envs(torch_env(obs_noise__correlated=0.5), 32, CPU)
    envs = envs if subset else no_subset(envs)
    obs, _ = envs.reset(seed=0)
    offset = obs - envs.envs.state.float()  # CartPole's observation is its state
    assert offset.abs().min() > 0
    resets = 0
    for _ in range(60):
        obs, _, terminated, truncated, info = envs.step(torch.randint(0, 2, (32,)))
        done = terminated | truncated
        now = obs - envs.envs.state.float()
        assert torch.allclose(now[~done], offset[~done], atol=1e-6), "constant within an episode"
        assert ((now[done] - offset[done]).abs() > 1e-4).all(), "redrawn at reset"
        ended = info["_final_obs"]
        # the ended episode's last observation carries that episode's offset
        assert torch.equal(info["final_obs"][~ended], obs[~ended])
        resets += int(done.sum())
        offset = now
    assert resets > 10


def test_noise_never_touches_the_true_state_rewards_or_termination():
    cfg = torch_env(obs_noise__correlated=0.3, obs_noise__uncorrelated=0.2)
    noisy, bare = make_envs(cfg, 16, CPU), make_torch_env("CartPole-v1", 16)
    noisy.reset(seed=3)
    bare.reset(seed=3)
    for _ in range(80):
        actions = torch.randint(0, 2, (16,))
        _, r1, te1, tr1, i1 = noisy.step(actions)
        obs, r2, te2, tr2, i2 = bare.step(actions)
        assert torch.equal(r1, r2) and torch.equal(te1, te2) and torch.equal(tr1, tr2)
        assert torch.equal(noisy.envs.state, bare.state)
        assert torch.equal(i1["episode"]["r"], i2["episode"]["r"])


def test_uncorrelated_noise_is_drawn_every_step_with_its_scale():
    envs = make_envs(torch_env(obs_noise__uncorrelated=0.1), 4096, CPU)
    obs, _ = envs.reset(seed=0)
    first = obs - envs.envs.state.float()
    obs, *_ = envs.step(torch.zeros(4096, dtype=torch.int64))
    second = obs - envs.envs.state.float()
    assert abs(float(first.std()) - 0.1) < 0.005 and abs(float(second.std()) - 0.1) < 0.005
    assert abs(float(torch.corrcoef(torch.stack((first.flatten(), second.flatten())))[0, 1])) < 0.05


def test_noise_scales_are_randomised_per_env_at_each_reset():
    envs = make_envs(torch_env(obs_noise__correlated=[0.1, 0.3], latency=[0, 3]), 256, CPU)
    envs.reset(seed=1)
    scale, k = envs.per_env("obs_noise.correlated"), envs.per_env("latency")
    assert 0.1 <= float(scale.min()) < 0.12 and 0.28 < float(scale.max()) <= 0.3
    assert set(k.tolist()) == {0.0, 1.0, 2.0, 3.0}


def no_subset(envs: RobustEnv) -> RobustEnv:
    """The way a CUDA env renews episodes (every env draws, torch.where keeps), run on the CPU."""
    envs.subset = envs.envs.subset_reset = False
    return envs


@pytest.mark.parametrize("subset", [True, False], ids=["cpu-way", "cuda-way"])
@pytest.mark.parametrize("latency", [1, 3, [0, 4]])
def test_latency_k_delays_actions_by_exactly_k_steps(latency, subset):
    envs = make_envs(torch_env(latency=latency), 8, CPU)
    envs = envs if subset else no_subset(envs)
    applied = record_applied(envs)
    envs.reset(seed=0)
    episode = [[] for _ in range(8)]  # each env's actions in its current episode
    generator = torch.Generator().manual_seed(0)
    for _ in range(60):
        k = envs.per_env("latency").long().tolist()
        actions = torch.randint(0, 2, (8,), generator=generator)
        for i in range(8):
            episode[i].append(int(actions[i]))
        _, _, terminated, truncated, _ = envs.step(actions)
        for i in range(8):
            t = len(episode[i]) - 1  # this step's index in the episode
            expected = episode[i][max(t - k[i], 0)]  # the first action while the episode is younger than k
            assert int(applied[-1][i]) == expected, (i, t, k[i])
            if terminated[i] or truncated[i]:
                episode[i] = []


def test_action_noise_adds_gaussian_noise_to_continuous_actions():
    envs = make_envs(torch_env("Pendulum-v1", action_noise=0.2), 4096, CPU)
    applied = record_applied(envs)
    envs.reset(seed=0)
    actions = torch.full((4096, 1), 0.5)
    envs.step(actions)
    noise = applied[-1] - actions
    assert abs(float(noise.mean())) < 0.02 and abs(float(noise.std()) - 0.2) < 0.01


def test_random_network_perturbation_is_one_network_per_env_per_episode():
    weak = make_envs(torch_env(perturb__strength=0.1), 64, CPU)
    strong = make_envs(torch_env(perturb__strength=0.2), 64, CPU)
    seen_weak, _ = weak.reset(seed=5)
    seen_strong, _ = strong.reset(seed=5)
    true = weak.envs.state.float()
    assert torch.allclose(seen_strong - true, 2 * (seen_weak - true), atol=1e-6), "output x strength"
    w1 = weak.episode["net.w1"].clone()
    assert w1.shape == (64, 4, 16) and not torch.equal(w1[0], w1[1]), "one network per env"
    for _ in range(40):
        _, _, terminated, truncated, _ = weak.step(torch.randint(0, 2, (64,)))
        done = terminated | truncated
        same = (weak.episode["net.w1"] == w1).flatten(1).all(1)
        assert torch.equal(same, ~done), "redrawn exactly at reset"
        w1 = weak.episode["net.w1"].clone()


def test_random_network_perturbation_of_actions():
    envs = make_envs(torch_env("Pendulum-v1", perturb__strength=0.5, perturb__target="action"), 8, CPU)
    applied = record_applied(envs)
    obs, _ = envs.reset(seed=0)
    actions = torch.zeros(8, 1)
    envs.step(actions)
    expected = envs._perturbation(obs)
    assert torch.allclose(applied[-1], expected) and expected.abs().min() > 0


def test_a_resumed_wrapper_continues_exactly():
    cfg = torch_env(
        obs_noise__correlated=0.1, obs_noise__uncorrelated=0.1, latency=[0, 2], perturb__strength=0.1
    )
    a, b = make_envs(cfg, 16, CPU), make_envs(cfg, 16, CPU)
    a.reset(seed=0)
    for _ in range(30):
        a.step(torch.randint(0, 2, (16,)))
    b.load_state_dict(a.state_dict())
    for _ in range(30):
        actions = torch.randint(0, 2, (16,))
        oa, ra, *_ = a.step(actions)
        ob, rb, *_ = b.step(actions)
        assert torch.equal(oa, ob) and torch.equal(ra, rb)


@pytest.mark.parametrize(
    ("keys", "key"),
    [
        ({"latency": -1}, "env.latency"),
        ({"latency": 1.5}, "env.latency"),
        ({"obs_noise__correlated": [0.3, 0.1]}, "env.obs_noise.correlated"),
        ({"action_noise": "big"}, "env.action_noise"),
        ({"perturb__target": "reward"}, "env.perturb.target"),
    ],
)
def test_bad_values_name_their_key(keys, key):
    with pytest.raises(ConfigError) as err:
        torch_env(**keys)
    assert err.value.key == key


def test_the_knobs_need_the_torch_backend_and_continuous_actions_where_they_act_on_them():
    with pytest.raises(ConfigError) as err:
        check_env(EnvConfig(id="CartPole-v1", latency=2))
    assert err.value.key == "env.latency" and "env.backend=torch" in str(err.value)
    with pytest.raises(ConfigError) as err:
        make_envs(torch_env(action_noise=0.1), 4, CPU)
    assert err.value.key == "env.action_noise"
    with pytest.raises(ConfigError) as err:
        make_envs(torch_env(perturb__strength=0.1, perturb__target="action"), 4, CPU)
    assert err.value.key == "env.perturb.target"


def test_a_bad_knob_is_one_line_on_the_command_line(tmp_path):
    from conftest import assert_one_line_error, rlrun

    result = rlrun("train", "env=CartPole", "env.backend=torch", "env.latency=[3,1]", cwd=tmp_path)
    assert_one_line_error(result, "env.latency: must be a number >= 0 or [low, high]", tmp_path)
    result = rlrun("train", "env=CartPole", "env.obs_noise.correlated=0.1", cwd=tmp_path)
    assert_one_line_error(result, "env.obs_noise.correlated: needs env.backend=torch", tmp_path)
