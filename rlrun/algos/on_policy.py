"""What ppo, pg and ac share besides their update: an actor-critic, its optimizers and a collector,
and how they are saved and restored for an exact resume."""

from __future__ import annotations

from typing import Any

from rlrun.algos.base import Algorithm
from rlrun.nets import ActorCritic
from rlrun.rollout import Collector


class OnPolicyAlgorithm(Algorithm):
    agent: ActorCritic
    collector: Collector
    optimizers: tuple[str, ...] = ()  # names of the torch optimizer attributes, saved under these names

    def policy(self) -> ActorCritic:
        return self.agent

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
