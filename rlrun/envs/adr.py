"""Automatic domain randomisation (ADR; OpenAI et al. 2019, "Solving Rubik's Cube with a Robot Hand").

Each randomised parameter lambda_i has a range [phi_L, phi_H] that starts at its nominal value (a
single point: no randomisation) and grows only where the policy copes:

    at each reset, every env draws lambda ~ U[phi_L, phi_H] for each parameter; with probability
    p_b it instead pins one parameter (chosen uniformly, with one of its two boundaries) to that
    boundary, and the episode's return goes into that boundary's buffer D.
    when D holds m episodes: mean(D) >= t_H: widen the boundary by delta (phi_H += delta, or
    phi_L -= delta); mean(D) <= t_L: narrow it by delta; then clear D.

A boundary never crosses the nominal value (the range always holds it) nor leaves its limits.
Everything runs on the envs' device as tensors: the buffers are a sum and a count per boundary,
filled with index_add_ and judged with torch.where after every step, so no step waits for the
device (on the CPU, where reading a tensor costs no wait, the few buffer numbers are judged in
Python when a buffer is full: the same arithmetic, fewer operations). Several episodes can end in
one batched step, so a buffer is judged at the first step where it holds at least m episodes (it
may then hold a few more than m). A draw is made as units u in [0, 1] (lambda = lerp(phi_L, phi_H,
u), u = 0 or 1 for a pinned boundary), so draws can be made ahead of the episodes that use them.

adr/entropy is the mean over parameters of log(phi_H - phi_L), in nats per dimension (the
differential entropy of the uniform distribution over the ranges, per parameter); a range narrower
than ENTROPY_FLOOR counts as ENTROPY_FLOOR wide, so the entropy starts at log(1e-6) = -13.8 when
every range is a point (log 0 would be -inf).
"""

from __future__ import annotations

import math
from typing import Any

import torch

Tensor = torch.Tensor
ENTROPY_FLOOR = 1e-6  # the width a zero-width range counts as in adr/entropy


def adr_entropy(low: Tensor, high: Tensor) -> Tensor:
    """Mean over parameters of log(max(phi_H - phi_L, ENTROPY_FLOOR)): nats per dimension."""
    return (high - low).clamp(min=ENTROPY_FLOOR).log().mean()


class ADR:
    """The ranges, boundary buffers and probes of ADR over `names` (P parameters) for `num_envs`
    envs. `nominal`, `limits` ([P, 2]) and `deltas` are plain numbers; the state lives on `device`."""

    def __init__(
        self,
        names: list[str],
        nominal: list[float],
        limits: list[tuple[float, float]],
        deltas: list[float],
        buffer: int,
        t_low: float,
        t_high: float,
        p_boundary: float,
        num_envs: int,
        device: torch.device,
    ):
        self.names, self.buffer, self.t_low, self.t_high = list(names), buffer, t_low, t_high
        self.limits = [tuple(pair) for pair in limits]
        self.p_boundary = p_boundary
        f64 = {"dtype": torch.float64, "device": device}
        P = len(names)
        nom = torch.tensor(nominal, **f64)
        lim = torch.tensor(limits, **f64).view(-1, 2)
        # boundary b = 2 i + side (side 0: phi_L, side 1: phi_H), flattened as [2P]
        self.bounds = torch.stack((nom, nom), 1).view(-1)
        self._floor = torch.stack((lim[:, 0], nom), 1).view(-1)  # phi_L >= limit, phi_H >= nominal
        self._ceil = torch.stack((nom, lim[:, 1]), 1).view(-1)  # phi_L <= nominal, phi_H <= limit
        step = torch.tensor(deltas, **f64)
        self._outward = torch.stack((-step, step), 1).view(-1)  # a widening moves a boundary outward
        self._inward = -self._outward
        # an episode's probe is its boundary, or NONE = 2P; slot NONE of the buffers collects the
        # episodes that probed nothing and is never judged (no masking needed on the way in)
        self.none = 2 * P
        self.sums = torch.zeros(2 * P + 1, **f64)
        self.counts = torch.zeros(2 * P + 1, dtype=torch.int64, device=device)
        self.probe = torch.full((num_envs,), self.none, dtype=torch.int64, device=device)
        # a probe b pins row b // 2 of a draw's units to side b % 2 (0: phi_L, 1: phi_H); NONE pins
        # the spare row P, which no parameter reads (so the pinning needs no mask)
        self._row_of = torch.arange(2 * P + 1, device=device) // 2
        self._side_of = (torch.arange(2 * P + 1, device=device) % 2).double()  # NONE = 2P: side 0
        # a buffer is judged once it holds m episodes; NONE's (threshold 0) is merely cleared then
        self._judge_at = torch.tensor([buffer] * 2 * P + [0], device=device)
        self._ones = torch.ones(num_envs, dtype=torch.int64, device=device)
        self._listed = (self._outward.tolist(), self._floor.tolist(), self._ceil.tolist())  # fixed
        self._refresh()

    def _refresh(self) -> None:
        """Views of phi_L and phi_H as columns [P, 1], for draws (the bounds change in place)."""
        pairs = self.bounds.view(-1, 2)
        self._low_col, self._high_col = pairs[:, :1], pairs[:, 1:]

    @property
    def low(self) -> Tensor:
        return self.bounds[0::2]

    @property
    def high(self) -> Tensor:
        return self.bounds[1::2]

    def draw_units(self, n: int, generator: torch.Generator) -> tuple[Tensor, Tensor]:
        """n episodes' draws as units u [P, n] in [0, 1] (phi_L + u (phi_H - phi_L) is the value; a
        probe's pinned parameter has u = 0 or 1 exactly) and each one's probed boundary (or NONE).
        Units do not depend on the ranges, so they can be drawn ahead of the episodes they serve."""
        P, device = len(self.names), self.bounds.device
        # rows: P parameters, the spare row that NONE pins, and w, which picks the probe:
        # w < p_b probes (with p_b), and then w / p_b is uniform in [0, 1): boundary floor(2P w / p_b)
        u = torch.rand(P + 2, n, dtype=torch.float64, device=device, generator=generator)
        if self.p_boundary > 0:
            probe = u[P + 1].mul(2 * P / self.p_boundary).long().clamp_(max=self.none)
        else:
            probe = torch.full((n,), self.none, device=device)
        u.scatter_(0, self._row_of[probe][None], self._side_of[probe][None])
        return u[:P], probe

    def values(self, units: Tensor) -> Tensor:
        """lambda ~ U[phi_L, phi_H] from units [P, n]: [P, n] (lerp is exact at u = 0 and u = 1)."""
        return torch.lerp(self._low_col, self._high_col, units)

    def draw(self, n: int, generator: torch.Generator) -> tuple[Tensor, Tensor]:
        """Values [n, P] for n envs starting an episode, and each one's probed boundary (or NONE)."""
        units, probe = self.draw_units(n, generator)
        return self.values(units).T, probe

    def record(self, done: Tensor, returns: Tensor) -> None:
        """Add the returns of the probing episodes that ended (done [E]) to their boundaries'
        buffers, and judge every buffer that holds m episodes (no sync)."""
        slot = torch.where(done, self.probe, self.none)
        self.sums.index_add_(0, slot, returns.to(torch.float64))
        self.counts.index_add_(0, slot, self._ones)
        self.update()

    def record_some(self, ended: Tensor, returns: Tensor) -> None:
        """record() for the envs `ended` (indices), judging only when a buffer is full (the CPU's way:
        reading a tensor there costs no sync)."""
        slot = self.probe.index_select(0, ended)
        self.sums.index_add_(0, slot, returns.index_select(0, ended).double())
        self.counts.index_add_(0, slot, self._ones[: slot.shape[0]])
        if max(self.counts.tolist()[: self.none]) >= self.buffer:
            self._update_listed()

    def update(self) -> None:
        """mean(D) >= t_H widens a full buffer's boundary by delta, <= t_L narrows it; D is cleared."""
        cleared = self.counts >= self._judge_at  # the full buffers (and the unprobed episodes' slot)
        full = cleared[: self.none]
        mean = self.sums[: self.none] / self.counts[: self.none]  # (0 / 0 where empty: never full)
        widen, narrow = full & (mean >= self.t_high), full & (mean <= self.t_low)
        move = torch.where(widen, self._outward, torch.where(narrow, self._inward, 0.0))
        self.bounds.add_(move).clamp_(self._floor, self._ceil)
        self.sums.masked_fill_(cleared, 0.0)
        self.counts.masked_fill_(cleared, 0)

    def _update_listed(self) -> None:
        """update() on the numbers read out (the CPU's way: for a handful of numbers a few
        microseconds of Python beat a dozen tensor operations); the same arithmetic, bit for bit."""
        counts, sums, bounds = self.counts.tolist(), self.sums.tolist(), self.bounds.tolist()
        outward, floor, ceil = self._listed
        for b in range(self.none):
            if counts[b] < self.buffer:
                continue
            mean = sums[b] / counts[b]
            move = outward[b] if mean >= self.t_high else -outward[b] if mean <= self.t_low else 0.0
            bounds[b] = min(max(bounds[b] + move, floor[b]), ceil[b])
            sums[b], counts[b] = 0.0, 0
        sums[self.none], counts[self.none] = 0.0, 0
        device = self.bounds.device
        self.bounds.copy_(torch.tensor(bounds, dtype=torch.float64, device=device))
        self.sums = torch.tensor(sums, dtype=torch.float64, device=device)
        self.counts = torch.tensor(counts, dtype=torch.int64, device=device)

    def entropy(self) -> float:
        return float(adr_entropy(self.low, self.high))

    def metrics(self) -> dict[str, float]:
        """adr/entropy and adr/<name>_low|high (one read from the device)."""
        low, high = self.low.tolist(), self.high.tolist()
        widths = [max(h - lo, ENTROPY_FLOOR) for lo, h in zip(low, high, strict=True)]
        out = {"adr/entropy": sum(math.log(w) for w in widths) / len(widths)}
        for name, lo, h in zip(self.names, low, high, strict=True):
            out[f"adr/{name}_low"], out[f"adr/{name}_high"] = lo, h
        return out

    def state_dict(self) -> dict[str, Any]:
        return {
            "names": list(self.names),
            "bounds": self.bounds.clone(),
            "sums": self.sums.clone(),
            "counts": self.counts.clone(),
            "probe": self.probe.clone(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if list(state["names"]) != self.names:
            raise ValueError(f"the saved ADR is over {state['names']}, this one over {self.names}")
        device = self.bounds.device
        self.bounds = state["bounds"].to(device, torch.float64).clone()
        self.sums = state["sums"].to(device, torch.float64).clone()
        self.counts = state["counts"].to(device).clone()
        self.probe = state["probe"].to(device).clone()
        self._refresh()
