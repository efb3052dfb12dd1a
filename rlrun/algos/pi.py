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

from dataclasses import dataclass

from rlrun import bellman
from rlrun.algos.base import Build
from rlrun.algos.tabular_base import TabularAlgorithm
from rlrun.envs.tabular import TabularModel
from rlrun.schema import (
    AlgoSpec,
    EnvConfig,
    check_finite,
    check_gamma,
    check_needs_model,
    check_positive,
    require,
)


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


# ---------------------------------------------------------------------------- config and builder


@dataclass
class PIConfig:
    name: str = "pi"
    gamma: float = 0.99
    S: int = 0  # evaluation sweeps per iteration; 0: exact policy evaluation by a linear solve
    K: int = 10_000  # iteration cap (one iteration = evaluate, then improve)
    tol: float = 1e-10  # with S > 0: stop only once the Bellman residual is also below tol


def check(cfg: PIConfig, env: EnvConfig) -> None:
    check_finite(cfg, "algo.")
    check_needs_model("pi", env)
    check_gamma(cfg)
    require(cfg.S >= 0, "algo.S", f"must be >= 0 (0: exact evaluation), got {cfg.S}")
    check_positive(cfg, "K", "tol")


def make(cfg: PIConfig, build: Build) -> PolicyIteration:
    return PolicyIteration(cfg, build.tabular_model(), build.total_steps)


SPEC = AlgoSpec("pi", PIConfig, check, make, tabular=True)
