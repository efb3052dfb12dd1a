"""env=Atari: the preprocessing against gymnasium's own wrappers, life loss and clipped rewards for
training only, frames uint8 all the way, the frame replay store against whole stored stacks, and an
exact resume of a tiny PPO run after SIGTERM."""

import gymnasium as gym
import numpy as np
import pytest
import torch
from conftest import assert_one_line_error, rlrun, rlrun_in_process, summary
from test_interrupt_resume import alone_and_resumed

from rlrun.frame_replay import FrameReplayBuffer
from rlrun.nets import ActorCritic, NatureCNN, choose_encoder
from rlrun.replay import ReplayBuffer
from rlrun.rollout import Collector, TransitionCollector
from rlrun.schema import AtariEnvConfig

ale_py = pytest.importorskip("ale_py")
pytest.importorskip("cv2")
gym.register_envs(ale_py)
CPU = torch.device("cpu")


def atari(**keys) -> AtariEnvConfig:
    return AtariEnvConfig(id="ALE/Breakout-v5", **keys)


def test_preprocessing_equals_gymnasiums_own_wrappers_on_the_same_frames():
    from rlrun.envs.gym import make_env

    plain = dict(
        repeat_action_probability=0.0, fire_reset=False, terminal_on_life_loss=False, clip_reward=False
    )
    ours = make_env(atari(**plain))
    theirs = gym.make("ALE/Breakout-v5", frameskip=1, repeat_action_probability=0.0)
    theirs = gym.wrappers.FrameStackObservation(gym.wrappers.AtariPreprocessing(theirs, noop_max=30), 4)
    a, _ = ours.reset(seed=5)
    b, _ = theirs.reset(seed=5)
    assert a.shape == (4, 84, 84) and a.dtype == np.uint8
    np.testing.assert_array_equal(a, b)
    rng = np.random.default_rng(0)
    for _ in range(400):
        action = int(rng.integers(4))
        *x, _ = ours.step(action)
        *y, _ = theirs.step(action)
        np.testing.assert_array_equal(x[0], y[0])
        assert x[1:] == y[1:]
        if x[2] or x[3]:
            np.testing.assert_array_equal(ours.reset()[0], theirs.reset()[0])


def play(envs, steps: int, seed: int = 0) -> tuple[list[float], int, set[float]]:
    """Random play: whole-game returns reported, episode ends seen by the learner, rewards seen."""
    from rlrun.envs.tensor_env import as_tensor_env

    te = as_tensor_env(envs, CPU)
    te.reset(seed=seed)
    g = torch.Generator().manual_seed(seed)
    games, ends, rewards = [], 0, set()
    for _ in range(steps):
        _, r, term, trunc, info = te.step(torch.randint(4, (envs.num_envs,), generator=g))
        ends += int((term | trunc).sum())
        rewards |= set(r.tolist())
        games += info["episode"]["r"][info["_episode"]].tolist()
    return games, ends, rewards


def test_life_loss_and_clipping_are_for_training_only_and_games_are_scored_whole():
    from rlrun.envs.factory import make_envs

    games, ends, rewards = play(make_envs(atari(), 2, CPU), 1500)
    assert games and ends >= 4 * len(games), "Breakout has 5 lives: about 5 learner episodes per game"
    assert rewards <= {-1.0, 0.0, 1.0}
    eval_games, eval_ends, _ = play(make_envs(atari(), 2, CPU, training=False), 1500)
    assert eval_ends == len(eval_games), "evaluation: an episode is a whole game"


@pytest.mark.parametrize("training", [True, False])
def test_a_policy_that_never_serves_does_not_stall_the_game(training):
    """Breakout waits for FIRE after a lost life; FIRE is pressed for the policy, so a game of
    NOOPs loses its 5 balls quickly, in training (lives end episodes) and in evaluation."""
    from rlrun.envs.factory import make_envs
    from rlrun.envs.tensor_env import as_tensor_env

    envs = as_tensor_env(make_envs(atari(), 1, CPU, training=training), CPU)
    envs.reset(seed=0)
    steps = 0
    while steps < 3000:
        _, _, _, _, info = envs.step(torch.zeros(1, dtype=torch.long))
        steps += 1
        if info["_episode"].any():
            break
    assert info["_episode"].any() and steps <= 2000, f"no whole game ended in {steps} NOOP steps"


class Scores5(gym.Env):
    """Reward 5 every step; the game ends after 3 steps."""

    observation_space = gym.spaces.Discrete(1)
    action_space = gym.spaces.Discrete(1)

    def reset(self, *, seed=None, options=None):
        self.t = 0
        return 0, {}

    def step(self, action):
        self.t += 1
        return 0, 5.0, self.t == 3, False, {}


def test_the_learner_sees_sign_rewards_while_the_game_is_scored_unclipped():
    from rlrun.envs.atari import GameStatistics, SignReward

    env = SignReward(GameStatistics(Scores5()))
    env.reset()
    steps = [env.step(0) for _ in range(3)]
    assert [s[1] for s in steps] == [1.0, 1.0, 1.0]
    assert steps[-1][4]["game_r"] == 15.0 and steps[-1][4]["game_l"] == 3


def collect(env: AtariEnvConfig, num_envs: int, steps: int) -> dict[str, torch.Tensor]:
    from rlrun.envs.factory import make_envs

    collector = TransitionCollector(make_envs(env, num_envs, CPU), CPU, seed=0)
    return collector.collect(None, steps, epsilon=1.0)


@pytest.fixture(scope="module")
def atari_data() -> dict[str, torch.Tensor]:
    # short time limits: truncations as well as terminations (lives) inside the data
    return collect(atari(max_episode_steps=400), num_envs=2, steps=300)


@pytest.mark.parametrize("capacity", [10_000, 150])  # 150: the ring wraps around
def test_stack_on_sample_equals_storing_the_stacks_whole(capacity, atari_data):
    data = atari_data
    assert data["terminated"].any() and data["truncated"].any()
    assert data["obs"].dtype == torch.uint8
    whole = ReplayBuffer(capacity, (4, 84, 84), torch.uint8, CPU)
    frames = FrameReplayBuffer(capacity, (4, 84, 84), num_envs=2, device=CPU)
    for start in range(0, 600, 100):  # added in rounds, as fqi does
        part = {k: v[start : start + 100] for k, v in data.items()}
        whole.add(part)
        frames.add(part)
    assert frames.size == whole.size
    # the whole store is a ring: oldest first from `next`
    order = (whole.next + torch.arange(whole.size)) % whole.capacity if whole.size == capacity else None
    expected = {k: (v if order is None else whole.data[k][order]) for k, v in whole.all().items()}
    got = frames.all()
    for key, value in expected.items():
        assert torch.equal(got[key], value), key
    sample = frames.sample(64, torch.Generator().manual_seed(0))
    assert sample["obs"].shape == (64, 4, 84, 84) and sample["obs"].dtype == torch.uint8


def synthetic_stream(num_envs: int, steps: int, seed: int) -> dict[str, torch.Tensor]:
    """Frame-stacked transitions of random 8x8 frames with episodes of 1 to 3 steps, padded at
    their start as FrameStackObservation pads, step-major rows of num_envs envs."""
    g = torch.Generator().manual_seed(seed)
    rows = []
    for _env in range(num_envs):
        stack, out = None, []
        for _ in range(steps):
            if stack is None:
                stack = torch.randint(256, (1, 8, 8), generator=g, dtype=torch.uint8).expand(4, 8, 8)
            nxt = torch.cat([stack[1:], torch.randint(256, (1, 8, 8), generator=g, dtype=torch.uint8)])
            end = bool(torch.rand(1, generator=g) < 0.5)
            out.append((stack, nxt, end))
            stack = None if end else nxt
        rows.append(out)
    order = [rows[e][t] for t in range(steps) for e in range(num_envs)]
    n = len(order)
    return {
        "obs": torch.stack([o[0] for o in order]),
        "next_obs": torch.stack([o[1] for o in order]),
        "actions": torch.arange(n) % 3,
        "rewards": torch.arange(n, dtype=torch.float32),
        "terminated": torch.tensor([o[2] for o in order]),
        "truncated": torch.zeros(n, dtype=torch.bool),
    }


def test_short_episodes_drop_the_oldest_transitions_never_stale_frames():
    # episodes of ~2 steps need more start frames than the ring's spare room: the store holds
    # fewer than its capacity, and what it holds is exact
    data = synthetic_stream(num_envs=3, steps=400, seed=1)
    store = FrameReplayBuffer(300, (4, 8, 8), num_envs=3, device=CPU)
    for start in range(0, 1200, 90):
        store.add({k: v[start : start + 90] for k, v in data.items()})
    assert 0 < store.size < 300 and store.size % 3 == 0
    got = store.all()
    for key, value in data.items():
        assert torch.equal(got[key], value[-store.size :]), key


def test_frames_stay_uint8_in_rollouts_replay_and_the_network_input():
    from rlrun.envs.factory import make_envs

    envs = make_envs(atari(), 2, CPU)
    space = envs.single_observation_space
    assert choose_encoder("auto", space) == "cnn"
    agent = ActorCritic(space, envs.single_action_space, [], "relu", encoder="cnn")
    assert isinstance(agent.trunk, NatureCNN)
    assert set(agent.actor_parameters()) & set(agent.critic_parameters()), "one trunk under both heads"
    agent.optimizers(1e-3, 1e-3)  # ac's two optimizers: each one contiguous range, trunk in both
    batch = Collector(envs, agent, CPU, seed=0).collect(8)
    assert batch.obs.dtype == torch.uint8 and batch.next_obs.dtype == torch.uint8
    assert ReplayBuffer.for_space(10, space, CPU).data["obs"].dtype == torch.uint8
    store = FrameReplayBuffer(1000, space.shape, 2, CPU)
    assert store.frames.dtype == torch.uint8 and store.frames.shape == (1000 + 62 + 16, 84, 84)
    assert all(t.numel() < store.frames.numel() for t in store.data.values())  # no float copy of frames


TINY = [
    "env=Atari", "env.num_envs=2", "env.vector=sync", "env.max_episode_steps=400", "total_steps=768",
    "eval.every=0", "eval.episodes=1", "checkpoint.every=1", "progress=false",
]  # fmt: skip
ALGOS = {
    "ppo": ["algo=ppo", "algo.N=32", "algo.S=2", "algo.K=1"],
    # the frame replay store is in the checkpoint, every frame once
    "fqi": ["algo=fqi", "algo.N=64", "algo.S=4", "algo.batch_size=8", "algo.buffer_size=1000",
            "algo.learning_starts=128"],
}  # fmt: skip


@pytest.mark.parametrize("algo", ["ppo", "fqi"])
def test_a_tiny_atari_run_resumes_exactly_after_sigterm(algo, workdir, tmp_path):
    alone_dir, run_dir = alone_and_resumed([*ALGOS[algo], *TINY], tmp_path)
    a, b = summary(run_dir), summary(alone_dir)
    for key in ("env_steps", "eval_return_mean"):
        assert a[key] == b[key], key
    net = "agent" if algo == "ppo" else "q"
    params = torch.load(run_dir / "checkpoint.pt", weights_only=True)["algo"][net]
    params_alone = torch.load(alone_dir / "checkpoint.pt", weights_only=True)["algo"][net]
    for name, tensor in params_alone.items():
        assert torch.equal(params[name], tensor), name


def test_a_mujoco_ppo_smoke_run(workdir):
    pytest.importorskip("mujoco")
    result = rlrun(
        "train", "algo=ppo", "env=MuJoCo", "total_steps=1024", "algo.N=512", "algo.S=8", "algo.K=1",
        "eval.every=0", "eval.episodes=1", "env.max_episode_steps=100", "progress=false", "hydra.run.dir=run",
        cwd=workdir,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    done = summary(workdir / "run")
    assert done["env_steps"] == 1024 and np.isfinite(done["eval_return_mean"])


@pytest.mark.parametrize(
    "args, expected",
    [
        (["env=CartPole", "algo.encoder=cnn"], "algo.encoder: cnn needs uint8 image observations"),
        (["env=Atari", "algo.encoder=conv"], "algo.encoder: must be auto, mlp or cnn, got 'conv'"),
        (["env=Atari", "env.screen_size=20"], "env.screen_size: must be >= 36 (the CNN's), got 20"),
        (["env=Atari", "env.repeat_action_probability=1.5"],
         "env.repeat_action_probability: must be in [0, 1]"),
        (["env=Atari", "algo.normalize_obs=true"],
         "algo.normalize_obs: images are scaled by 1/255 in the CNN"),
        (["env=MuJoCo", "algo.clip_obs=0"], "algo.clip_obs: must be > 0"),
        (["env=Atari", "env.id=CartPole-v1"], "env.id: env=Atari takes ALE/<Game>-v5 ids"),
    ],
)  # fmt: skip
def test_bad_image_and_atari_keys_are_one_line(args, expected, workdir):
    result = rlrun_in_process("train", "algo=ppo", *args, "total_steps=256", cwd=workdir)
    assert_one_line_error(result, expected, workdir)
