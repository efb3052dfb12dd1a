"""Sampling episodes of a tabular model, batched."""

from __future__ import annotations

import math

import gymnasium as gym
import torch

from rlrun.envs.tabular import TabularModel
from rlrun.envs.torch_envs.base import NO_TIME_LIMIT, Tensor, TorchVectorEnv


class TabularSampleEnv(TorchVectorEnv):
    """Samples episodes of a tabular model (rlrun.envs.tabular.TabularModel): s' ~ P[s, a, :],
    and the episode ends (terminated) with the missing mass 1 - sum_s' P[s, a, s'].

    The reward is R[s, a], the *expected* reward of the step: every expected return (of any
    policy, from any state) equals the real env's, but a sampled return is less noisy than the
    real env's (its reward noise given (s, a) is gone).

    Observations are int64 [E] state indices. The model drops the states that ending steps go to,
    so `final_obs` of a terminated episode is the state its last step was taken *from* (never to
    be bootstrapped from: terminated says so); for truncated episodes it is the true next state.
    """

    env_id = "tabular"
    _env_dim = 0

    def __init__(
        self,
        model: TabularModel,
        num_envs: int,
        device: torch.device | str = "cpu",
        max_episode_steps: int | None = None,
    ):
        self.model = model
        self._tables = _sampling_tables(model, torch.device(device))
        self.default_max_episode_steps = model.horizon or NO_TIME_LIMIT
        super().__init__(num_envs, device, torch.float64, max_episode_steps)

    def _spaces(self) -> tuple[gym.Space, gym.Space]:
        return gym.spaces.Discrete(self.model.num_states), gym.spaces.Discrete(self.model.num_actions)

    def _start_state(self, n: int) -> Tensor:
        u = torch.rand(n, dtype=torch.float64, device=self.device, generator=self.generator)
        start_cdf = self._tables["start_cdf"]
        return torch.searchsorted(start_cdf, u, right=True).clamp_(max=start_cdf.shape[0] - 1)

    def _transition(self, state: Tensor, actions: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        t = self._tables
        rows = state * self.model.num_actions + actions
        u = torch.rand(self.num_envs, 1, dtype=torch.float64, device=self.device, generator=self.generator)
        k = torch.searchsorted(t["cdf"][rows], u, right=True).squeeze(1)  # the first outcome with cdf > u
        successor = t["next"].view(-1)[rows * t["next"].shape[1] + k]
        terminated = successor == self.model.num_states  # the "episode ends" outcome
        new = torch.where(terminated, state, successor)
        reward = t["reward"][rows]
        return new, new.clone(), reward, terminated

    def _observe(self, state: Tensor) -> Tensor:
        return state

    def _return_dtype(self) -> torch.dtype:
        return torch.float64


def _sampling_tables(model: TabularModel, device: torch.device) -> dict[str, Tensor]:
    """Per-row padded tables for sampling P's rows: for row r = s * A + a, `next[r, :n]` holds the
    successors and `cdf[r, :n]` their cumulative probabilities; `next[r, n:]` is S (the episode
    ends) and `cdf[r, n:]` is +inf, so u ~ U[0, 1) past the last successor's cdf ends the episode
    (with the missing mass). n is the row's number of successors; the width is max n + 1."""
    P = model.P.detach().cpu()
    S = model.num_states
    if P.layout == torch.sparse_csr:
        crow, cols, probs = P.crow_indices(), P.col_indices(), P.values()
        counts = crow[1:] - crow[:-1]
        rows = torch.repeat_interleave(torch.arange(P.shape[0]), counts)
    else:
        rows, cols = P.nonzero(as_tuple=True)  # row-major order, as CSR would list them
        probs = P[rows, cols]
        counts = torch.bincount(rows, minlength=P.shape[0])
        crow = torch.cat([torch.zeros(1, dtype=torch.int64), counts.cumsum(0)])
    width = int(counts.max()) + 1 if counts.numel() else 1
    column = torch.arange(rows.shape[0]) - crow[rows]
    nxt = torch.full((P.shape[0], width), S, dtype=torch.int64)
    nxt[rows, column] = cols.to(torch.int64)
    prob = torch.zeros(P.shape[0], width, dtype=torch.float64)
    prob[rows, column] = probs.to(torch.float64)
    cdf = prob.cumsum(1)
    cdf[torch.arange(width) >= counts.unsqueeze(1)] = math.inf
    start = model.start.detach().cpu().to(torch.float64)
    return {
        "next": nxt.to(device),
        "cdf": cdf.to(device),
        "reward": model.R.detach().reshape(-1).to(device, torch.float64),
        "start_cdf": (start.cumsum(0) / start.sum()).to(device),
    }
