"""Diagnostics that check a learner against exact answers where the env has a tabular model: the
critic's error against the exact V^pi of the current policy (`diagnostics/value_error`)."""

from __future__ import annotations

import math
from collections.abc import Callable

import gymnasium as gym
import torch

from rlrun import bellman
from rlrun.envs.tabular import TabularModel
from rlrun.nets import ActorCritic

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
        cls, tabular_model: Callable[[], TabularModel] | None, envs: gym.vector.VectorEnv, gamma: float
    ) -> ExactValueError | None:
        """The check when the env has a tabular model of at most VALUE_ERROR_MAX_STATES states,
        else None (and nothing is computed, ever)."""
        space = envs.single_observation_space
        if tabular_model is None or not isinstance(space, gym.spaces.Discrete):
            return None
        if space.n > VALUE_ERROR_MAX_STATES:
            return None
        return cls(tabular_model(), gamma)

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
