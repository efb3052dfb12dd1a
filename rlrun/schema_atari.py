"""The Atari env config (any ALE/<Game>-v5 id) and its checks: stdlib only, like rlrun.schema.

The preprocessing keys mean the same on both backends: gymnasium's wrapper stack
(rlrun.envs.atari) and envpool's C++ one (rlrun.envs.envpool_atari, env.backend=envpool).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rlrun.schema import EnvConfig, require

ATARI_BACKENDS = ("gymnasium", "envpool")


@dataclass
class AtariEnvConfig(EnvConfig):  # an ALE game with the standard preprocessing (rlrun.envs.atari)
    id: str = "ALE/Breakout-v5"
    repeat_action_probability: float = 0.25  # sticky actions (ALE v5's default; 0: deterministic)
    full_action_space: bool = False  # all 18 actions instead of the game's minimal set
    noop_max: int = 30  # up to this many no-op actions at reset (random start states)
    frame_skip: int = 4  # each action repeated this many frames; the max of the last two is seen
    screen_size: int = 84  # frames resized to screen_size x screen_size
    grayscale: bool = True
    frame_stack: int = 4  # the observation is the last frame_stack frames
    terminal_on_life_loss: bool = True  # training only: a lost life ends the learner's episode
    fire_reset: bool = True  # press FIRE after a reset and a lost life in games that need it
    clip_reward: bool = True  # training only: rewards clipped to their sign
    envpool_threads: int | None = None  # env.backend=envpool: threads stepping the envs (null: one per env)

    def make_kwargs(self) -> dict[str, Any]:
        # frameskip=1: AtariPreprocessing skips frames; sticky actions by StickyAction (rlrun.envs.atari)
        own = {"frameskip": 1, "repeat_action_probability": 0.0, "full_action_space": self.full_action_space}
        return {**own, **self.kwargs}


def check_atari_env(env: AtariEnvConfig) -> None:
    p = env.repeat_action_probability
    require(0 <= p <= 1, "env.repeat_action_probability", f"must be in [0, 1], got {p}")
    require(env.noop_max >= 0, "env.noop_max", f"must be >= 0, got {env.noop_max}")
    require(env.frame_skip > 0, "env.frame_skip", f"must be an integer > 0, got {env.frame_skip}")
    require(env.screen_size >= 36, "env.screen_size", f"must be >= 36 (the CNN's), got {env.screen_size}")
    require(env.frame_stack > 0, "env.frame_stack", f"must be an integer > 0, got {env.frame_stack}")
    backends = " or ".join(ATARI_BACKENDS)
    require(env.backend in ATARI_BACKENDS, "env.backend", f"Atari games run on {backends}, not {env.backend}")
    threads = env.envpool_threads
    require(threads is None or threads > 0, "env.envpool_threads", f"must be > 0 or null, got {threads}")
    if env.backend == "envpool":
        check_envpool_keys(env)
    else:
        require(threads is None, "env.envpool_threads", "needs env.backend=envpool")


def check_envpool_keys(env: AtariEnvConfig) -> None:
    """The keys envpool's Atari env cannot honour as our gymnasium stack does."""
    require(
        env.vector == "sync",
        "env.vector",
        "env.backend=envpool steps its envs on its own threads (env.envpool_threads); "
        "async is a gymnasium option: leave env.vector=sync",
    )
    require(
        not env.kwargs,
        "env.kwargs",
        f"are passed to gymnasium.make; env.backend=envpool takes none, got {sorted(env.kwargs)}",
    )
    # envpool max-pools the last frame with its previous max (a stale buffer) when it skips no frame
    require(env.frame_skip >= 2, "env.frame_skip", f"env.backend=envpool needs >= 2, got {env.frame_skip}")
    require(
        env.noop_max >= 1,
        "env.noop_max",
        "env.backend=envpool always plays 1 to noop_max no-ops at reset: needs >= 1, got 0",
    )
