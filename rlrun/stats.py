"""Statistics over seeds: the interquartile mean and a bootstrap confidence interval of the mean."""

from __future__ import annotations

import numpy as np


def interquartile_mean(values: list[float]) -> float:
    """The mean of the middle half: int(n/4) values cut from each end (as scipy's trim_mean(x, .25))."""
    ordered = sorted(values)
    cut = int(0.25 * len(ordered))
    return float(np.mean(ordered[cut : len(ordered) - cut]))


def bootstrap_ci(values: list[float], level: float = 0.95, resamples: int = 10_000) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean, from a fixed RNG so the table is reproducible."""
    data = np.asarray(values, dtype=float)
    rng = np.random.default_rng(0)
    means = data[rng.integers(0, len(data), size=(resamples, len(data)))].mean(axis=1)
    tail = (1 - level) / 2
    return float(np.quantile(means, tail)), float(np.quantile(means, 1 - tail))
