"""Atari games stepped by envpool (env.backend=envpool): the preprocessing of rlrun.envs.atari done
in envpool's C++ threads, seen as a gymnasium vector env in SAME_STEP autoreset mode with whole-game
episode statistics, as make_vector_env's Atari envs are.

Each key of AtariEnvConfig maps onto one of envpool's options:

    repeat_action_probability -> repeat_action_probability (ALE's own, per frame)
    full_action_space -> full_action_space        noop_max -> noop_max (1..noop_max no-ops)
    frame_skip -> frame_skip (max of the last two) screen_size -> img_height, img_width (INTER_AREA)
    grayscale -> gray_scale                        frame_stack -> stack_num
    terminal_on_life_loss -> episodic_life (training only)
    fire_reset -> use_fire_reset                   clip_reward -> reward_clip (training only)
    max_episode_steps (emulator frames) -> max_episode_steps (agent steps: frames / frame_skip)
    num_envs -> num_envs = batch_size              envpool_threads -> num_threads

Where envpool differs from the gymnasium stack (same distributions, not the same frames):
- its fire reset presses FIRE once, in place of the last no-op; ours plays the no-ops, then FIRE, UP;
- after a lost life (training) its frame stack goes on; ours starts afresh from the new frame;
- its emulators are seeded seed + i per env, in its own way: no episode matches ours frame for frame.

envpool resets a finished env at its NEXT step (the action is ignored); here the finished envs are
stepped once more at once (envpool steps a subset of its envs when given their ids), so that the
step that ends an episode returns the reset observation and the final one in info["final_obs"].
envpool cannot save its emulators: `capturable = False` tells rlrun.envs.state, and a resumed run
starts fresh episodes (an exact resume needs env.backend=gymnasium).
"""

from __future__ import annotations

import math
from typing import Any

import gymnasium as gym
import numpy as np

from rlrun.errors import ConfigError
from rlrun.extras import missing_extra
from rlrun.schema_atari import AtariEnvConfig

ALE_FRAMES_PER_GAME = 108_000  # ALE v5's max_num_frames_per_episode (the gymnasium backend's limit)


def envpool_task(env_id: str) -> str:
    """envpool's name of an ALE id: ALE/Breakout-v5 -> Breakout-v5."""
    return env_id.split(":")[-1].removeprefix("ALE/")


def import_envpool(env_id: str) -> Any:
    try:
        import envpool
    except ImportError:
        message = missing_extra("envpool", f"env.backend=envpool ({env_id})")
        raise ConfigError("env.backend", message) from None
    return envpool


def envpool_options(cfg: AtariEnvConfig, num_envs: int, training: bool, seed: int) -> dict[str, Any]:
    """envpool.make's keyword arguments for an Atari config (checked by check_atari_env)."""
    frames = cfg.max_episode_steps or ALE_FRAMES_PER_GAME
    return {
        "env_type": "gymnasium",
        "num_envs": num_envs,
        "batch_size": num_envs,
        "num_threads": cfg.envpool_threads or num_envs,
        "seed": seed,
        "max_episode_steps": math.ceil(frames / cfg.frame_skip),
        "repeat_action_probability": cfg.repeat_action_probability,
        "full_action_space": cfg.full_action_space,
        "noop_max": cfg.noop_max,
        "frame_skip": cfg.frame_skip,
        "img_height": cfg.screen_size,
        "img_width": cfg.screen_size,
        "gray_scale": cfg.grayscale,
        "stack_num": cfg.frame_stack,
        "episodic_life": training and cfg.terminal_on_life_loss,
        "use_fire_reset": cfg.fire_reset,
        "reward_clip": training and cfg.clip_reward,
    }


def frame_shape(cfg: AtariEnvConfig) -> tuple[int, ...]:
    """One observation's shape as the gymnasium stack gives it: [k, H, W] (colour: [k, H, W, 3]),
    without the k axis when frame_stack is 1."""
    frame = (cfg.screen_size, cfg.screen_size) + (() if cfg.grayscale else (3,))
    return ((cfg.frame_stack,) if cfg.frame_stack > 1 else ()) + frame


class EnvpoolAtari(gym.vector.VectorEnv):
    """num_envs Atari games in one envpool; actions in, numpy arrays out (as gymnasium's vector envs)."""

    capturable = False  # rlrun.envs.state: the emulators live in C++; a resume starts fresh episodes

    def __init__(self, cfg: AtariEnvConfig, num_envs: int, training: bool = True, seed: int = 0):
        self.cfg, self.num_envs, self.training = cfg, num_envs, training
        self.envpool = import_envpool(cfg.id)
        task = envpool_task(cfg.id)
        if task not in self.envpool.list_all_envs():
            raise ConfigError("env.id", f"envpool has no Atari game {task!r}; use env.backend=gymnasium")
        self.seed = seed
        self.pool = self._make_pool(seed)
        self.single_observation_space = gym.spaces.Box(0, 255, frame_shape(cfg), np.uint8)
        self.single_action_space = gym.spaces.Discrete(int(self.pool.action_space.n))
        self.observation_space = gym.vector.utils.batch_space(self.single_observation_space, num_envs)
        self.action_space = gym.vector.utils.batch_space(self.single_action_space, num_envs)
        self.metadata = {"autoreset_mode": gym.vector.AutoresetMode.SAME_STEP, "frame_stack": cfg.frame_stack}
        self.score = np.zeros(num_envs)  # the unclipped score and agent steps of each env's game so far
        self.length = np.zeros(num_envs, dtype=np.int64)

    def _make_pool(self, seed: int) -> Any:
        options = envpool_options(self.cfg, self.num_envs, self.training, seed)
        return self.envpool.make(envpool_task(self.cfg.id), **options)

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[np.ndarray, dict]:
        """New games in every env; envpool seeds its emulators when it is made, so a new seed makes
        a new pool."""
        if seed is not None and seed != self.seed:
            self.pool.close()
            self.pool, self.seed = self._make_pool(seed), seed
        obs, _ = self.pool.reset()
        self.score[:], self.length[:] = 0.0, 0
        return self.observations(obs), {}

    def step(self, actions: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict]:
        obs, reward, terminated, truncated, info = self.pool.step(np.asarray(actions, dtype=np.int32))
        self.score += info["reward"]  # the game's reward, unclipped
        self.length += 1
        ended = terminated | truncated
        game_over = info["terminated"].astype(bool) | truncated  # (`terminated` may be a lost life)
        obs = self.observations(obs)
        final_obs = obs.copy()
        if ended.any():  # the reset observations now (SAME_STEP), not at the next step
            ids = np.flatnonzero(ended)
            lives = self.reset_ended(obs, ids)
            # no-ops after a lost life that lose the last one: envpool has begun a new game
            game_over[ids[lives > info["lives"][ids]]] = True
        episode = {"r": np.where(game_over, self.score, 0.0), "l": np.where(game_over, self.length, 0)}
        self.score[game_over], self.length[game_over] = 0.0, 0
        info = {"final_obs": final_obs, "_final_obs": ended, "episode": episode, "_episode": game_over}
        return obs, reward.astype(np.float64), terminated, truncated, info

    def reset_ended(self, obs: np.ndarray, ids: np.ndarray) -> np.ndarray:
        """Step the envs `ids` (ascending) once more: envpool resets them, ignoring the action (a new
        game, or after a lost life the same game's next life). Their reset observations go into obs;
        returns their lives after."""
        reset_obs, _, _, _, info = self.pool.step(np.zeros(len(ids), dtype=np.int32), ids)
        rows = np.searchsorted(ids, np.asarray(info["env_id"]))  # envpool's order -> ids' order
        obs[ids[rows]] = self.observations(reset_obs)
        lives = np.empty(len(ids), dtype=np.int64)
        lives[rows] = info["lives"]
        return lives

    def observations(self, obs: np.ndarray) -> np.ndarray:
        """envpool's [E, k*C, H, W] frames in the gymnasium stack's layout (envpool hands out a new
        array at every step, which this may view: callers own it)."""
        E, k, size = obs.shape[0], self.cfg.frame_stack, self.cfg.screen_size
        if not self.cfg.grayscale:  # [E, k, 3, H, W] -> [E, k, H, W, 3]
            obs = obs.reshape(E, k, 3, size, size).transpose(0, 1, 3, 4, 2)
        return np.ascontiguousarray(obs.reshape(E, *self.single_observation_space.shape))

    def close_extras(self, **kwargs: Any) -> None:
        self.pool.close()
