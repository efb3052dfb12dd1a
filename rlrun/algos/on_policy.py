"""What ppo, pg and ac share besides their update: an actor-critic, its optimizers and a collector,
and how they are saved and restored for an exact resume; and, for pg and ac on tabular envs, the
critic's error against the exact V^pi (rlrun.diagnostics)."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import torch

from rlrun.algos.base import Algorithm
from rlrun.diagnostics import ExactValueError, reward_scale
from rlrun.nets import ENCODERS, ActorCritic
from rlrun.rollout import Collector
from rlrun.schema import (
    check_choice,
    check_finite,
    check_gamma,
    check_network,
    check_optional_positive,
    check_positive,
    require,
)


class OnPolicyAlgorithm(Algorithm):
    agent: ActorCritic
    collector: Collector
    envs: gym.vector.VectorEnv
    optimizers: tuple[str, ...] = ()  # names of the torch optimizer attributes, saved under these names
    value_check: ExactValueError | None = None  # pg and ac on tabular envs

    def __init__(
        self,
        cfg: Any,
        envs: gym.vector.VectorEnv,
        agent: ActorCritic,
        device: torch.device,
        seed: int,
        value_check: ExactValueError | None = None,
    ):
        self.cfg, self.envs, self.agent, self.device = cfg, envs, agent, device
        self.value_check = value_check
        self.collector = Collector(envs, agent, device, seed)
        self.iteration = 0
        self.env_steps = 0

    def policy(self) -> ActorCritic:
        return self.agent

    def value_error(self, steps_before: int) -> dict[str, float]:
        """diagnostics/value_error of the critic as the iteration leaves it, against V^pi of the
        policy as it leaves it, when the env is tabular and the check is due; else nothing."""
        check = self.value_check
        if check is None or not check.due(steps_before, self.env_steps):
            return {}
        error = check(self.agent, reward_scale(self.envs))
        return {} if error is None else {"diagnostics/value_error": error}

    def pop_episodes(self) -> list[tuple[float, int]]:
        return self.collector.pop_episodes()

    def restart_episodes(self) -> None:
        self.collector.obs = None

    def state_dict(self) -> dict[str, Any]:
        return {
            "agent": self.agent.state_dict(),
            **{name: getattr(self, name).state_dict() for name in self.optimizers},
            "iteration": self.iteration,
            "env_steps": self.env_steps,
            "collector": self.collector.state_dict(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.agent.load_state_dict(state["agent"])
        for name in self.optimizers:
            getattr(self, name).load_state_dict(state[name])
        self.iteration = state["iteration"]
        self.env_steps = state["env_steps"]
        self.collector.load_state_dict(state["collector"])


def explained_variance(predicted: torch.Tensor, targets: torch.Tensor) -> float:
    """1 - Var[y - V] / Var[y]: how much of the targets' variance the critic explains (nan when
    the targets do not vary)."""
    var = targets.var() if len(targets) > 1 else torch.tensor(0.0)
    return (1 - (targets - predicted).var() / var).item() if var > 0 else float("nan")


def check_actor_critic(cfg: Any) -> None:
    """The checks pg and ac share: counts, learning rates, discount, clipping, network."""
    check_finite(cfg, "algo.")
    check_positive(cfg, "N", "S", "lr", "critic_lr")
    check_gamma(cfg)
    require(cfg.ent_coef >= 0, "algo.ent_coef", f"must be >= 0, got {cfg.ent_coef}")
    check_optional_positive(cfg, "max_grad_norm")
    check_network(cfg)
    check_choice(cfg, "encoder", ENCODERS)
