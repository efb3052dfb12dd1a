"""What ppo, pg and ac share besides their update: an actor-critic, its optimizers and a collector,
and how they are saved and restored for an exact resume; and, for pg and ac on tabular envs, the
critic's error against the exact V^pi (`diagnostics/value_error`)."""

from __future__ import annotations

import math
from typing import Any

import gymnasium as gym
import torch

from rlrun import bellman
from rlrun.algos.base import Algorithm
from rlrun.config import TABULAR_ENVS, EnvConfig
from rlrun.envs.tabular import TabularModel, tabular_model
from rlrun.nets import ActorCritic
from rlrun.rollout import Collector

# The exact V^pi takes two dense solves, about 5 (S / 40)^3 microseconds on one CPU thread (Taxi's
# 500 states: 10 ms), so it is computed at most once per (S / 40)^3 env steps: about 5 microseconds
# per env step, a tenth of what a step costs pg or ac here (every iteration up to ~100 states,
# every ~2000 env steps on Taxi). Above VALUE_ERROR_MAX_STATES states the model is not even built.
VALUE_ERROR_MAX_STATES = 5000
VALUE_ERROR_STATE_SCALE = 40


class ExactValueError:
    """The critic V_hat(s) against the exact V^pi(s) of the current stochastic policy, from the
    env's tabular model:
        V^pi = (I - gamma P_pi)^-1 R_pi,  P_pi = sum_a pi(a|s) P[s, a, :],  R_pi = sum_a pi(a|s) R[s, a],
    with pi(a|s) from the policy net on every state at once (the observation of a tabular env is
    its state index). The error is an RMS weighted by the policy's discounted state distribution
    d(s) ~ sum_t gamma^t Pr(s_t = s) from the env's start distribution: the states the policy
    reaches, as often as it reaches them (the critic is only trained on those; a plain mean over
    all states would count unreachable ones, where its output is arbitrary). The critic's gamma
    is the algo's. With reward normalisation the critic predicts scaled returns: its output is
    scaled back, so the error is in the env's reward units."""

    def __init__(self, model: TabularModel, gamma: float):
        self.model, self.gamma = model, gamma
        self.states = torch.arange(model.num_states, device=model.R.device)
        self.every = max(1, int((model.num_states / VALUE_ERROR_STATE_SCALE) ** 3))  # env steps

    @classmethod
    def for_env(
        cls, env: EnvConfig, envs: gym.vector.VectorEnv, gamma: float, device: torch.device
    ) -> ExactValueError | None:
        """The check when the env has a tabular model of at most VALUE_ERROR_MAX_STATES states,
        else None (and nothing is computed, ever)."""
        space = envs.single_observation_space
        if env.id not in TABULAR_ENVS or not isinstance(space, gym.spaces.Discrete):
            return None
        if space.n > VALUE_ERROR_MAX_STATES:
            return None
        return cls(tabular_model(env, device), gamma)

    def due(self, steps_before: int, steps_after: int) -> bool:
        """Whether an iteration that took the run from steps_before to steps_after env steps crossed
        a multiple of `every` (a function of the step count alone, so a resumed run logs at the
        same steps)."""
        return steps_after // self.every > steps_before // self.every

    @torch.no_grad()
    def __call__(self, agent: ActorCritic, reward_scale: float = 1.0) -> float | None:
        """The weighted RMS of V_hat - V^pi; None where V^pi is not finite (gamma = 1 on a policy
        that need not end its episodes)."""
        m = self.model
        probs = agent.dist(self.states).probs.to(torch.float64)  # [S, A]
        try:
            V_pi = bellman.evaluate_policy(m.P, m.R, probs, self.gamma)
            d = bellman.discounted_visitation(m.P, m.start, probs, self.gamma)
        except torch.linalg.LinAlgError:  # I - P_pi singular: some episodes never end
            return None
        V_hat = agent.value(self.states).to(torch.float64) / reward_scale
        error = torch.sqrt((d * (V_hat - V_pi) ** 2).sum()).item()
        return error if math.isfinite(error) and bool(torch.isfinite(d).all()) else None


def reward_scale(envs: gym.vector.VectorEnv) -> float:
    """What rewards are multiplied by before the critic sees them: 1, or with reward
    normalisation (gymnasium's NormalizeReward) 1 / std of the discounted return, as it is now."""
    rms = getattr(envs, "return_rms", None)
    return 1.0 if rms is None else float(1.0 / math.sqrt(rms.var + envs.epsilon))


class OnPolicyAlgorithm(Algorithm):
    agent: ActorCritic
    collector: Collector
    envs: gym.vector.VectorEnv
    optimizers: tuple[str, ...] = ()  # names of the torch optimizer attributes, saved under these names
    value_check: ExactValueError | None = None  # pg and ac on tabular envs

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
