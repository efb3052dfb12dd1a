"""Policy iteration, as in the lecture:

repeat:
  1. evaluate A^pi(s, a) = r(s, a) + gamma E[V^pi(s')] - V^pi(s)
     (S = 0: V^pi exactly, by the linear solve of V = R_pi + gamma P_pi V;
      S > 0: S sweeps of that backup from the last V, i.e. modified policy iteration)
  2. set pi'(s) = argmax_a A^pi(s, a) = argmax_a Q^pi(s, a)
until the policy no longer changes (with S > 0: and the Bellman residual is below tol), or K
iterations.
"""

from __future__ import annotations

import gymnasium as gym
import torch

from rlrun import bellman
from rlrun.algos.tabular_base import TabularAlgorithm
from rlrun.config import PIConfig, RunConfig
from rlrun.envs.tabular import TabularModel, tabular_model


class PolicyIteration(TabularAlgorithm):
    progress_unit = "iteration"  # one evaluation and one improvement

    def __init__(self, cfg: PIConfig, model: TabularModel, total_steps: int):
        super().__init__(model, cfg.gamma, cfg.K, total_steps)
        self.cfg = cfg

    def iterate(self) -> dict[str, float]:
        m, gamma = self.model, self.cfg.gamma
        # 1. evaluate V^pi (exactly, or by S sweeps from the last V), then Q^pi = r + gamma E[V^pi(s')]
        self.V = bellman.evaluate_policy(m.P, m.R, self.pi, gamma, sweeps=self.cfg.S, V0=self.V)
        Q = bellman.q_values(m.P, m.R, self.V, gamma)
        # 2. set pi'(s) = argmax_a Q^pi(s, a), keeping pi(s) where it is as good (up to rounding)
        tie = 1e-12 * (1 + Q.abs().max().item())
        V_greedy, pi_new = bellman.greedy(Q, keep=self.pi, tie=tie)
        self.residual = (V_greedy - self.V).abs().max().item()
        changes = int((pi_new != self.pi).sum())
        self.pi = pi_new
        converged = changes == 0 and (self.cfg.S == 0 or self.residual < self.cfg.tol)
        metrics = {"tabular/bellman_residual": self.residual, "tabular/policy_changes": changes}
        return self.step_done(metrics, converged)

    def stopping_rule(self) -> str:
        if self.cfg.S == 0:
            return "policy stable"
        return f"policy stable, residual {self.residual:.2e} < algo.tol={self.cfg.tol:g}"


def make(run: RunConfig, envs: gym.vector.VectorEnv | None, device: torch.device) -> PolicyIteration:
    model = tabular_model(run.env, device)
    return PolicyIteration(run.algo, model, run.total_steps)
