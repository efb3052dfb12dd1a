"""The batched torch envs (rlrun/envs/torch_envs.py) against gymnasium's own envs.

Faithfulness: a float64 batched env and E gymnasium envs are put into the same states and stepped
with the same actions; next states agree within 1e-9, observations and rewards (float32) within
float32 rounding, terminated and truncated exactly. The random start states of the two differ,
so each gymnasium env is put into the batched env's new state after every reset. Acrobot is
re-synchronised after every step: it is chaotic, and the last-bit differences between numpy's and
torch's sin/cos grow past 1e-9 within a few hundred steps (each single step agrees to ~1e-15).
"""

from __future__ import annotations

import io
import math

import gymnasium as gym
import numpy as np
import pytest
import torch

from rlrun.bellman import expected_episode_return
from rlrun.envs.tabular import TabularModel, tabular_model
from rlrun.envs.torch_envs import TORCH_ENVS, TorchVectorEnv, make_tabular_sample_env, make_torch_env
from rlrun.errors import ConfigError
from rlrun.schema import FrozenLakeEnvConfig

torch.set_num_threads(1)  # the test machine is shared; one thread is also the fastest here

ENV_IDS = list(TORCH_ENVS)
TIME_LIMITS = {
    "CartPole-v1": 500,
    "Acrobot-v1": 500,
    "MountainCar-v0": 200,
    "MountainCarContinuous-v0": 999,
    "Pendulum-v1": 200,
}
# gymnasium attribute names of the batched envs' parameters (where they differ)
GYM_ATTRS = {
    "link_length_1": "LINK_LENGTH_1",
    "link_length_2": "LINK_LENGTH_2",
    "link_mass_1": "LINK_MASS_1",
    "link_mass_2": "LINK_MASS_2",
    "link_com_pos_1": "LINK_COM_POS_1",
    "link_com_pos_2": "LINK_COM_POS_2",
    "link_moi": "LINK_MOI",
}


# ---------------------------------------------------------------------------------- helpers
def is_box(env: TorchVectorEnv) -> bool:
    return isinstance(env.single_action_space, gym.spaces.Box)


def random_actions(env: TorchVectorEnv, steps: int, seed: int = 0, spread: float = 1.5) -> np.ndarray:
    """[steps, E] discrete actions, or [steps, E, 1] float32 ones up to `spread` times beyond the
    bounds (to exercise clipping)."""
    rng = np.random.default_rng(seed)
    space = env.single_action_space
    if is_box(env):
        high = float(space.high[0]) * spread
        return rng.uniform(-high, high, size=(steps, env.num_envs, 1)).astype(np.float32)
    return rng.integers(0, space.n, size=(steps, env.num_envs))


def set_gym_params(genv: gym.Env, env: TorchVectorEnv, i: int) -> None:
    """Give gymnasium env `genv` the physical constants of batched env row i."""
    u = genv.unwrapped
    for name, value in env.params.items():
        if name == "gravity" and env.env_id in ("Acrobot-v1", "MountainCarContinuous-v0"):
            assert math.isclose(value[i], env.default_params[name], rel_tol=1e-7), "gymnasium hard-codes it"
            continue
        setattr(u, GYM_ATTRS.get(name, name), float(value[i]))
    if env.env_id == "CartPole-v1":  # gymnasium derives these once, in __init__
        u.total_mass = u.masspole + u.masscart
        u.polemass_length = u.masspole * u.length


def sync(genv: gym.Env, env: TorchVectorEnv, i: int) -> None:
    """Put gymnasium env `genv` into batched env row i's state, keeping gymnasium's state dtype
    (MountainCarContinuous computes in float32 from a float32 state, in float64 from a fresh one)."""
    u = genv.unwrapped
    dtype = np.asarray(u.state).dtype if u.state is not None else np.float64
    u.state = env.state[i].numpy().astype(dtype)
    set_gym_params(genv, env, i)


def gym_envs(env: TorchVectorEnv, **make_kwargs) -> list[gym.Env]:
    """gymnasium envs (with their TimeLimit) in the batched env's states and parameters."""
    envs = []
    for i in range(env.num_envs):
        genv = gym.make(env.env_id, max_episode_steps=env.max_episode_steps, **make_kwargs)
        genv.reset(seed=i)
        genv.unwrapped.state = env.state[i].numpy().copy()  # float64, as after gymnasium's reset
        set_gym_params(genv, env, i)
        envs.append(genv)
    return envs


def lockstep(
    env: TorchVectorEnv,
    genvs: list[gym.Env],
    actions: np.ndarray,
    resync_every_step: bool = False,
    state_atol: float = 1e-9,
    state_rtol: float = 0.0,
    rtol: float = 1e-6,
    atol: float = 1e-7,
) -> dict[str, np.ndarray]:
    """Step both with the same actions and compare; returns what happened (for edge checks)."""
    box = is_box(env)
    record: dict[str, list] = {"terminated": [], "truncated": [], "state": [], "final_obs": [], "reward": []}
    for a in actions:
        obs, reward, terminated, truncated, info = env.step(torch.as_tensor(a))
        results = [genv.step(a[i] if box else int(a[i])) for i, genv in enumerate(genvs)]
        g_obs = np.stack([r[0] for r in results])
        g_reward = np.array([r[1] for r in results], dtype=np.float64)
        g_terminated = np.array([r[2] for r in results])
        g_truncated = np.array([r[3] for r in results])
        np.testing.assert_array_equal(terminated.numpy(), g_terminated)
        np.testing.assert_array_equal(truncated.numpy(), g_truncated)
        np.testing.assert_allclose(info["final_obs"].numpy(), g_obs, rtol=rtol, atol=atol)
        np.testing.assert_allclose(reward.numpy(), g_reward.astype(np.float32), rtol=rtol, atol=atol)
        done = g_terminated | g_truncated
        g_state = np.stack([np.asarray(genv.unwrapped.state, dtype=np.float64) for genv in genvs])
        state = env.state.numpy()
        np.testing.assert_allclose(state[~done], g_state[~done], rtol=state_rtol, atol=state_atol)
        for i, genv in enumerate(genvs):
            if done[i]:
                genv.reset()
                genv.unwrapped.state = state[i].copy()  # a fresh (float64) state, as after reset
                set_gym_params(genv, env, i)
            elif resync_every_step:
                sync(genv, env, i)
        for key, value in zip(
            ("terminated", "truncated", "state", "final_obs", "reward"),
            (g_terminated, g_truncated, g_state, g_obs, g_reward),
            strict=True,
        ):
            record[key].append(value)
    return {key: np.stack(value) for key, value in record.items()}


def from_states(env_id: str, states: list[list[float]], **kwargs) -> tuple[TorchVectorEnv, list[gym.Env]]:
    """A float64 batched env in the given states, and gymnasium envs in the same ones."""
    env = make_torch_env(env_id, len(states), dtype=torch.float64, **kwargs)
    env.reset(seed=0)
    env.set_state(torch.tensor(states, dtype=torch.float64))
    return env, gym_envs(env)


# ---------------------------------------------------------------------------------- interface
@pytest.mark.parametrize("env_id", ENV_IDS)
def test_spaces_and_vector_interface_match_gymnasium(env_id):
    env = make_torch_env(env_id, 3)
    genv = gym.make(env_id)
    pairs = [
        (env.single_observation_space, genv.observation_space),
        (env.single_action_space, genv.action_space),
    ]
    for mine, theirs in pairs:
        assert type(mine) is type(theirs)
        if isinstance(theirs, gym.spaces.Box):
            assert mine.shape == theirs.shape and mine.dtype == theirs.dtype == np.float32
            np.testing.assert_array_equal(mine.low, theirs.low)
            np.testing.assert_array_equal(mine.high, theirs.high)
        else:
            assert mine.n == theirs.n
    assert env.observation_space == gym.vector.utils.batch_space(genv.observation_space, 3)
    assert env.action_space == gym.vector.utils.batch_space(genv.action_space, 3)
    assert isinstance(env, gym.vector.VectorEnv) and env.unwrapped is env and env.num_envs == 3
    assert env.metadata["autoreset_mode"] == gym.vector.AutoresetMode.SAME_STEP
    assert env.max_episode_steps == TIME_LIMITS[env_id] == env.spec.max_episode_steps
    assert make_torch_env(env_id, 3, max_episode_steps=7).spec.max_episode_steps == 7

    obs, info = env.reset(seed=1)
    assert obs.dtype == torch.float32 and obs.shape == (3, *genv.observation_space.shape) and info == {}
    actions = torch.as_tensor(random_actions(env, 1)[0])
    obs, reward, terminated, truncated, info = env.step(actions)
    assert obs.is_contiguous() and info["final_obs"].is_contiguous()
    assert (obs.dtype, reward.dtype) == (torch.float32, torch.float32)
    assert terminated.dtype == truncated.dtype == torch.bool
    assert reward.shape == terminated.shape == truncated.shape == (3,)
    assert info["final_obs"].dtype == torch.float32 and info["_final_obs"].dtype == torch.bool
    assert info["episode"]["r"].dtype == torch.float32 and info["episode"]["l"].dtype == torch.int64
    assert info["_episode"].shape == (3,)
    if not is_box(env):  # a column of actions is taken as [E], never broadcast against [E]
        column = make_torch_env(env_id, 3)
        column.reset(seed=1)
        torch.testing.assert_close(column.step(actions.view(3, 1))[0], obs)
    with pytest.raises(RuntimeError):
        env.step(torch.zeros(4, dtype=actions.dtype))
    before = env.state.clone()
    obs += 1  # the caller owns what step returns: changing it leaves the env alone
    info["final_obs"] += 1
    assert torch.equal(env.state, before)
    env.close()
    assert env.closed


# ---------------------------------------------------------------------------------- faithfulness
@pytest.mark.parametrize("env_id", ENV_IDS)
def test_random_play_matches_gymnasium_in_float64(env_id):
    num_envs, steps = (6, 150) if env_id == "Acrobot-v1" else (12, 260)
    env = make_torch_env(env_id, num_envs, dtype=torch.float64)
    env.reset(seed=3)
    seen = lockstep(env, gym_envs(env), random_actions(env, steps), resync_every_step=env_id == "Acrobot-v1")
    if env_id in ("CartPole-v1", "MountainCar-v0", "Pendulum-v1"):
        assert (seen["terminated"] | seen["truncated"]).sum() >= num_envs  # resets were crossed


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_float32_env_steps_within_float32_rounding(env_id):
    """One step of a float32 env from states reached by play, against gymnasium from the same
    (float32-representable) states."""
    env64 = make_torch_env(env_id, 32, dtype=torch.float64)
    env64.reset(seed=5)
    for a in random_actions(env64, 20, seed=1):
        env64.step(torch.as_tensor(a))
    env32 = make_torch_env(env_id, 32, dtype=torch.float32)
    env32.reset(seed=5)
    env32.set_state(env64.state.float())
    genvs = gym_envs(env32)
    for genv, row in zip(genvs, env32.state.double().numpy(), strict=True):
        genv.unwrapped.state = row.copy()
    actions = random_actions(env32, 1, seed=2)
    lockstep(env32, genvs, actions, state_atol=1e-5, state_rtol=1e-5, rtol=1e-5, atol=1e-5)
    assert env32.state.dtype == torch.float32


def test_cartpole_terminates_on_angle_and_position_with_reward_one():
    states = [[2.39, 1.0, 0.0, 0.0], [-2.39, -1.0, 0.0, 0.0], [0.0, 0.0, 0.2, 1.0], [0.0, 0.0, -0.2, -1.0],
              [2.3, 0.1, 0.1, 0.0]]  # fmt: skip
    env, genvs = from_states("CartPole-v1", states)
    seen = lockstep(env, genvs, np.array([[1, 0, 1, 0, 1]]))
    assert seen["terminated"][0].tolist() == [True, True, True, True, False]
    assert seen["reward"][0].tolist() == [1.0] * 5  # gymnasium 1.x: 1 also on the terminating step


def test_cartpole_truncates_at_500_and_reports_both_when_both_happen():
    env = make_torch_env("CartPole-v1", 4, dtype=torch.float64)
    obs, _ = env.reset(seed=0)
    genvs = gym_envs(env)
    weights = torch.tensor([0.05, 0.1, 1.0, 0.5], dtype=torch.float64)
    for t in range(1, 501):  # a linear controller keeps the pole up for the whole episode
        actions = (env.state @ weights > 0).long().numpy()[None]
        seen = lockstep(env, genvs, actions)
        assert not seen["terminated"].any()
        assert seen["truncated"].all() == (t == 500)
    # gymnasium 1.4's TimeLimit: a step that terminates at the limit is terminated *and* truncated
    env, genvs = from_states(
        "CartPole-v1", [[2.39, 1.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0]], max_episode_steps=1
    )
    seen = lockstep(env, genvs, np.array([[1, 1]]))
    assert seen["terminated"][0].tolist() == [True, False]
    assert seen["truncated"][0].tolist() == [True, True]


def test_acrobot_goal_velocity_bounds_and_angle_wrap():
    pi = math.pi
    states = [[3.0, 0.0, 0.0, 0.0], [0.0, 0.0, 4 * pi, 9 * pi], [0.0, 0.0, -4 * pi, -9 * pi],
              [3.1, 3.1, 3.0, 6.0], [-3.1, -3.1, -3.0, -6.0], [0.0, 3.1, 0.0, 6.0]]  # fmt: skip
    env, genvs = from_states("Acrobot-v1", states)
    seen = lockstep(env, genvs, np.ones((1, 6), dtype=int))  # no torque
    terminated, reward, after = seen["terminated"][0], seen["reward"][0], seen["state"][0]
    assert terminated.tolist() == [True, False, False, False, False, False]  # only the tip above the bar
    assert reward.tolist() == [0.0, -1.0, -1.0, -1.0, -1.0, -1.0]
    np.testing.assert_array_equal(after[1:3, 2:], [[4 * pi, 9 * pi], [-4 * pi, -9 * pi]])  # bounded
    assert (after[3:5, :2] * np.array([[-1], [1]]) > 0).all() and after[5, 1] < 0  # wrapped past +-pi
    assert np.abs(after[:, :2]).max() <= pi
    np.testing.assert_allclose(env.state[1:].numpy(), after[1:], rtol=0, atol=1e-9)  # what lockstep checks


def test_acrobot_start_states_are_float32_values_like_gymnasiums():
    env = make_torch_env("Acrobot-v1", 64, dtype=torch.float64)
    env.reset(seed=0)
    assert torch.equal(env.state, env.state.float().double())  # gymnasium: uniform(...).astype(float32)


def test_mountain_car_wall_goal_and_velocity_clip():
    x0 = -math.pi / 6  # cos(3 x) = 0: no pull, so 0.0695 + 0.001 exceeds the limit
    states = [[-1.19, -0.05], [0.49, 0.05], [x0, 0.0695], [x0, -0.0695], [-0.5, 0.0]]
    env, genvs = from_states("MountainCar-v0", states)
    seen = lockstep(env, genvs, np.array([[0, 2, 2, 0, 1]] * 3))
    assert seen["state"][0, 0].tolist() == [-1.2, 0.0]  # the left wall stops the car
    assert seen["terminated"][0].tolist() == [False, True, False, False, False]
    assert seen["state"][0, 2, 1] == 0.07 and seen["state"][0, 3, 1] == -0.07
    assert (seen["reward"] == -1).all()


def test_mountain_car_continuous_clips_actions_and_pays_at_goal():
    x0 = -math.pi / 6
    states = [[0.44, 0.03], [-1.19, -0.05], [x0, 0.0695], [-0.5, 0.0], [-0.5, 0.0], [-0.5, 0.0]]
    env, genvs = from_states("MountainCarContinuous-v0", states)
    actions = np.array([[[1.0], [-3.0], [3.0], [3.0], [1.0], [-0.5]]] * 3, dtype=np.float32)
    seen = lockstep(env, genvs, actions)  # later steps start from gymnasium's float32 state
    assert seen["terminated"][0].tolist() == [True, False, False, False, False, False]
    assert seen["reward"][0, 0] == pytest.approx(100 - 0.1)
    assert seen["reward"][0, 3] == pytest.approx(-0.9)  # 0.1 action^2 of the action as given
    # force clipped to 1: the same motion (up to a float32 rounding that gymnasium has too: it
    # multiplies a clipped force as a float64, an unclipped float32 action as a float32)
    np.testing.assert_allclose(seen["state"][:, 3], seen["state"][:, 4], rtol=0, atol=1e-8)
    assert seen["state"][0, 1].tolist() == pytest.approx([-1.2, 0.0])
    assert seen["state"][0, 2, 1] == np.float32(0.07)


def test_pendulum_clips_torque_and_speed():
    states = [[0.5, 1.0], [0.5, 1.0], [math.pi / 2, 7.9], [-math.pi / 2, -7.9], [3.0, 0.0]]
    env, genvs = from_states("Pendulum-v1", states)
    actions = np.array([[[5.0], [2.0], [2.0], [-2.0], [-9.0]]], dtype=np.float32)
    seen = lockstep(env, genvs, actions)
    np.testing.assert_array_equal(seen["state"][0, 0], seen["state"][0, 1])  # torque clipped to 2
    assert seen["reward"][0, 0] == seen["reward"][0, 1]  # the cost uses the clipped torque
    assert seen["state"][0, 2, 1] == 8.0 and seen["state"][0, 3, 1] == -8.0


@pytest.mark.parametrize(
    ("env_id", "params"),
    [
        ("CartPole-v1", {"gravity": 20.0, "length": 0.8, "masspole": 0.3, "force_mag": 7.0}),
        ("Acrobot-v1", {"link_mass_2": 1.5, "link_length_1": 0.8, "link_com_pos_2": 0.4, "link_moi": 1.2}),
        ("MountainCar-v0", {"force": 0.0015, "gravity": 0.003}),
        ("MountainCarContinuous-v0", {"power": 0.002}),
        ("Pendulum-v1", {"g": 9.81, "m": 1.3, "l": 0.7}),
    ],
)
def test_fixed_params_match_gymnasium_with_those_attributes(env_id, params):
    env = make_torch_env(env_id, 6, dtype=torch.float64, **params)
    env.reset(seed=2)
    for name, value in params.items():
        assert torch.equal(env.params[name], torch.full((6,), value, dtype=torch.float64))
    steps = 40 if env_id == "Acrobot-v1" else 120
    lockstep(env, gym_envs(env), random_actions(env, steps), resync_every_step=env_id == "Acrobot-v1")


# ---------------------------------------------------------------------------------- autoreset and episodes
def test_autoreset_final_obs_and_episode_stats_match_gymnasium_vector_env():
    """From states that end after different numbers of pushes to the right, against gymnasium's
    SyncVectorEnv (SAME_STEP) with RecordEpisodeStatistics, up to each env's first episode end."""
    states = [[2.3, 1.0, 0.0, 0.0], [0.0, 0.0, 0.1, 0.0], [0.0, 0.0, 0.0, 0.0], [2.39, 1.0, 0.0, 0.0]]
    env = make_torch_env("CartPole-v1", 4, dtype=torch.float64)
    env.reset(seed=0)
    env.set_state(torch.tensor(states, dtype=torch.float64))
    mode = gym.vector.AutoresetMode.SAME_STEP
    genvs = gym.vector.SyncVectorEnv([lambda: gym.make("CartPole-v1")] * 4, autoreset_mode=mode)
    genvs = gym.wrappers.vector.RecordEpisodeStatistics(genvs)
    genvs.reset(seed=0)
    for sub, state in zip(genvs.unwrapped.envs, states, strict=True):
        sub.unwrapped.state = np.array(state)
    ended = np.zeros(4, dtype=bool)
    lengths = np.zeros(4, dtype=int)
    for _ in range(100):
        obs, reward, terminated, truncated, info = env.step(torch.ones(4, dtype=torch.long))
        g_obs, _, g_terminated, g_truncated, g_info = genvs.step(np.ones(4, dtype=int))
        assert set(info) == {"final_obs", "_final_obs", "episode", "_episode"}  # always, ended or not
        live = ~ended
        np.testing.assert_array_equal(terminated.numpy()[live], g_terminated[live])
        np.testing.assert_array_equal(info["_final_obs"].numpy()[live], (g_terminated | g_truncated)[live])
        now = (g_terminated | g_truncated) & live
        for i in np.flatnonzero(now):
            np.testing.assert_allclose(info["final_obs"][i].numpy(), g_info["final_obs"][i], rtol=1e-6)
            assert info["episode"]["r"][i] == g_info["episode"]["r"][i]
            assert info["episode"]["l"][i] == g_info["episode"]["l"][i]
            assert obs[i].abs().max() <= 0.05  # a fresh start state
            assert not torch.equal(obs[i], info["final_obs"][i])
            lengths[i] = g_info["episode"]["l"][i]
        for i in np.flatnonzero(live & ~now):
            np.testing.assert_allclose(obs[i].numpy(), g_obs[i], rtol=1e-6)
            assert torch.equal(info["final_obs"][i], obs[i])
        assert (info["episode"]["r"][~info["_episode"]] == 0).all()
        ended |= now
        if ended.all():
            break
    assert ended.all() and len(set(lengths)) == 4, lengths


def test_episode_returns_over_whole_episodes_match_record_episode_statistics():
    """Pendulum: float rewards summed over 200-step episodes that end by truncation."""
    env = make_torch_env("Pendulum-v1", 3, dtype=torch.float64)
    env.reset(seed=4)
    genvs = gym_envs(env)
    stats = [gym.wrappers.RecordEpisodeStatistics(genv) for genv in genvs]
    actions = random_actions(env, 200, seed=3)
    for a in actions[:-1]:
        env.step(torch.as_tensor(a))
        for i, genv in enumerate(stats):
            genv.step(a[i])
    _, _, _, truncated, info = env.step(torch.as_tensor(actions[-1]))
    g_info = [genv.step(actions[-1][i])[4] for i, genv in enumerate(stats)]
    assert truncated.all() and info["_episode"].all()
    np.testing.assert_allclose(info["episode"]["r"].numpy(), [g["episode"]["r"] for g in g_info], rtol=1e-6)
    assert info["episode"]["l"].tolist() == [200] * 3


@pytest.mark.parametrize("subset_reset", [True, False])
@pytest.mark.parametrize("env_id", ENV_IDS)
def test_auto_resets_draw_from_the_start_distribution(env_id, subset_reset):
    env = make_torch_env(env_id, 256, max_episode_steps=3)
    env.subset_reset = subset_reset  # False: the sync-free path that CUDA takes
    env.reset(seed=0)
    actions = random_actions(env, 3)
    for a in actions:
        obs, _, _, truncated, info = env.step(torch.as_tensor(a))
    assert truncated.all() and info["_final_obs"].all()
    state = env.state
    low, high = {
        "CartPole-v1": ([-0.05] * 4, [0.05] * 4),
        "Acrobot-v1": ([-0.1] * 4, [0.1] * 4),
        "MountainCar-v0": ([-0.6, 0.0], [-0.4, 0.0]),
        "MountainCarContinuous-v0": ([-0.6, 0.0], [-0.4, 0.0]),
        "Pendulum-v1": ([-math.pi, -1.0], [math.pi, 1.0]),
    }[env_id]
    assert (state >= torch.tensor(low)).all() and (state <= torch.tensor(high)).all()
    assert (state.std(0) > 0).sum() == sum(h > lo for lo, h in zip(low, high, strict=True))  # not all alike
    assert not torch.equal(obs, info["final_obs"])
    torch.testing.assert_close(obs, env._observe(env._state).contiguous())


# ---------------------------------------------------------------------------------- seeding and resume
def play(env: TorchVectorEnv, actions: np.ndarray) -> list:
    out = []
    for a in actions:
        obs, reward, terminated, truncated, info = env.step(torch.as_tensor(a))
        out.append(
            (
                obs,
                reward,
                terminated,
                truncated,
                info["final_obs"],
                info["episode"]["r"],
                info["episode"]["l"],
            )
        )
    return out


def assert_same(a: list, b: list) -> None:
    for step_a, step_b in zip(a, b, strict=True):
        for x, y in zip(step_a, step_b, strict=True):
            assert torch.equal(x, y)


@pytest.mark.parametrize("subset_reset", [True, False])
@pytest.mark.parametrize("env_id", ["CartPole-v1", "Pendulum-v1"])
def test_same_seed_same_trajectories_and_exact_resume(env_id, subset_reset):
    randomize = {"length": (0.3, 0.9)} if env_id == "CartPole-v1" else {"m": (0.8, 1.2)}

    def make(seed):
        env = make_torch_env(env_id, 64, max_episode_steps=30, randomize=randomize)
        env.subset_reset = subset_reset
        env.reset(seed=seed)
        return env

    actions = random_actions(make(0), 120, seed=9)
    first, second = make(7), make(7)
    assert_same(play(first, actions), play(second, actions))
    third = make(8)
    assert not torch.equal(play(third, actions[:1])[0][0], play(make(7), actions[:1])[0][0])
    obs_a, _ = third.reset()  # seed=None continues the generator
    obs_b, _ = third.reset()
    assert not torch.equal(obs_a, obs_b)

    env = make(11)
    play(env, actions[:50])
    buffer = io.BytesIO()
    torch.save(env.state_dict(), buffer)  # what a checkpoint does
    expected = play(env, actions[50:])
    restored = make(99)
    buffer.seek(0)
    restored.load_state_dict(torch.load(buffer))
    assert_same(play(restored, actions[50:]), expected)


def test_load_state_dict_refuses_another_env():
    state = make_torch_env("CartPole-v1", 4).state_dict()
    with pytest.raises(ValueError, match="cannot be loaded"):
        make_torch_env("CartPole-v1", 5).load_state_dict(state)
    with pytest.raises(ValueError, match="cannot be loaded"):
        make_torch_env("Acrobot-v1", 4).load_state_dict(state)


# ---------------------------------------------------------------------------------- domain randomisation
@pytest.mark.parametrize("subset_reset", [True, False])
def test_randomised_params_differ_stay_in_range_and_are_redrawn_on_reset(subset_reset):
    ranges = {"length": (0.3, 0.9), "gravity": (5.0, 15.0), "masscart": (0.5, 2.0)}
    env = make_torch_env("CartPole-v1", 512, randomize=ranges)
    env.subset_reset = subset_reset
    env.reset(seed=0)
    for name, (low, high) in ranges.items():
        value = env.params[name]
        assert value.shape == (512,) and value.min() >= low and value.max() <= high
        assert value.std() > (high - low) / 5  # about (high - low) / sqrt(12)
    assert (env.params["masspole"] == 0.1).all()  # not randomised
    before = {name: value.clone() for name, value in env.params.items()}
    _, _, _, _, info = env.step(torch.ones(512, dtype=torch.long))
    for _ in range(30):
        if info["_episode"].any():
            break
        before = {name: value.clone() for name, value in env.params.items()}
        _, _, _, _, info = env.step(torch.ones(512, dtype=torch.long))
    ended = info["_episode"]
    assert 0 < ended.sum() < 512
    for name in ranges:
        assert (env.params[name][ended] != before[name][ended]).all()
        assert torch.equal(env.params[name][~ended], before[name][~ended])


def test_randomised_dynamics_match_gymnasium_env_by_env():
    ranges = {"length": (0.3, 0.9), "gravity": (5.0, 15.0), "masspole": (0.05, 0.5), "force_mag": (5.0, 15.0)}
    env = make_torch_env("CartPole-v1", 8, dtype=torch.float64, randomize=ranges)
    env.reset(seed=1)
    lockstep(env, gym_envs(env), random_actions(env, 120))  # gymnasium envs take each episode's params


# ---------------------------------------------------------------------------------- tabular sampler
@pytest.fixture(scope="module")
def frozen_lake() -> TabularModel:
    return tabular_model(FrozenLakeEnvConfig(id="FrozenLake-v1", is_slippery=True), torch.device("cpu"))


def test_tabular_successor_and_termination_frequencies_match_the_model(frozen_lake):
    model = frozen_lake
    S, A, n = model.num_states, model.num_actions, 3000
    pairs = torch.arange(S * A).repeat_interleave(n)  # every (s, a), n times
    env = make_tabular_sample_env(model, S * A * n, "cpu")
    assert env.single_observation_space == gym.spaces.Discrete(S) and env.max_episode_steps == 100
    env.reset(seed=0)
    env.set_state(pairs // A)
    _, reward, terminated, truncated, info = env.step(pairs % A)
    assert not truncated.any()
    outcome = torch.where(terminated, S, info["final_obs"])  # S: the episode ended
    counts = torch.bincount(pairs * (S + 1) + outcome, minlength=S * A * (S + 1)).view(S * A, S + 1)
    P = model.dense_P().reshape(S * A, S)
    expected = torch.cat([P, (1 - P.sum(1, keepdim=True)).clamp(min=0)], dim=1)
    freq = counts / n
    sigma = (expected * (1 - expected) / n).sqrt()
    assert ((freq - expected).abs() <= 5 * sigma + 1e-12).all(), (freq - expected).abs().max()
    assert torch.equal(reward, model.R.reshape(-1)[pairs].float())  # the expected reward of (s, a)
    assert torch.equal(info["final_obs"][terminated], pairs[terminated] // A)  # documented stand-in


def test_tabular_mean_return_of_a_policy_matches_exact_evaluation(frozen_lake):
    model = frozen_lake
    policy = torch.tensor([0, 3, 3, 3, 0, 0, 0, 0, 3, 1, 0, 0, 0, 2, 1, 0])
    exact = expected_episode_return(model.P, model.R, model.start, policy, model.horizon)
    num_envs = 20000
    env = make_tabular_sample_env(model, num_envs)
    obs, _ = env.reset(seed=0)
    returns = torch.full((num_envs,), float("nan"))
    for _ in range(model.horizon):  # every first episode ends within the time limit
        obs, _, _, _, info = env.step(policy[obs])
        first = info["_episode"] & returns.isnan()
        returns[first] = info["episode"]["r"][first]
    assert not returns.isnan().any()
    stderr = returns.std() / math.sqrt(num_envs)
    assert abs(returns.mean() - exact) < 4 * stderr, (returns.mean(), exact, stderr)
    assert 0.5 < exact < 0.9  # a good policy on the slippery lake: the test is not trivial


@pytest.mark.filterwarnings("ignore:Sparse CSR tensor support is in beta")
def test_tabular_sparse_and_dense_models_sample_alike(frozen_lake):
    model = frozen_lake
    sparse = TabularModel(P=model.P.to_sparse_csr(), R=model.R, terminal=model.terminal, start=model.start,
                          horizon=model.horizon)  # fmt: skip
    actions = torch.randint(0, model.num_actions, (50, 400), generator=torch.Generator().manual_seed(0))
    runs = []
    for m in (model, sparse):
        env = make_tabular_sample_env(m, 400)
        env.reset(seed=3)
        runs.append(play(env, actions.numpy()))
    assert_same(*runs)
    assert runs[0][0][0].dtype == torch.int64


# ---------------------------------------------------------------------------------- errors
def test_make_torch_env_refuses_unknown_ids_params_and_bad_ranges():
    with pytest.raises(ConfigError) as err:
        make_torch_env("Taxi-v3", 4)
    assert err.value.key == "env.backend"
    assert "CartPole-v1" in str(err.value) and "env.backend=gymnasium" in str(err.value)
    with pytest.raises(ConfigError) as err:
        make_torch_env("CartPole-v1", 4, gravityy=9.8)
    assert err.value.key == "env.kwargs" and "gravity, masscart" in str(err.value)
    with pytest.raises(ConfigError) as err:
        make_torch_env("Pendulum-v1", 4, randomize={"mass": (1.0, 2.0)})
    assert err.value.key == "env.randomize" and "g, m, l" in str(err.value)
    with pytest.raises(ConfigError) as err:
        make_torch_env("Pendulum-v1", 4, randomize={"m": (2.0, 1.0)})
    assert err.value.key == "env.randomize" and "m" in str(err.value)
    with pytest.raises(ConfigError) as err:
        make_torch_env("Pendulum-v1", 4, m=1.0, randomize={"m": (1.0, 2.0)})
    assert err.value.key == "env.randomize"


# ---------------------------------------------------------------------------------- CUDA
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("env_id", ENV_IDS)
def test_cuda_steps_without_host_syncs_and_like_the_cpu(env_id):
    env = make_torch_env(env_id, 1024, device="cuda", dtype=torch.float64, max_episode_steps=20)
    assert not env.subset_reset and env.generator.device.type == "cuda"
    env.reset(seed=0)
    cpu = make_torch_env(env_id, 1024, dtype=torch.float64, max_episode_steps=20)
    actions = torch.as_tensor(random_actions(env, 25)).cuda()
    for a in actions:
        # the CPU env in the same state, steps and params: the same step, up to libm rounding
        cpu.set_state(env.state.cpu(), reset_steps=False)
        cpu._steps = env._steps.cpu()
        cpu.params = {name: value.cpu() for name, value in env.params.items()}
        expected = cpu.step(a.cpu())
        torch.cuda.synchronize()
        torch.cuda.set_sync_debug_mode("error")  # any host sync inside step raises
        try:
            obs, reward, terminated, truncated, info = env.step(a)
        finally:
            torch.cuda.set_sync_debug_mode(0)
        assert torch.equal(terminated.cpu(), expected[2]) and torch.equal(truncated.cpu(), expected[3])
        torch.testing.assert_close(info["final_obs"].cpu(), expected[4]["final_obs"], rtol=1e-6, atol=1e-6)
        torch.testing.assert_close(reward.cpu(), expected[1], rtol=1e-6, atol=1e-6)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_tabular_sampler_steps_without_host_syncs(frozen_lake):
    model = frozen_lake
    env = make_tabular_sample_env(model, 4096, "cuda")
    obs, _ = env.reset(seed=0)
    policy = torch.zeros(model.num_states, dtype=torch.long, device="cuda")
    torch.cuda.set_sync_debug_mode("error")
    try:
        for _ in range(30):
            obs, reward, terminated, truncated, info = env.step(policy[obs])
    finally:
        torch.cuda.set_sync_debug_mode(0)
    assert obs.device.type == "cuda" and obs.dtype == torch.int64
    assert int(obs.min()) >= 0 and int(obs.max()) < model.num_states
