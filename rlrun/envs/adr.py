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
device. Several episodes can end in one batched step, so a buffer is judged at the first step
where it holds at least m episodes (it may then hold a few more than m).

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
        # an episode's probe is its boundary, or NONE = 2P; slot NONE of the buffers collects the
        # episodes that probed nothing and is never judged (no masking needed on the way in)
        self.none = 2 * P
        self.sums = torch.zeros(2 * P + 1, **f64)
        self.counts = torch.zeros(2 * P + 1, dtype=torch.int64, device=device)
        self.probe = torch.full((num_envs,), self.none, dtype=torch.int64, device=device)
        eye = torch.eye(P, dtype=torch.bool, device=device)
        self._pins = torch.cat((eye.repeat_interleave(2, 0), eye.new_zeros(1, P)))  # b pins parameter b // 2
        self._ones = torch.ones(num_envs, dtype=torch.int64, device=device)
        self._refresh()

    def _refresh(self) -> None:
        """What a draw reads, after the bounds moved: phi_L, phi_H - phi_L, each boundary's value."""
        self._low = self.bounds[0::2].clone()
        self._width = self.bounds[1::2] - self._low
        self._pinned = torch.cat((self.bounds, self.bounds.new_zeros(1)))

    @property
    def low(self) -> Tensor:
        return self.bounds[0::2]

    @property
    def high(self) -> Tensor:
        return self.bounds[1::2]

    def draw(self, n: int, generator: torch.Generator) -> tuple[Tensor, Tensor]:
        """Values [n, P] for n envs starting an episode, and each one's probed boundary (or NONE)."""
        P, device = len(self.names), self.bounds.device
        u = torch.rand(n, P, dtype=torch.float64, device=device, generator=generator)
        values = torch.addcmul(self._low, self._width, u)  # lambda ~ U[phi_L, phi_H]
        boundary = torch.randint(0, 2 * P, (n,), device=device, generator=generator)
        probing = torch.rand(n, device=device, generator=generator) < self.p_boundary  # with p_b
        probe = torch.where(probing, boundary, self.none)
        return torch.where(self._pins[probe], self._pinned[probe][:, None], values), probe

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
        slot = self.probe[ended]
        self.sums.index_add_(0, slot, returns[ended].to(torch.float64))
        self.counts.index_add_(0, slot, self._ones[: slot.shape[0]])
        if int(self.counts[: self.none].max()) >= self.buffer:
            self.update()

    def update(self) -> None:
        """mean(D) >= t_H widens a full buffer's boundary by delta, <= t_L narrows it; D is cleared."""
        counts, sums = self.counts[: self.none], self.sums[: self.none]
        full = counts >= self.buffer
        mean = sums / counts.clamp(min=1)
        move = (full & (mean >= self.t_high)).double() - (full & (mean <= self.t_low)).double()
        self.bounds = torch.minimum(
            torch.maximum(self.bounds + move * self._outward, self._floor), self._ceil
        )
        cleared = torch.cat((full, full.new_ones(1)))  # (and the unprobed episodes' slot)
        self.sums = torch.where(cleared, 0.0, self.sums)
        self.counts = torch.where(cleared, 0, self.counts)
        self._refresh()

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
