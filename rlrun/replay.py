"""Transition storage for fitted Q-iteration: the online replay store and offline datasets.

A dataset file is a numpy `.npz` with one row per transition (n rows):

    obs          [n, *obs_shape]   observation s (an integer state for Discrete observations)
    actions      [n]               the action a taken (an integer; fqi needs Discrete actions)
    rewards      [n]               reward r
    next_obs     [n, *obs_shape]   the observation s' after the step (the true final one at episode ends)
    terminated   [n]               bool: the episode ended in a terminal state (no bootstrap from s')
    truncated    [n]               bool: a time limit cut the episode (bootstrap from s')
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import gymnasium as gym
import numpy as np
import torch

from rlrun.errors import ConfigError
from rlrun.rollout import TRANSITION_FIELDS

FIELDS = TRANSITION_FIELDS


class ReplayBuffer:
    """The last `capacity` transitions, as tensors on the training device (a ring buffer)."""

    def __init__(
        self, capacity: int, obs_shape: tuple[int, ...], obs_dtype: torch.dtype, device: torch.device
    ):
        self.capacity, self.device = capacity, device
        self.data = {
            "obs": torch.zeros((capacity, *obs_shape), dtype=obs_dtype, device=device),
            "actions": torch.zeros(capacity, dtype=torch.long, device=device),
            "rewards": torch.zeros(capacity, dtype=torch.float32, device=device),
            "next_obs": torch.zeros((capacity, *obs_shape), dtype=obs_dtype, device=device),
            "terminated": torch.zeros(capacity, dtype=torch.bool, device=device),
            "truncated": torch.zeros(capacity, dtype=torch.bool, device=device),
        }
        self.size = 0  # transitions held
        self.next = 0  # where the next one goes

    @classmethod
    def for_space(cls, capacity: int, space: gym.Space, device: torch.device) -> ReplayBuffer:
        if isinstance(space, gym.spaces.Discrete):
            return cls(capacity, (), torch.long, device)
        # images stay uint8 (a float copy would be 4x the bytes); other Boxes as float32
        dtype = torch.uint8 if space.dtype == np.uint8 else torch.float32
        return cls(capacity, tuple(space.shape), dtype, device)

    def add(self, batch: dict[str, torch.Tensor | np.ndarray]) -> None:
        """Append a batch of transitions (dict of FIELDS, first dim = batch), overwriting the oldest."""
        n = len(batch["actions"])
        idx = (self.next + torch.arange(n, device=self.device)) % self.capacity
        for key, store in self.data.items():
            store[idx] = torch.as_tensor(batch[key], device=self.device).to(store.dtype)
        self.next = (self.next + n) % self.capacity
        self.size = min(self.size + n, self.capacity)

    def sample(self, batch_size: int, generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
        idx = torch.randint(0, self.size, (batch_size,), device=self.device, generator=generator)
        return {key: store[idx] for key, store in self.data.items()}

    def all(self) -> dict[str, torch.Tensor]:
        """Every stored transition (in storage order)."""
        return {key: store[: self.size] for key, store in self.data.items()}

    def state_dict(self) -> dict:
        return {"size": self.size, "next": self.next, "data": self.all()}

    def load_state_dict(self, state: dict) -> None:
        self.size, self.next = state["size"], state["next"]
        for key, store in self.data.items():
            store[: self.size] = state["data"][key].to(self.device)


def save_dataset(path: str | Path, transitions: dict[str, torch.Tensor | np.ndarray]) -> Path:
    """Write transitions in the documented .npz format (atomically: a temporary file, then a rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    arrays = {
        key: (value.cpu().numpy() if isinstance(value, torch.Tensor) else np.asarray(value))
        for key, value in transitions.items()
    }
    tmp = path.with_name(path.name + ".tmp.npz")
    np.savez_compressed(tmp, **{key: arrays[key] for key in FIELDS})
    tmp.replace(path)
    return path


def load_dataset(path: str | Path, obs_space: gym.Space, act_space: gym.Space) -> dict[str, np.ndarray]:
    """Read a dataset and check it against the env's spaces; a missing file, a missing field, a
    wrong shape or a value outside the spaces is a ConfigError naming the file and the problem."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError("algo.dataset", f"{path}: no such file")
    try:
        with np.load(path, allow_pickle=False) as npz:
            data = {key: npz[key] for key in npz.files}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError):
        raise ConfigError("algo.dataset", f"{path}: not a readable .npz file") from None
    missing = [key for key in FIELDS if key not in data]
    if missing:
        raise ConfigError(
            "algo.dataset", f"{path}: missing {', '.join(missing)}; a dataset needs {', '.join(FIELDS)}"
        )
    n = len(data["actions"])
    obs_shape = () if isinstance(obs_space, gym.spaces.Discrete) else tuple(obs_space.shape)
    expected = {"obs": (n, *obs_shape), "next_obs": (n, *obs_shape)}
    expected |= {key: (n,) for key in ("actions", "rewards", "terminated", "truncated")}
    for key, shape in expected.items():
        if data[key].shape != shape:
            raise ConfigError(
                "algo.dataset",
                f"{path}: {key} has shape {data[key].shape}, expected {shape} for this env's spaces "
                f"(observations {obs_space}, {n} transitions)",
            )
    if n == 0:
        raise ConfigError("algo.dataset", f"{path}: holds no transitions")
    for key in ("obs", "next_obs", "rewards"):
        values = data[key]
        if np.issubdtype(values.dtype, np.number) and not np.isfinite(values).all():
            row = int(np.flatnonzero(~np.isfinite(values.reshape(n, -1)).all(axis=1))[0])
            raise ConfigError("algo.dataset", f"{path}: {key} holds NaN or Inf, first at row {row}")
    if isinstance(act_space, gym.spaces.Discrete):
        actions = data["actions"]
        if not np.issubdtype(actions.dtype, np.integer) or actions.min() < 0 or actions.max() >= act_space.n:
            raise ConfigError(
                "algo.dataset",
                f"{path}: actions must be integers in [0, {act_space.n}) for this env's {act_space}",
            )
    if isinstance(obs_space, gym.spaces.Discrete):
        for key in ("obs", "next_obs"):
            states = data[key]
            if not np.issubdtype(states.dtype, np.integer) or states.min() < 0 or states.max() >= obs_space.n:
                raise ConfigError(
                    "algo.dataset", f"{path}: {key} must be integer states in [0, {obs_space.n}) for this env"
                )
    return data
