"""Behaviour cloning: the supervised first step of the lecture's RLHF recipe ("train a policy on
demonstrations by supervised learning"), by maximum likelihood on (s, a) pairs:

repeat (one iteration = one epoch over the demonstrations):
  for each of S minibatches B of the shuffled dataset:
    theta <- theta + lr * grad (1/|B|) sum_{(s, a) in B} log pi_theta(a|s)

The policy is the same actor-critic as ppo's (rlrun.nets.make_agent), so a bc run dir can be
evaluated, resumed, and used as ppo's starting point and KL reference (algo.reference=RUN_DIR).
The critic is left untrained. The x axis (env_steps) counts demonstration rows processed.
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch

from rlrun.algos.base import Algorithm, Build
from rlrun.errors import ConfigError, check_finite_rows
from rlrun.nets import ActorCritic, make_agent
from rlrun.optim import FlatAdam, FlatParameters
from rlrun.schema import MISSING, AlgoSpec, EnvConfig, check_finite, check_network, check_positive, require


def load_demonstrations(
    path: str | Path, obs_space: gym.Space, act_space: gym.Space
) -> dict[str, np.ndarray]:
    """obs and actions of a transitions .npz (the format `rlrun collect` writes; other fields are
    ignored), checked against the env's spaces: a ConfigError naming algo.dataset if not."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError("algo.dataset", f"{path}: no such file")
    try:
        with np.load(path, allow_pickle=False) as npz:
            data = {key: npz[key] for key in ("obs", "actions") if key in npz.files}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError):
        raise ConfigError("algo.dataset", f"{path}: not a readable .npz file") from None
    if len(data) < 2:
        raise ConfigError("algo.dataset", f"{path}: needs the arrays obs and actions")
    n = len(data["actions"])
    obs_shape = () if isinstance(obs_space, gym.spaces.Discrete) else tuple(obs_space.shape)
    act_shape = () if isinstance(act_space, gym.spaces.Discrete) else tuple(act_space.shape)
    for key, shape in (("obs", (n, *obs_shape)), ("actions", (n, *act_shape))):
        if data[key].shape != shape:
            raise ConfigError("algo.dataset", f"{path}: {key} has shape {data[key].shape}, expected {shape}")
    if n == 0:
        raise ConfigError("algo.dataset", f"{path}: holds no transitions")
    for key in ("obs", "actions"):
        if np.issubdtype(data[key].dtype, np.floating) and not np.isfinite(data[key]).all():
            raise ConfigError("algo.dataset", f"{path}: {key} holds NaN or Inf")
    if isinstance(act_space, gym.spaces.Discrete):
        a = data["actions"]
        if not np.issubdtype(a.dtype, np.integer) or a.min() < 0 or a.max() >= act_space.n:
            raise ConfigError("algo.dataset", f"{path}: actions must be integers in [0, {act_space.n})")
    return data


class BehaviourCloning(Algorithm):
    progress_unit = "sample"

    def __init__(self, cfg: BCConfig, agent: ActorCritic, data: dict[str, np.ndarray], device: torch.device):
        self.cfg, self.agent, self.device = cfg, agent, device
        self.obs = torch.as_tensor(data["obs"], device=device)
        actions = torch.as_tensor(data["actions"], device=device)
        self.actions = actions.long() if agent.discrete else actions.float()
        if agent.encoder.normalize:  # the dataset's statistics, fixed: they travel with the policy
            agent.encoder.set_statistics(self.obs)
        self.optimizer = FlatAdam(FlatParameters(agent), agent.actor_parameters(), lr=cfg.lr)
        self.generator = torch.Generator(device=device)
        self.iteration = 0
        self.env_steps = 0

    def iterate(self) -> dict[str, float]:
        n = len(self.actions)
        order = torch.randperm(n, device=self.device, generator=self.generator)
        self.agent.train()
        stats = []
        for rows in order.chunk(self.cfg.S):
            # maximise the log-likelihood of the demonstrated actions
            logp, entropy, _ = self.agent.evaluate(self.obs[rows], self.actions[rows])
            loss = -logp.mean()
            self.optimizer.zero_grad()
            loss.backward()
            self.optimizer.step()
            stats.append(torch.stack([loss, entropy.mean()]).detach())
        self.iteration += 1
        self.env_steps += n
        tags = ["losses/nll", "losses/entropy"]
        rows = check_finite_rows(stats, tags, f"at epoch {self.iteration}")
        return dict(zip(tags, rows.mean(0).tolist(), strict=True))

    def policy(self) -> ActorCritic:
        return self.agent

    def state_dict(self) -> dict[str, Any]:
        return {
            "agent": self.agent.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "generator": self.generator.get_state(),
            "iteration": self.iteration,
            "env_steps": self.env_steps,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.agent.load_state_dict(state["agent"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.generator.set_state(state["generator"].cpu())
        self.iteration, self.env_steps = state["iteration"], state["env_steps"]

    def outcome(self, summary: dict[str, Any], wall_s: float) -> str:
        return f"{self.iteration} epochs over {len(self.actions)} demonstrations in {wall_s:.1f}s"


@dataclass
class BCConfig:
    name: str = "bc"
    dataset: str = MISSING  # a transitions .npz (rlrun collect's format; obs and actions are used)
    S: int = 50  # minibatches per epoch (one iteration = one epoch over the dataset)
    lr: float = 1e-3
    hidden: list[int] = field(default_factory=lambda: [64, 64])
    activation: str = "tanh"
    normalize_obs: bool = False  # standardise observations by the dataset's mean and std
    init_log_std: float = 0.0  # Gaussian policies only


def check(cfg: BCConfig, env: EnvConfig) -> None:
    check_finite(cfg, "algo.")
    check_positive(cfg, "S", "lr")
    check_network(cfg)
    require(bool(cfg.dataset), "algo.dataset", "must name a transitions .npz file")


def make(cfg: BCConfig, build: Build) -> BehaviourCloning:
    envs = build.envs
    data = load_demonstrations(cfg.dataset, envs.single_observation_space, envs.single_action_space)
    require(
        cfg.S <= len(data["actions"]),
        "algo.S",
        f"must be at most the dataset's {len(data['actions'])} rows, got {cfg.S}",
    )
    agent = make_agent(cfg, envs).to(build.device)
    algo = BehaviourCloning(cfg, agent, data, build.device)
    algo.generator.manual_seed(build.seed)
    return algo


SPEC = AlgoSpec("bc", BCConfig, check, make)
