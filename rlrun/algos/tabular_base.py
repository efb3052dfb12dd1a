"""What vi and pi share: the model, the value table and greedy policy, the table-lookup policy the
evaluator plays, checkpoint state, the final outputs (values.npy, policy.npy, exact returns) and
the TensorBoard image of V with the greedy policy as arrows (drawn by rlrun.valuemap)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from rlrun import bellman
from rlrun.algos.base import Algorithm
from rlrun.envs.tabular import TabularModel
from rlrun.errors import ConfigError
from rlrun.valuemap import IMAGE_TAG, value_image


class TablePolicy(nn.Module):
    """A deterministic policy as a table: state index -> action."""

    def __init__(self, table: torch.Tensor):
        super().__init__()
        self.register_buffer("table", table.clone())

    def act(self, obs: torch.Tensor, deterministic: bool = True) -> torch.Tensor:
        return self.table[obs.long().to(self.table.device)]

    def to_env(self, action: torch.Tensor) -> torch.Tensor:
        return action


def check_gamma(model: TabularModel, gamma: float) -> None:
    """gamma = 1 is fine only when every policy ends its episodes: refuse it otherwise, before any
    iteration, rather than iterate on values that may grow without bound."""
    if gamma < 1:
        return
    improper = bellman.improper_states(model.P, model.num_actions)
    if improper.any():
        first = int(improper.nonzero()[0, 0])
        raise ConfigError(
            "algo.gamma",
            f"1 needs every policy to end its episodes, but from {int(improper.sum())} of the "
            f"{model.num_states} states (e.g. state {first}) some policy never ends; use algo.gamma < 1",
        )


class TabularAlgorithm(Algorithm):
    """State: V [S] (float64) and the greedy policy [S], on the model's device."""

    def __init__(self, model: TabularModel, gamma: float, K: int, total_steps: int):
        check_gamma(model, gamma)
        self.model, self.gamma, self.K = model, gamma, K
        self.last_iteration = min(K, total_steps)
        self.V = torch.zeros(model.num_states, dtype=torch.float64, device=model.R.device)
        self.pi = torch.zeros(model.num_states, dtype=torch.long, device=model.R.device)
        self.iteration, self.env_steps, self.done, self.converged = 0, 0, False, False
        self.residual = float("inf")
        self.eval_returns: np.ndarray | None = None
        self.images: dict[str, np.ndarray] = {}
        self.metrics: dict[str, float] = {}

    def step_done(self, metrics: dict[str, float], converged: bool) -> dict[str, float]:
        """Count the iteration, end on convergence or at the cap K, draw V at the first and last."""
        metrics["tabular/states_reached"] = int(self.V.count_nonzero())
        self.metrics = metrics
        self.iteration += 1
        self.env_steps = self.iteration  # the x axis of vi and pi: iterations
        self.converged = converged
        self.done = converged or self.iteration >= self.K
        if self.model.grid is not None and (
            self.iteration == 1 or self.done or self.iteration >= self.last_iteration
        ):
            self.images[IMAGE_TAG] = value_image(self.model, self.V, self.pi)
        return metrics

    def progress_fields(self) -> dict[str, str]:
        """The residual and how many states the reward has reached (V != 0): while the reward is
        still spreading the residual can be tiny and the iteration far from its end."""
        reached = int(self.metrics.get("tabular/states_reached", 0))
        fields = {"residual": f"{self.residual:.2e}", "reached": f"{reached}/{self.model.num_states} states"}
        if "tabular/policy_changes" in self.metrics:
            fields["changes"] = str(int(self.metrics["tabular/policy_changes"]))
        return fields

    def stopping_rule(self) -> str:
        """What convergence meant for this run, for the `done:` line."""
        raise NotImplementedError

    def outcome(self, summary: dict[str, Any], wall_s: float) -> str:
        count = f"{self.iteration} {self.progress_unit}{'s' * (self.iteration != 1)}"
        if self.converged:
            state = f"converged after {count} ({self.stopping_rule()})"
        else:
            cap = f"algo.K={self.K}" if self.iteration >= self.K else f"total_steps={self.iteration}"
            state = f"not converged: stopped after {count} at {cap} (residual {self.residual:.2e})"
        exact = f"exact return {summary['exact_return']:.6g} discounted"
        if summary.get("exact_eval_return") is not None:
            exact += f", {summary['exact_eval_return']:.6g} per episode"
        return f"{state} in {wall_s:.1f}s; {exact}"

    def pop_images(self) -> dict[str, np.ndarray]:
        images, self.images = self.images, {}
        return images

    def policy(self) -> TablePolicy:
        return TablePolicy(self.pi)

    def evaluated(self, returns: np.ndarray) -> None:
        self.eval_returns = returns

    def state_dict(self) -> dict[str, Any]:
        return {
            "V": self.V, "pi": self.pi, "iteration": self.iteration, "env_steps": self.env_steps,
            "done": self.done, "converged": self.converged, "residual": self.residual,
        }  # fmt: skip

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.V = state["V"].to(self.V.device)
        self.pi = state["pi"].to(self.pi.device)
        self.iteration, self.env_steps = state["iteration"], state["env_steps"]
        self.done, self.converged, self.residual = state["done"], state["converged"], state["residual"]

    def finish(self, run_dir: Path) -> dict[str, Any]:
        """values.npy, policy.npy; the exact returns of the greedy policy from the model."""
        m = self.model
        np.save(Path(run_dir) / "values.npy", self.V.cpu().numpy())
        np.save(Path(run_dir) / "policy.npy", self.pi.cpu().numpy())
        V_pi = bellman.evaluate_policy(m.P, m.R, self.pi, self.gamma)  # gamma = 1: every policy ends
        out: dict[str, Any] = {
            "converged": self.converged,
            "bellman_residual": self.residual,
            "num_states": m.num_states,
            "num_actions": m.num_actions,
            # the discounted return of the greedy policy from the start distribution, exactly
            "exact_return": torch.dot(m.start, V_pi).item(),
            # the undiscounted return within the env's time limit: what eval_return_mean estimates
            "exact_eval_return": None,
        }
        if m.horizon is not None and m.horizon * m.num_states <= 10**9:
            out["exact_eval_return"] = bellman.expected_episode_return(m.P, m.R, m.start, self.pi, m.horizon)
        if m.goal_reward:
            out["exact_success_rate"] = out["exact_eval_return"]
            out["eval_success_rate"] = (
                float((self.eval_returns > 0).mean()) if self.eval_returns is not None else None
            )
        return out


# ---------------------------------------------------------------------------- the image of V
