"""Comparisons: segments of L steps cut from the policy's own rollouts, the synthetic labeler of
Christiano et al. (2017), and the labels file.

A labels file is a numpy .npz with M labelled pairs of segments of L steps:

    obs      [M, 2, L, *obs_shape]   the observations of segment 1 and segment 2
    actions  [M, 2, L, *act_shape]   their actions (integers for Discrete actions)
    alive    [M, 2, L]               bool: the step happened (false: padding after the episode
                                     terminated; such steps are never shown to the labeler)
    label    [M]                     float: 1 segment 1 is preferred, 0 segment 2, 0.5 equal
    returns  [M, 2]                  optional: the true returns (written by the synthetic labeler)

A run with reward=preferences writes the comparisons it labelled to RUN_DIR/labels.npz in this
format; to label by hand, fill `label` of such a file and train with reward.labels=FILE.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import torch

from rlrun.errors import ConfigError
from rlrun.rewards.model import Pairs

LABELS_FILE = "labels.npz"


def sample_segments(
    steps: dict[str, torch.Tensor], length: int, count: int, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor] | None:
    """`count` segments of `length` steps from time-major steps [T, E] (obs, actions, rewards,
    terminated, truncated): (obs, actions, alive, true return). A segment either runs L steps
    inside one episode, or ends in a termination and is padded (alive false); one that would
    cross a truncation or the end of the data is never chosen. None if there is no such start."""
    terminated, done = steps["terminated"], steps["terminated"] | steps["truncated"]
    T, E = done.shape
    # next_done[t, e]: the first step >= t at which env e's episode ends (T where none does)
    next_done = torch.full((T + 1, E), T, dtype=torch.long, device=done.device)
    for t in reversed(range(T)):
        next_done[t] = torch.where(done[t], t, next_done[t + 1])
    next_done = next_done[:T]
    start = torch.arange(T, device=done.device)[:, None].expand(T, E)
    ends_inside = next_done < start + length
    ends_terminal = terminated.gather(0, next_done.clamp(max=T - 1))
    valid = torch.where(ends_inside, ends_terminal, start + length <= T)
    candidates = valid.flatten().nonzero().squeeze(-1)
    if len(candidates) == 0:
        return None
    pick = candidates[torch.randint(len(candidates), (count,), generator=generator, device=candidates.device)]
    t0, env = pick // E, pick % E
    index = t0[:, None] + torch.arange(length, device=done.device)  # [count, L]
    alive = index <= next_done[t0, env][:, None]
    index = index.clamp(max=T - 1)
    obs = steps["obs"][index, env[:, None]]
    actions = steps["actions"][index, env[:, None]]
    returns = (steps["rewards"][index, env[:, None]] * alive).sum(-1)
    return obs, actions, alive, returns


def synthetic_labels(
    returns1: torch.Tensor,
    returns2: torch.Tensor,
    temperature: float,
    error: float,
    generator: torch.Generator,
) -> torch.Tensor:
    """The labeler: P(1 > 2) = sigmoid((R1 - R2) / temperature) by Bradley-Terry on the segments'
    true returns (temperature 0: the better one always, 0.5 for a tie); with probability `error`
    the answer is a coin flip instead."""
    diff = (returns1 - returns2).double()
    if temperature == 0:
        label = 0.5 * (1 + torch.sign(diff))
    else:
        p = torch.sigmoid(diff / temperature)
        label = (torch.rand(len(p), generator=generator, dtype=p.dtype, device=p.device) < p).double()
    wrong = torch.rand(len(diff), generator=generator, dtype=diff.dtype, device=diff.device) < error
    coin = (torch.rand(len(diff), generator=generator, dtype=diff.dtype, device=diff.device) < 0.5).double()
    return torch.where(wrong, coin, label).float()


def save_labels(path: Path, pairs: Pairs, returns: torch.Tensor | None = None) -> Path:
    arrays = {
        "obs": pairs.obs,
        "actions": pairs.actions,
        "alive": pairs.alive,
        "label": pairs.label,
        **({"returns": returns} if returns is not None else {}),
    }
    tmp = path.with_name(path.name + ".tmp.npz")
    np.savez_compressed(tmp, **{k: v.cpu().numpy() for k, v in arrays.items()})
    tmp.replace(path)
    return path


def load_labels(path: str | Path, device: torch.device) -> Pairs:
    """A labels file (the format above), checked: a ConfigError naming reward.labels if not."""
    path = Path(path)
    key = "reward.labels"
    if not path.is_file():
        raise ConfigError(key, f"{path}: no such file")
    try:
        with np.load(path, allow_pickle=False) as npz:
            data = {k: npz[k] for k in npz.files}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError):
        raise ConfigError(key, f"{path}: not a readable .npz file") from None
    missing = [k for k in ("obs", "actions", "alive", "label") if k not in data]
    if missing:
        raise ConfigError(key, f"{path}: missing {', '.join(missing)}")
    M = len(data["label"])
    alive = data["alive"]
    if M == 0 or alive.ndim != 3 or alive.shape[:2] != (M, 2) or data["obs"].shape[:3] != alive.shape:
        raise ConfigError(key, f"{path}: needs M > 0 pairs, alive [M, 2, L] and obs [M, 2, L, ...]")
    label = data["label"].astype(np.float32)
    if not np.all((label >= 0) & (label <= 1)):
        raise ConfigError(key, f"{path}: label must be in [0, 1] (1: first preferred, 0.5: equal)")
    return Pairs(
        torch.as_tensor(data["obs"], device=device),
        torch.as_tensor(data["actions"], device=device),
        torch.as_tensor(alive.astype(bool), device=device),
        torch.as_tensor(label, device=device),
    )
