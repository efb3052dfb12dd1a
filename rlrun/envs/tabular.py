"""Tabular models: an environment as tensors P, R on the run's device.

`tabular_model(env_cfg, device)` makes the gymnasium env of the config and reads its model:
gymnasium's toy-text envs (FrozenLake, Taxi, CliffWalking) through `env.unwrapped.P`, the
generated ones (rlrun.envs.generated) through their vectorised `model_arrays()`.

Episodic models carry termination inside P: row (s, a) of P holds the probability of moving to
s' *and going on*; the missing mass 1 - sum_s' P[s, a, s'] is the probability that the episode
ends on this step (after which nothing more is earned). So V = R + gamma P V holds for episodic
and continuing models alike, with no terminal flag in the Bellman backup.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import gymnasium as gym
import numpy as np
import torch

from rlrun.envs.gym import make_env
from rlrun.errors import ConfigError
from rlrun.schema import EnvConfig

# P is stored dense when it is small or at least this dense (small dense products are faster than
# sparse ones), else as sparse CSR
DENSE_UP_TO = 4_000_000  # entries (32 MB of float64)
DENSE_FROM = 0.1  # fraction of entries that are non-zero


@dataclass
class TabularModel:
    P: torch.Tensor  # [S * A, S], row s * A + a = P[s, a, :] (sparse CSR, or dense for dense models)
    R: torch.Tensor  # [S, A] expected reward of taking a in s
    terminal: torch.Tensor  # [S] bool: states entered only by a step that ends the episode
    start: torch.Tensor  # [S] the start distribution
    horizon: int | None = None  # the env's time limit (steps per episode), if it has one
    grid: tuple[int, int] | None = None  # (rows, cols) for grid-shaped envs, state = row * cols + col
    moves: tuple[tuple[int, int], ...] | None = None  # (d_row, d_col) of each action, for drawing
    blocked: np.ndarray | None = None  # [S] bool: cells drawn as walls or holes
    goal_reward: bool = False  # the return is 1 when the goal is reached, else 0: success = return > 0

    @property
    def num_states(self) -> int:
        return self.R.shape[0]

    @property
    def num_actions(self) -> int:
        return self.R.shape[1]

    def dense_P(self) -> torch.Tensor:
        """P as a dense [S, A, S] tensor (small models only)."""
        P = self.P.to_dense() if self.P.layout != torch.strided else self.P
        return P.view(self.num_states, self.num_actions, self.num_states)


def tabular_model(env_cfg: EnvConfig, device: torch.device) -> TabularModel:
    """The config's environment as a tabular model on `device` (float64)."""
    env = make_env(env_cfg)
    try:
        unwrapped = env.unwrapped
        if hasattr(unwrapped, "model_arrays"):
            arrays = unwrapped.model_arrays()
        elif hasattr(unwrapped, "P"):
            arrays = arrays_from_toy_text(unwrapped)
        else:
            raise ConfigError("env.id", f"{env_cfg.id} exposes no model (env.unwrapped.P) for vi or pi")
        S, A = arrays["R"].shape
        model = TabularModel(
            P=transition_matrix(arrays, S, A, device),
            R=torch.as_tensor(arrays["R"], dtype=torch.float64, device=device),
            terminal=torch.as_tensor(terminal_states(arrays, S), device=device),
            start=torch.as_tensor(arrays["start"], dtype=torch.float64, device=device),
            horizon=env.spec.max_episode_steps if env.spec else None,
        )
        describe_grid(model, unwrapped)
        return model
    finally:
        env.close()


def arrays_from_toy_text(env: gym.Env) -> dict[str, np.ndarray]:
    """gymnasium's `P[s][a] = [(prob, next_state, reward, terminated), ...]` as flat arrays; the
    expected reward R[s, a] = sum prob * reward."""
    S, A = env.observation_space.n, env.action_space.n
    rows, next_states, probs, ends = [], [], [], []
    R = np.zeros((S, A))
    for s in range(S):
        for a in range(A):
            for prob, nxt, reward, terminated in env.P[s][a]:
                rows.append(s * A + a)
                next_states.append(int(nxt))
                probs.append(prob)
                ends.append(bool(terminated))
                R[s, a] += prob * reward
    start = np.asarray(getattr(env, "initial_state_distrib", np.full(S, 1.0 / S)), dtype=np.float64)
    return {
        "rows": np.array(rows),
        "next_states": np.array(next_states),
        "probs": np.array(probs, dtype=np.float64),
        "ends": np.array(ends),
        "R": R,
        "start": start / start.sum(),
    }


def transition_matrix(arrays: dict[str, np.ndarray], S: int, A: int, device: torch.device) -> torch.Tensor:
    """P [S * A, S] from the transitions that go on (those that end the episode are left out);
    repeated (row, next state) pairs are summed."""
    go_on = ~arrays["ends"] & (arrays["probs"] > 0)
    index = torch.as_tensor(np.stack([arrays["rows"][go_on], arrays["next_states"][go_on]]))
    values = torch.as_tensor(arrays["probs"][go_on], dtype=torch.float64)
    with warnings.catch_warnings():  # torch's notes that sparse CSR is in beta
        warnings.simplefilter("ignore", UserWarning)
        P = torch.sparse_coo_tensor(index, values, (S * A, S), check_invariants=True).coalesce()
        if S * A * S <= DENSE_UP_TO or P._nnz() >= DENSE_FROM * S * A * S:
            return P.to_dense().to(device)
        return P.to_sparse_csr().to(device)


def terminal_states(arrays: dict[str, np.ndarray], S: int) -> np.ndarray:
    ends_in = np.zeros(S, dtype=bool)
    ends_in[arrays["next_states"][arrays["ends"]]] = True
    goes_on_in = np.zeros(S, dtype=bool)
    goes_on_in[arrays["next_states"][~arrays["ends"]]] = True
    return ends_in & ~goes_on_in


def describe_grid(model: TabularModel, env: gym.Env) -> None:
    """What drawing V needs for the grid-shaped envs: the grid, the move of each action, the walls."""
    name = type(env).__name__
    S = model.num_states
    if name == "FrozenLakeEnv":
        desc = np.asarray(env.desc).astype(str)
        model.grid = desc.shape
        model.moves = ((0, -1), (1, 0), (0, 1), (-1, 0))  # left, down, right, up
        model.blocked = (desc == "H").reshape(-1)
        model.goal_reward = True
    elif name == "CliffWalkingEnv":
        model.grid = tuple(env.shape)
        model.moves = ((-1, 0), (0, 1), (1, 0), (0, -1))  # up, right, down, left
        model.blocked = np.asarray(env._cliff, dtype=bool).reshape(-1)
    elif name == "GridWorldEnv":
        model.grid = (env.size, env.size)
        model.moves = ((0, -1), (1, 0), (0, 1), (-1, 0))
        model.blocked = env.wall.reshape(-1)
        model.goal_reward = True
        if model.horizon is None:
            model.horizon = env.max_steps
    if model.blocked is not None:
        assert model.blocked.shape == (S,)
