"""The value map (TensorBoard image of V for grid-shaped tabular runs): a colour bar beside the map,
its scale spanning the states where the episode goes on, and the goal drawn in a colour of its own,
not the scale's worst."""

import numpy as np
import pytest
import torch

from rlrun.collect import compose_run
from rlrun.runner import make_algorithm
from rlrun.valuemap import BAR_WIDTH, GOAL, INK, colour_map


def solved(env: str):
    algo = make_algorithm(compose_run(["algo=vi", f"env={env}"]), None, torch.device("cpu"))
    while not algo.done:
        algo.iterate()
    image = algo.pop_images()["tabular/values"]
    rows, cols = algo.model.grid
    return algo, image, image.shape[0] // rows  # cell size in pixels


def cell_colour(image: np.ndarray, cell: int, r: int, c: int) -> tuple:
    """The colour at a cell's corner (its arrow, if any, is drawn in the middle)."""
    return tuple(int(v) for v in image[r * cell + 2, c * cell + 2])


@pytest.mark.parametrize("env", ["FrozenLake", "CliffWalking"])
def test_the_goal_is_not_drawn_in_the_worst_colour(env):
    algo, image, cell = solved(env)
    rows, cols = algo.model.grid
    V = algo.V.numpy().reshape(rows, cols)
    goal = np.argwhere(
        algo.model.terminal.numpy().reshape(rows, cols) & ~algo.model.blocked.reshape(rows, cols)
    )
    assert len(goal) == 1
    r, c = goal[0]
    worst, best = tuple(colour_map(np.array(0.0))), tuple(colour_map(np.array(1.0)))
    assert cell_colour(image, cell, r, c)[:3] != worst
    assert tuple(image[r * cell + cell // 2, c * cell + cell // 2]) == GOAL
    # the best value of the states that go on is drawn in the best colour: the goal's V = 0 is not the top
    scaled = ~algo.model.blocked.reshape(rows, cols) & ~algo.model.terminal.numpy().reshape(rows, cols)
    br, bc = np.argwhere(scaled & (V == V[scaled].max()))[0]
    assert cell_colour(image, cell, br, bc) == best


def test_a_colour_bar_runs_from_the_best_colour_at_the_top_to_the_worst_at_the_bottom():
    algo, image, cell = solved("FrozenLake8x8")
    width = algo.model.grid[1] * cell
    assert image.shape[1] == width + BAR_WIDTH
    left = [tuple(int(v) for v in pixel) == INK for pixel in image[:, width + 10]]  # the strip's frame
    top = left.index(True)
    bottom = top + left[top:].index(False) - 1
    strip = image[top + 1 : bottom, width + 10 + 7]
    assert bottom - top > 100
    assert np.abs(strip[0].astype(int) - colour_map(np.array(1.0))).max() <= 3
    assert np.abs(strip[-1].astype(int) - colour_map(np.array(0.0))).max() <= 3
