"""Pictures of tabular results for TensorBoard: the value table V on the env's grid, with the
greedy policy as arrows and a colour bar (goals and walls drawn apart from the values)."""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont

from rlrun.envs.tabular import TabularModel

IMAGE_TAG = "tabular/values"
IMAGE_SIDE = 512  # pixels, at most, of the image's longer side

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
