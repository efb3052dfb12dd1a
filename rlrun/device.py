"""Choosing the torch device from the `device` config group."""

from __future__ import annotations

import ctypes
import sys

import torch

from rlrun.errors import ConfigError
from rlrun.schema import DeviceConfig


def resolve_device(cfg: DeviceConfig) -> torch.device:
    """auto: CUDA when torch.cuda.is_available(), else the CPU; cuda refuses a machine without it."""
    if cfg.threads is not None and cfg.threads < 1:
        raise ConfigError("device.threads", f"must be >= 1 or null, got {cfg.threads}")
    device = choose(cfg.type)
    keep_freed_memory()
    if cfg.threads is not None:
        torch.set_num_threads(cfg.threads)
    elif device.type == "cpu":
        # Our networks are small: a second intra-op thread brings them no speed, and when another
        # process holds a core every op waits for it (scripts/bench_threads.py measures both).
        torch.set_num_threads(1)
    return device


REUSE_BELOW = 256 << 20  # bytes


def keep_freed_memory() -> None:
    """Let glibc reuse freed blocks below REUSE_BELOW instead of mapping each afresh from the OS.

    By default it gives every block over 128 KB back when freed, so each CNN activation, gradient
    and optimizer temporary of every step is mapped anew and page-faulted in: on Atari PPO that
    was 3 s of system time in 17 s of CPU (3072 steps, one thread), 0.5 s with this. Larger
    blocks (a replay store) are still mapped on their own; elsewhere than glibc, nothing changes."""
    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:  # another C library (musl)
        return
    m_trim_threshold, m_mmap_threshold = -1, -3  # <malloc.h>
    libc.mallopt(m_mmap_threshold, REUSE_BELOW)
    libc.mallopt(m_trim_threshold, REUSE_BELOW)


def choose(kind: str) -> torch.device:
    if kind == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if kind == "cpu":
        return torch.device("cpu")
    if kind == "cuda" or kind.startswith("cuda:"):
        if not torch.cuda.is_available():
            built = f"built with CUDA {torch.version.cuda}" if torch.version.cuda else "a CPU-only build"
            raise ConfigError(
                "device",
                f"{kind} asked for, but torch.cuda.is_available() is False (torch "
                f"{torch.__version__}, {built}); use device=cpu or device=auto",
            )
        index = kind.partition(":")[2]
        if index and (not index.isdigit() or int(index) >= torch.cuda.device_count()):
            raise ConfigError("device.type", f"{kind}: this machine has {torch.cuda.device_count()} GPU(s)")
        return torch.device(kind)
    raise ConfigError("device.type", f"must be auto, cpu, cuda or cuda:<index>, got {kind!r}")


def describe(device: torch.device) -> str:
    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)})"
    reason = "" if torch.cuda.is_available() else ", CUDA not available"
    return f"cpu ({torch.get_num_threads()} threads{reason})"
