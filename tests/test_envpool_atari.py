"""env.backend=envpool: envpool's Atari envs through rlrun.envs.envpool_atari give what our gymnasium
stack gives. With deterministic emulation (no sticky actions, one no-op, no fire reset, whole-game
episodes) the frames, rewards and flags are equal step for step; with the training defaults the
two differ by design (emulator seeding, fire reset, the frame stack after a lost life), so they are
compared by statistics. Skipped where envpool (or ale_py, which evaluation plays on) is missing."""

import numpy as np
import pytest
import torch
from conftest import assert_one_line_error, rlrun, summary
from test_extras import rlrun_without

from rlrun.errors import ConfigError
from rlrun.schema import check_env
from rlrun.schema_atari import AtariEnvConfig

pytest.importorskip("envpool")
pytest.importorskip("ale_py")
pytest.importorskip("cv2")
CPU = torch.device("cpu")
DETERMINISTIC = dict(
    repeat_action_probability=0.0,
    noop_max=1,
    fire_reset=False,
    terminal_on_life_loss=False,
    clip_reward=False,
)


def envpool_envs(num_envs: int = 2, training: bool = True, **keys):
    from rlrun.envs.envpool_atari import EnvpoolAtari

    cfg = AtariEnvConfig(backend="envpool", **keys)
    check_env(cfg)
    return EnvpoolAtari(cfg, num_envs, training=training)


def gymnasium_envs(num_envs: int = 2, **keys):
    from rlrun.envs.gym import make_vector_env

    return make_vector_env(AtariEnvConfig(**keys), num_envs)


def test_observations_are_uint8_stacks_of_84x84_frames_as_tensors():
    from rlrun.envs.tensor_env import as_tensor_env

    envs = as_tensor_env(envpool_envs(3), CPU)
    obs, _ = envs.reset(seed=0)
    assert obs.shape == (3, 4, 84, 84) and obs.dtype == torch.uint8
    obs, reward, terminated, truncated, info = envs.step(torch.zeros(3, dtype=torch.long))
    assert obs.shape == (3, 4, 84, 84) and obs.dtype == torch.uint8
    assert reward.dtype == torch.float32 and terminated.dtype == torch.bool
    assert set(info) == {"final_obs", "_final_obs", "episode", "_episode"}


@pytest.mark.parametrize("keys", [{}, {"grayscale": False, "frame_stack": 2}, {"frame_stack": 1}])
def test_with_deterministic_emulation_every_step_equals_the_gymnasium_stacks(keys):
    ours, theirs = gymnasium_envs(2, **DETERMINISTIC, **keys), envpool_envs(2, **DETERMINISTIC, **keys)
    assert theirs.single_observation_space == ours.single_observation_space
    a, _ = ours.reset(seed=0)
    b, _ = theirs.reset(seed=0)
    np.testing.assert_array_equal(a, b)
    rng, games = np.random.default_rng(0), 0
    for _ in range(600):
        actions = rng.integers(0, 4, 2)
        x, y = ours.step(actions), theirs.step(actions)
        for i in range(4):  # obs (the reset one where a game ended), reward, terminated, truncated
            np.testing.assert_array_equal(x[i], y[i])
        np.testing.assert_array_equal(x[4]["_episode"], y[4]["_episode"])
        ended = x[4]["_episode"]
        np.testing.assert_array_equal(x[4]["episode"]["r"][ended], y[4]["episode"]["r"][ended])
        np.testing.assert_array_equal(x[4]["episode"]["l"][ended], y[4]["episode"]["l"][ended])
        for i in np.flatnonzero(ended):
            np.testing.assert_array_equal(x[4]["final_obs"][i], y[4]["final_obs"][i])
        games += int(ended.sum())
    assert games >= 2, "the comparison must cross game ends"


def play(envs, steps: int, seed: int = 0) -> dict:
    """Random play: the learner's rewards and episode ends, the whole games' scores and lengths,
    per game the sum of the learner's rewards, and the mean of the newest frame."""
    envs.reset(seed=seed)
    rng = np.random.default_rng(seed)
    out = {"rewards": set(), "ends": 0, "scores": [], "lengths": [], "learner_sums": []}
    sums, frames = np.zeros(envs.num_envs), []
    for _ in range(steps):
        obs, reward, terminated, truncated, info = envs.step(
            rng.integers(0, envs.single_action_space.n, envs.num_envs)
        )
        frames.append(obs[:, -1].astype(np.float64).mean(0))
        out["rewards"] |= set(reward.tolist())
        out["ends"] += int((terminated | truncated).sum())
        sums += reward
        for i in np.flatnonzero(info["_episode"]):
            out["scores"].append(float(info["episode"]["r"][i]))
            out["lengths"].append(int(info["episode"]["l"][i]))
            out["learner_sums"].append(sums[i])
            sums[i] = 0.0
    out["mean_frame"] = np.mean(frames, axis=0)
    return out


def test_games_are_scored_unclipped_and_whole_while_the_learner_sees_sign_rewards_and_lives():
    # Space Invaders: 5 to 30 points an invader, 3 lives; random play ends a game in ~300 steps
    train = play(envpool_envs(2, id="ALE/SpaceInvaders-v5"), 700)
    assert len(train["scores"]) >= 2 and train["rewards"] <= {0.0, 1.0}
    pairs = list(zip(train["scores"], train["learner_sums"], strict=True))
    assert all(score >= 5 * learner for score, learner in pairs) and any(s > n for s, n in pairs)
    assert all(score % 5 == 0 for score in train["scores"])
    assert train["ends"] >= 2 * len(train["scores"]), "a lost life ends the learner's episode"
    scored = play(envpool_envs(2, training=False, id="ALE/SpaceInvaders-v5"), 700)
    assert scored["ends"] == len(scored["scores"]) >= 2, "training=False: an episode is a whole game"
    assert max(scored["rewards"]) >= 5 and scored["scores"] == scored["learner_sums"]


def test_the_step_that_ends_an_episode_returns_the_reset_observation():
    """SAME_STEP: every step moves each env's frame stack on by one frame from the observation
    returned before (s' = final_obs), also right after an episode ended, which holds only if the
    observation returned at the end was the reset one the env went on from."""
    envs = envpool_envs(2)
    obs, _ = envs.reset(seed=0)
    rng, ends = np.random.default_rng(1), 0
    for _ in range(400):
        next_obs, _, terminated, truncated, info = envs.step(rng.integers(0, 4, 2))
        ended = terminated | truncated
        np.testing.assert_array_equal(info["_final_obs"], ended)
        np.testing.assert_array_equal(info["final_obs"][:, :3], obs[:, 1:])
        for i in np.flatnonzero(ended):
            assert not np.array_equal(info["final_obs"][i], next_obs[i])
        ends += int(ended.sum())
        obs = next_obs
    assert ends >= 4


def test_frames_and_games_match_the_gymnasium_stack_in_distribution():
    """Training defaults (sticky actions, random no-ops, fire reset, lost lives): the mean newest
    frame of random play differs between the backends by as much as between two gymnasium seeds
    (measured: 0.17-0.23 of 255 either way; envpool's linear resize in place of INTER_AREA: 2.0),
    and the games last as long and score alike (random Breakout: 0-5 points, 110-370 steps)."""
    ours, theirs = play(gymnasium_envs(4), 400, seed=0), play(envpool_envs(4), 400, seed=1)
    assert np.abs(ours["mean_frame"] - theirs["mean_frame"]).mean() < 0.5
    assert abs(ours["mean_frame"].mean() - theirs["mean_frame"].mean()) < 0.5
    for stats in (ours, theirs):
        assert len(stats["scores"]) >= 4 and all(0 <= s <= 15 for s in stats["scores"])
        games = len(stats["scores"])  # 5 lives: 5 learner episodes a game (4 envs in unfinished games)
        assert 5 * games <= stats["ends"] <= 5 * (games + 4), (stats["ends"], games)
    mean_lengths = np.mean(ours["lengths"]), np.mean(theirs["lengths"])
    assert max(mean_lengths) / min(mean_lengths) < 1.6, mean_lengths


def test_a_ppo_run_on_envpool_completes_and_resumes_with_fresh_episodes(workdir):
    run_dir = workdir / "run"
    args = ["algo=ppo", "env=Atari", "env.backend=envpool", "env.num_envs=2", "algo.N=128", "algo.S=2"]
    args += ["eval.every=0", "eval.episodes=1", "env.max_episode_steps=2000", "device=cpu"]
    result = rlrun("train", *args, "total_steps=256", f"hydra.run.dir={run_dir}", cwd=workdir)
    assert result.returncode == 0, result.stderr
    first = summary(run_dir)
    assert first["env_steps"] == 256 and np.isfinite(first["eval_return_mean"])
    assert (run_dir / "tb").is_dir() and (run_dir / "checkpoint.pt").is_file()
    resumed = rlrun(
        "train", *args, "total_steps=512", f"resume={run_dir}", f"hydra.run.dir={run_dir}", cwd=workdir
    )
    assert resumed.returncode == 0, resumed.stderr
    assert "fresh episodes" in resumed.stdout + resumed.stderr
    assert summary(run_dir)["env_steps"] == 512


@pytest.mark.parametrize(
    "keys, expected",
    [
        ({"vector": "async"}, "env.vector: env.backend=envpool steps its envs on its own threads"),
        ({"frame_skip": 1}, "env.frame_skip: env.backend=envpool needs >= 2"),
        ({"noop_max": 0}, "env.noop_max: env.backend=envpool always plays 1 to noop_max no-ops"),
        ({"kwargs": {"mode": 1}}, "env.kwargs: are passed to gymnasium.make; env.backend=envpool takes none"),
        ({"envpool_threads": 0}, "env.envpool_threads: must be > 0 or null"),
        ({"backend": "gymnasium", "envpool_threads": 2}, "env.envpool_threads: needs env.backend=envpool"),
    ],
)
def test_keys_envpool_cannot_honour_are_refused(keys, expected):
    with pytest.raises(ConfigError) as refused:
        check_env(AtariEnvConfig(**{"backend": "envpool", **keys}))
    assert str(refused.value).startswith(expected)


@pytest.mark.parametrize(
    "args, expected",
    [
        (["env=Atari", "env.backend=envpool", "env.vector=async"], "env.vector: env.backend=envpool steps"),
        (["env=CartPole", "env.backend=envpool"], "env.backend: envpool runs the Atari games"),
    ],
)
def test_the_cli_refuses_them_in_one_line(workdir, args, expected):
    assert_one_line_error(rlrun("train", *args, cwd=workdir), expected, workdir)


def test_a_missing_envpool_names_its_extra(workdir):
    result = rlrun_without(["envpool"], "train", "env=Atari", "env.backend=envpool", cwd=workdir)
    assert_one_line_error(result, "needs the 'envpool' extra", workdir)
    assert 'pip install -e ".[envpool]"' in result.stderr


def test_fqis_frame_store_keeps_envpool_stacks_exactly():
    """After a lost life envpool's frame stack goes on (gymnasium's starts afresh): the store that
    keeps each frame once must give back the same stacks as storing them whole."""
    from test_atari import collect

    from rlrun.frame_replay import FrameReplayBuffer
    from rlrun.replay import ReplayBuffer

    data = collect(AtariEnvConfig(backend="envpool", max_episode_steps=400), num_envs=2, steps=300)
    assert data["terminated"].any() and data["truncated"].any()
    whole = ReplayBuffer(10_000, (4, 84, 84), torch.uint8, CPU)
    frames = FrameReplayBuffer(10_000, (4, 84, 84), num_envs=2, device=CPU)
    for start in range(0, 600, 100):
        part = {k: v[start : start + 100] for k, v in data.items()}
        whole.add(part)
        frames.add(part)
    got = frames.all()
    for key, value in whole.all().items():
        assert torch.equal(got[key], value), key
