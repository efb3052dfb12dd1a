"""Value iteration, as in the lecture:

repeat:
  1. set Q(s, a) <- r(s, a) + gamma E[V(s')]
  2. set V(s) <- max_a Q(s, a)
until the Bellman residual max_s |V_new(s) - V(s)| < tol (or K iterations).

Each iteration is one backup of all states at once on the model's device (rlrun.bellman).
"""

from __future__ import annotations

import gymnasium as gym
import torch

from rlrun import bellman
from rlrun.algos.tabular_base import TabularAlgorithm
from rlrun.config import RunConfig, VIConfig
from rlrun.envs.tabular import TabularModel, tabular_model


class ValueIteration(TabularAlgorithm):
    def __init__(self, cfg: VIConfig, model: TabularModel, total_steps: int):
        super().__init__(model, cfg.gamma, cfg.K, total_steps)
        self.cfg = cfg

    def iterate(self) -> dict[str, float]:
        m = self.model
        # 1. set Q(s, a) <- r(s, a) + gamma E[V(s')]
        Q = bellman.q_values(m.P, m.R, self.V, self.cfg.gamma)
        # 2. set V(s) <- max_a Q(s, a)   (the argmax is the greedy policy pi'(s))
        V_new, pi_new = bellman.greedy(Q, keep=self.pi)
        self.residual = (V_new - self.V).abs().max().item()
        changes = int((pi_new != self.pi).sum())
        self.V, self.pi = V_new, pi_new
        metrics = {"tabular/bellman_residual": self.residual, "tabular/policy_changes": changes}
        return self.step_done(metrics, converged=self.residual < self.cfg.tol)


def make(run: RunConfig, envs: gym.vector.VectorEnv | None, device: torch.device) -> ValueIteration:
    model = tabular_model(run.env, device)
    return ValueIteration(run.algo, model, run.total_steps)
