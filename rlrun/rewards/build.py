"""Building what ppo needs for the RLHF case study from the configs: the reference policy (a run
dir's checkpoint, from which the policy also starts), the reward model (fitted, or to be learned
from preferences) and the shaping that puts them in place of the env's reward."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import torch

from rlrun.checkpoint import load_checkpoint
from rlrun.errors import ConfigError
from rlrun.nets import ActorCritic
from rlrun.rewards.learner import REWARD_MODEL_FILE, PreferenceLearner
from rlrun.rewards.model import RewardModel
from rlrun.rewards.shaping import RewardShaping
from rlrun.schema import require

NETWORK_KEYS = ("hidden", "activation", "normalize_obs", "shared")


def load_reference(run_dir: str, cfg: Any, agent: ActorCritic, device: torch.device) -> ActorCritic:
    """Start `agent` from the policy saved in run_dir (bc, ppo, ...) and return a frozen copy of it:
    pi_ref. Its network must be the one cfg describes."""
    path = Path(run_dir)
    require(path.is_dir(), "algo.reference", f"{run_dir}: no such run dir")
    state = load_checkpoint(path, map_location=device)
    saved = state["config"]["algo"]
    for key in NETWORK_KEYS:
        theirs, ours = saved.get(key, False if key == "shared" else None), getattr(cfg, key, False)
        if key in saved or key == "shared":
            require(
                theirs == ours,
                "algo.reference",
                f"{run_dir} has {key}={theirs}; set algo.{key}={theirs} to start from it",
            )
    try:
        agent.load_state_dict(state["algo"]["agent"])
    except (KeyError, RuntimeError):
        raise ConfigError(
            "algo.reference", f"{run_dir}: its policy does not fit this env and network"
        ) from None
    reference = copy.deepcopy(agent).eval()
    reference.requires_grad_(False)
    return reference


def load_reward_model(run_dir: str, envs: Any, device: torch.device) -> RewardModel:
    path = Path(run_dir)
    require((path / REWARD_MODEL_FILE).is_file(), "reward.model", f"{run_dir} holds no {REWARD_MODEL_FILE}")
    state = load_checkpoint(path, map_location=device, name=REWARD_MODEL_FILE)
    model = RewardModel(
        envs.single_observation_space, envs.single_action_space, state["hidden"], state["members"]
    )
    try:
        model.load_state_dict(state["state"])
    except RuntimeError:
        raise ConfigError("reward.model", f"{run_dir}: its reward model does not fit this env") from None
    return model.to(device)


def make_shaping(reward: Any, cfg: Any, agent: ActorCritic, build: Any) -> RewardShaping | None:
    """The shaping ppo puts in place of the env's reward, or None where it trains on the env's."""
    envs, device = build.envs, build.device
    reference = load_reference(cfg.reference, cfg, agent, device) if cfg.reference else None
    model, learner = None, None
    name = "env" if reward is None else reward.name
    if name == "model":
        model = load_reward_model(reward.model, envs, device)
    elif name == "preferences":
        spaces = (envs.single_observation_space, envs.single_action_space)
        model = RewardModel(*spaces, list(reward.hidden), reward.ensemble).to(device)
        learner = PreferenceLearner(reward, model, spaces, build.total_steps, device, build.seed)
    if model is None and reference is None:
        return None
    return RewardShaping(model, reference, cfg.kl_coef, cfg.reference_kl, cfg.kl_horizon, learner)
