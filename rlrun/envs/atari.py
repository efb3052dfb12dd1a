"""Atari games (the Arcade Learning Environment) with the standard preprocessing of Mnih et al. 2015
as the DQN and PPO baselines use it (CleanRL's ppo_atari / dqn_atari, SB3's AtariWrapper):

    ALE/<Game>-v5 made with frameskip=1 and repeat_action_probability=0
    -> gymnasium's StickyAction: the previous frame's action repeated with env.repeat_action_probability
    -> gymnasium's AtariPreprocessing: up to noop_max no-ops at reset, frame skip with the max of
       the last two frames, screen_size x screen_size, grayscale
    -> GameStatistics: the unclipped score and length of each whole game (what we report)
    -> EpisodicLife (training only): a life lost ends the episode for the learner; the game goes on
    -> FireReset: press FIRE after every reset, in games that need it to start
    -> SignReward (training only): rewards clipped to their sign
    -> gymnasium's FrameStackObservation: the last frame_stack frames, [k, H, W] uint8

Frames stay uint8 all the way; the network scales them by 1/255 (rlrun.nets.NatureCNN).
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np


class GameStatistics(gym.Wrapper):
    """Adds info["game_r"] and info["game_l"] (unclipped score, agent steps) at the end of each
    whole game, whatever ends the learner's episodes above it."""

    def __init__(self, env: gym.Env):
        super().__init__(env)
        self.score, self.length = 0.0, 0

    def reset(self, **kwargs: Any) -> tuple[Any, dict]:
        self.score, self.length = 0.0, 0
        return self.env.reset(**kwargs)

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict]:
        obs, reward, terminated, truncated, info = self.env.step(action)
        self.score += float(reward)
        self.length += 1
        if terminated or truncated:
            info = {**info, "game_r": self.score, "game_l": self.length}
        return obs, reward, terminated, truncated, info


class EpisodicLife(gym.Wrapper):
    """A lost life ends the learner's episode (terminated); the next reset goes on with the same
    game by a no-op step, and only a finished game is really reset."""

    def __init__(self, env: gym.Env):
        super().__init__(env)
        self.lives, self.game_over = 0, True

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict]:
        obs, reward, terminated, truncated, info = self.env.step(action)
        self.game_over = terminated or truncated
        lives = self.env.unwrapped.ale.lives()
        if 0 < lives < self.lives:
            terminated = True
        self.lives = lives
        return obs, reward, terminated, truncated, info

    def reset(self, **kwargs: Any) -> tuple[Any, dict]:
        if self.game_over:
            obs, info = self.env.reset(**kwargs)
        else:
            obs, _, terminated, truncated, info = self.env.step(0)
            if terminated or truncated:  # the no-op ended the game: its statistics stay in info
                obs, reset_info = self.env.reset(**kwargs)
                info = {**reset_info, **{k: v for k, v in info.items() if k.startswith("game_")}}
        self.lives, self.game_over = self.env.unwrapped.ale.lives(), False
        return obs, info


class FireReset(gym.Wrapper):
    """Press FIRE (then UP) after a reset, for games that wait for it (Breakout serves on FIRE),
    and FIRE after a life lost within an episode: where lives do not end episodes (evaluation),
    a policy that never learnt to serve would stall the game until its time limit."""

    def __init__(self, env: gym.Env):
        super().__init__(env)
        self.lives = 0

    def reset(self, **kwargs: Any) -> tuple[Any, dict]:
        self.env.reset(**kwargs)
        for action in (1, 2):
            obs, _, terminated, truncated, info = self.env.step(action)
            if terminated or truncated:
                obs, info = self.env.reset(**kwargs)
        self.lives = self.env.unwrapped.ale.lives()
        return obs, info

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict]:
        obs, reward, terminated, truncated, info = self.env.step(action)
        lives = self.env.unwrapped.ale.lives()
        if lives < self.lives and not (terminated or truncated):
            obs, served, terminated, truncated, info = self.env.step(1)
            reward += served
        self.lives = lives
        return obs, reward, terminated, truncated, info


class SignReward(gym.RewardWrapper):
    """r -> sign(r): one scale of reward across games (training only)."""

    def reward(self, reward: float) -> float:
        return float(np.sign(reward))


def wrap_atari(env: gym.Env, cfg: Any, training: bool) -> gym.Env:
    """The preprocessing stack over a raw ALE env (made with frameskip=1); cfg: AtariEnvConfig."""
    if cfg.repeat_action_probability > 0:  # per frame, as ALE v5's own sticky actions
        env = gym.wrappers.StickyAction(env, cfg.repeat_action_probability)
    env = gym.wrappers.AtariPreprocessing(
        env,
        noop_max=cfg.noop_max,
        frame_skip=cfg.frame_skip,
        screen_size=cfg.screen_size,
        grayscale_obs=cfg.grayscale,
    )
    env = GameStatistics(env)
    if training and cfg.terminal_on_life_loss:
        env = EpisodicLife(env)
    if cfg.fire_reset and "FIRE" in env.unwrapped.get_action_meanings()[1:2]:
        env = FireReset(env)
    if training and cfg.clip_reward:
        env = SignReward(env)
    if cfg.frame_stack > 1:
        env = gym.wrappers.FrameStackObservation(env, cfg.frame_stack)
    return env


class GameEpisodes(gym.vector.VectorWrapper):
    """The vector env's episode statistics (info["episode"], info["_episode"]) of whole games,
    unclipped, from GameStatistics; in place of gymnasium's RecordEpisodeStatistics, which would
    count lives and clipped rewards. In SAME_STEP autoreset the info of a step that ended an
    episode sits under info["final_info"]; a game can also end inside an EpisodicLife reset."""

    def reset(self, **kwargs: Any) -> tuple[Any, dict]:
        return self.env.reset(**kwargs)

    def step(self, actions: Any) -> tuple[Any, ...]:
        obs, reward, terminated, truncated, info = self.env.step(actions)
        E = self.num_envs
        r, length, ended = np.zeros(E), np.zeros(E, dtype=np.int64), np.zeros(E, dtype=bool)
        for source in (info.get("final_info", {}), info):
            mask = source.get("_game_r")
            if mask is not None:
                r = np.where(mask, source["game_r"], r)
                length = np.where(mask, source["game_l"], length)
                ended |= mask
        info = {**info, "episode": {"r": r, "l": length}, "_episode": ended}
        return obs, reward, terminated, truncated, info
