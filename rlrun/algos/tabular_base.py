"""What vi and pi share: the model, the value table and greedy policy, the table-lookup policy the
evaluator plays, checkpoint state, the final outputs (values.npy, policy.npy, exact returns) and
the TensorBoard image of V with the greedy policy as arrows."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont
from torch import nn

from rlrun import bellman
from rlrun.algos.base import Algorithm
from rlrun.envs.tabular import TabularModel
from rlrun.errors import ConfigError

IMAGE_TAG = "tabular/values"
IMAGE_SIDE = 512  # pixels, at most, of the image's longer side


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

# a dark-blue to yellow colour map (viridis' end points and middle)
COLOURS = np.array([[68, 1, 84], [59, 82, 139], [33, 145, 140], [94, 201, 98], [253, 231, 37]], dtype=float)


def colour_map(x: np.ndarray) -> np.ndarray:
    """Values in [0, 1] as RGB uint8."""
    pos = np.clip(x, 0, 1) * (len(COLOURS) - 1)
    low = np.minimum(pos.astype(int), len(COLOURS) - 2)
    frac = (pos - low)[..., None]
    return ((1 - frac) * COLOURS[low] + frac * COLOURS[low + 1]).astype(np.uint8)


GOAL = (255, 255, 255)  # cells where the episode ends (goal): V there is 0, not the worst value
BLOCKED = (128, 128, 128)  # walls and holes
INK = (20, 20, 20)
BAR_WIDTH = 110  # pixels of the colour bar and its labels, right of the map


def value_image(model: TabularModel, V: torch.Tensor, pi: torch.Tensor) -> np.ndarray:
    """V on the grid as a heatmap (HWC uint8) with a colour bar, walls and holes grey, the cells
    where the episode ends (the goal) white, greedy actions as arrows where cells are big enough to
    hold one; grids bigger than the image are subsampled."""
    rows, cols = model.grid
    stride = max(1, -(-max(rows, cols) // IMAGE_SIDE))
    values = V.cpu().numpy().reshape(rows, cols)[::stride, ::stride]
    actions = pi.cpu().numpy().reshape(rows, cols)[::stride, ::stride]
    blocked = model.blocked.reshape(rows, cols)[::stride, ::stride]
    terminal = model.terminal.cpu().numpy().reshape(rows, cols)[::stride, ::stride] & ~blocked
    # the scale spans the states where the episode goes on: a goal's V = 0 would stretch it
    scaled = ~blocked & ~terminal
    low, high = (values[scaled].min(), values[scaled].max()) if scaled.any() else (0.0, 0.0)
    rgb = colour_map((values - low) / (high - low) if high > low else np.zeros_like(values))
    rgb[blocked] = BLOCKED
    rgb[terminal] = GOAL
    cell = max(1, IMAGE_SIDE // max(values.shape))
    image = np.kron(rgb, np.ones((cell, cell, 1), dtype=np.uint8))
    picture = Image.fromarray(image)
    draw = ImageDraw.Draw(picture)
    if cell >= 6:  # a dark frame keeps a white goal cell visible on a light map
        for r, c in zip(*np.nonzero(terminal), strict=True):
            draw.rectangle([c * cell, r * cell, (c + 1) * cell - 1, (r + 1) * cell - 1], outline=INK)
    if cell >= 12 and model.moves is not None:
        draw_arrows(draw, actions, blocked | terminal, model.moves, cell)
    return with_colour_bar(np.asarray(picture), low, high, bool(blocked.any()), bool(terminal.any()))


def draw_arrows(
    draw: ImageDraw.ImageDraw, actions: np.ndarray, skip: np.ndarray, moves: tuple, cell: int
) -> None:
    """The greedy action of each cell as a white arrow."""
    for (r, c), a in np.ndenumerate(actions):
        if skip[r, c]:
            continue
        dr, dc = moves[a]
        cy, cx, half = (r + 0.5) * cell, (c + 0.5) * cell, 0.35 * cell
        tip = (cx + dc * half, cy + dr * half)
        draw.line([(cx - dc * half, cy - dr * half), tip], fill=(255, 255, 255), width=max(1, cell // 16))
        wing = 0.4 * half
        draw.polygon(
            [tip, (tip[0] - dc * wing - dr * wing, tip[1] - dr * wing - dc * wing),
             (tip[0] - dc * wing + dr * wing, tip[1] - dr * wing + dc * wing)],
            fill=(255, 255, 255),
        )  # fmt: skip


def with_colour_bar(image: np.ndarray, low: float, high: float, walls: bool, goals: bool) -> np.ndarray:
    """The map with a colour bar on its right: V from `low` (bottom) to `high` (top), and swatches
    for the cells drawn outside the scale."""
    height = max(image.shape[0], 160)
    canvas = Image.new("RGB", (image.shape[1] + BAR_WIDTH, height), (255, 255, 255))
    canvas.paste(Image.fromarray(image), (0, 0))
    draw = ImageDraw.Draw(canvas)
    try:
        font = ImageFont.load_default(size=12)
    except TypeError:  # Pillow without FreeType: its bitmap font
        font = ImageFont.load_default()
    x = image.shape[1] + 10
    legend = [(GOAL, "goal/end")] * goals + [(BLOCKED, "wall/hole")] * walls
    top, bottom = 18, height - 8 - 16 * len(legend) - (6 if legend else 0)
    draw.text((x, 2), "V", fill=INK, font=font)
    fractions = np.linspace(1.0, 0.0, bottom - top)
    strip = colour_map(fractions)[:, None, :].repeat(14, axis=1)
    canvas.paste(Image.fromarray(strip), (x, top))
    draw.rectangle([x, top, x + 13, bottom - 1], outline=INK)
    for fraction in (1.0, 0.5, 0.0):
        y = top + (1 - fraction) * (bottom - top - 1)
        draw.line([(x + 14, y), (x + 18, y)], fill=INK)
        draw.text((x + 21, y - 7), f"{low + fraction * (high - low):.3g}", fill=INK, font=font)
    for i, (colour, name) in enumerate(legend):
        y = bottom + 8 + 16 * i
        draw.rectangle([x, y, x + 13, y + 11], fill=colour, outline=INK)
        draw.text((x + 19, y - 1), name, fill=INK, font=font)
    return np.asarray(canvas)
