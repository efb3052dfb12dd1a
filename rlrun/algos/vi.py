"""Value iteration, as in the lecture:

repeat:
  1. set Q(s, a) <- r(s, a) + gamma E[V(s')]
  2. set V(s) <- max_a Q(s, a)
until converged (or K iterations), which needs all three of:
  - the Bellman residual max_s |V_new(s) - V(s)| < tol (V is then within tol gamma / (1 - gamma)
    of V*, and the greedy policy's values within 2 tol gamma / (1 - gamma) of the optimum);
  - no state's value turned from 0 to non-zero: the news of a reward has reached every state it
    will reach (a sparse reward spreads one step of the model per iteration, so far from it V is
    still exactly 0 and the greedy action arbitrary, however small the residual already is);
  - the greedy policy did not change in this iteration.

Each iteration is one backup of all states at once on the model's device (rlrun.bellman).
"""

from __future__ import annotations

from dataclasses import dataclass

from rlrun import bellman
from rlrun.algos.base import Build
from rlrun.algos.tabular_base import TabularAlgorithm
from rlrun.envs.tabular import TabularModel
from rlrun.schema import AlgoSpec, EnvConfig, check_finite, check_gamma, check_needs_model, check_positive


class ValueIteration(TabularAlgorithm):
    progress_unit = "sweep"  # one Bellman backup of every state

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
        # A residual below tol is not enough on its own: with a single far-away reward, the states
        # the reward has not reached yet have V = 0, so they add nothing to the residual, which can
        # fall below tol (V* there may itself be below tol) while their greedy action is still the
        # arbitrary initial one. So also wait until no value turns non-zero any more.
        reached = int(((self.V == 0) & (V_new != 0)).sum())
        self.V, self.pi = V_new, pi_new
        metrics = {"tabular/bellman_residual": self.residual, "tabular/policy_changes": changes}
        converged = self.residual < self.cfg.tol and reached == 0 and changes == 0
        return self.step_done(metrics, converged)

    def stopping_rule(self) -> str:
        tol = f"algo.tol={self.cfg.tol:g}"
        return f"residual {self.residual:.2e} < {tol}, no new states reached, policy stable"


# ---------------------------------------------------------------------------- config and builder


@dataclass
class VIConfig:
    name: str = "vi"
    gamma: float = 0.99
    tol: float = 1e-10  # stop once the residual max|V_new - V| < tol, no value turned non-zero, pi stable
    K: int = 100_000  # iteration cap (one iteration = one Bellman sweep over all states)


def check(cfg: VIConfig, env: EnvConfig) -> None:
    check_finite(cfg, "algo.")
    check_needs_model("vi", env)
    check_gamma(cfg)
    check_positive(cfg, "tol", "K")


def make(cfg: VIConfig, build: Build) -> ValueIteration:
    return ValueIteration(cfg, build.tabular_model(), build.total_steps)


SPEC = AlgoSpec("vi", VIConfig, check, make, tabular=True)
