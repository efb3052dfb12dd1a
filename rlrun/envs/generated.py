"""Generated tabular MDPs as small gymnasium envs: `rlrun/RandomMDP-v0` (Garnet-style) and
`rlrun/GridWorld-v0` (a size x size grid with walls, a goal and slippery moves).

Each env is played by the evaluator like any gymnasium env, and hands its model to
rlrun.envs.tabular two ways: `model_arrays()`, vectorised (a million-state grid in seconds),
and `P`, gymnasium's toy-text dict `P[s][a] = [(prob, next_state, reward, terminated), ...]`,
built cell by cell from the same step rule as `step()` (for small models and for tests).
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

RANDOM_MDP_ID = "rlrun/RandomMDP-v0"
GRID_WORLD_ID = "rlrun/GridWorld-v0"


def register_envs() -> None:
    if RANDOM_MDP_ID not in gym.registry:
        gym.register(RANDOM_MDP_ID, entry_point=RandomMDPEnv, max_episode_steps=100)
    if GRID_WORLD_ID not in gym.registry:
        gym.register(GRID_WORLD_ID, entry_point=GridWorldEnv)  # its own limit: 10 x size steps


# ---------------------------------------------------------------------------- RandomMDP


def garnet(states: int, actions: int, branching: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A Garnet MDP: each (s, a) moves to `branching` distinct states chosen uniformly, with
    probabilities that split [0, 1] at uniform random cut points; rewards R(s, a) ~ N(0, 1).
    Returns next states [S, A, b], their probabilities [S, A, b] and rewards [S, A]."""
    rng = np.random.default_rng(seed)
    rows = states * actions
    if 2 * branching > states:  # dense: a random permutation per row
        nxt = rng.permuted(np.tile(np.arange(states), (rows, 1)), axis=1)[:, :branching]
    else:  # sparse: draw with replacement, redraw the rows that repeat a state
        nxt = rng.integers(states, size=(rows, branching))
        while True:
            ordered = np.sort(nxt, axis=1)
            repeats = (ordered[:, 1:] == ordered[:, :-1]).any(axis=1)
            if not repeats.any():
                break
            nxt[repeats] = rng.integers(states, size=(int(repeats.sum()), branching))
    cuts = np.sort(rng.random((rows, branching - 1)), axis=1)
    probs = np.diff(cuts, prepend=0.0, append=1.0)
    rewards = rng.standard_normal((states, actions))
    return nxt.reshape(states, actions, branching), probs.reshape(states, actions, branching), rewards


class RandomMDPEnv(gym.Env):
    """A Garnet MDP that never terminates (episodes end at the time limit, 100 steps by default);
    episodes start in a uniformly random state."""

    metadata: dict[str, Any] = {"render_modes": []}

    def __init__(
        self, states: int = 100, actions: int = 4, branching: int = 3, seed: int = 0, render_mode: None = None
    ):
        self.next_states, self.probs, self.rewards = garnet(states, actions, branching, seed)
        self.observation_space = gym.spaces.Discrete(states)
        self.action_space = gym.spaces.Discrete(actions)
        self.state = 0

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[int, dict]:
        super().reset(seed=seed)
        self.state = int(self.np_random.integers(self.observation_space.n))
        return self.state, {}

    def step(self, action: int) -> tuple[int, float, bool, bool, dict]:
        s, a = self.state, int(action)
        k = self.np_random.choice(len(self.probs[s, a]), p=self.probs[s, a])
        self.state = int(self.next_states[s, a, k])
        return self.state, float(self.rewards[s, a]), False, False, {}

    def model_arrays(self) -> dict[str, np.ndarray]:
        S, A, b = self.next_states.shape
        return {
            "rows": np.repeat(np.arange(S * A), b),
            "next_states": self.next_states.reshape(-1),
            "probs": self.probs.reshape(-1),
            "ends": np.zeros(S * A * b, dtype=bool),
            "R": self.rewards,
            "start": np.full(S, 1.0 / S),
        }

    @property
    def P(self) -> dict[int, dict[int, list[tuple[float, int, float, bool]]]]:
        S, A, b = self.next_states.shape
        probs, nxt, rewards = self.probs.tolist(), self.next_states.tolist(), self.rewards.tolist()
        return {
            s: {a: [(probs[s][a][k], nxt[s][a][k], rewards[s][a], False) for k in range(b)] for a in range(A)}
            for s in range(S)
        }


# ---------------------------------------------------------------------------- GridWorld

# actions as in FrozenLake: 0 left, 1 down, 2 right, 3 up, as (row, col) steps
MOVES = np.array([(0, -1), (1, 0), (0, 1), (-1, 0)])


def grid_layout(size: int, walls: float, goal: list[int] | None, seed: int) -> tuple[np.ndarray, int]:
    """The wall mask [size, size] and the goal's state index; start (0, 0) and goal are never walls."""
    wall = np.random.default_rng(seed).random((size, size)) < walls
    row, col = goal if goal is not None else (size - 1, size - 1)
    wall[0, 0] = wall[row, col] = False
    return wall, row * size + col


class GridWorldEnv(gym.Env):
    """A size x size grid; state = row * size + col, start at (0, 0). A move goes the chosen way
    with probability 1 - slip, else to one of the two perpendicular sides (slip / 2 each); a move
    into a wall or off the grid stays put. Entering the goal gives reward 1 and ends the episode;
    every other step gives 0. Episodes are cut after 10 x size steps (unless a TimeLimit is set)."""

    metadata: dict[str, Any] = {"render_modes": []}

    def __init__(
        self,
        size: int = 10,
        walls: float = 0.1,
        slip: float = 0.1,
        goal: list[int] | None = None,
        seed: int = 0,
        render_mode: None = None,
    ):
        self.size, self.slip = size, slip
        self.wall, self.goal = grid_layout(size, walls, goal, seed)
        self.max_steps = 10 * size
        self.observation_space = gym.spaces.Discrete(size * size)
        self.action_space = gym.spaces.Discrete(4)
        self.state, self.steps = 0, 0

    def outcomes(self, action: int) -> list[tuple[float, int]]:
        """(probability, action actually taken): the chosen one, or a perpendicular one."""
        return [(1 - self.slip, action), (self.slip / 2, (action - 1) % 4), (self.slip / 2, (action + 1) % 4)]

    def moved(self, state: int, action: int) -> int:
        row, col = divmod(state, self.size)
        r, c = row + MOVES[action][0], col + MOVES[action][1]
        if not (0 <= r < self.size and 0 <= c < self.size) or self.wall[r, c]:
            return state
        return int(r * self.size + c)

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[int, dict]:
        super().reset(seed=seed)
        self.state, self.steps = 0, 0
        return self.state, {}

    def step(self, action: int) -> tuple[int, float, bool, bool, dict]:
        outcomes = self.outcomes(int(action))
        k = self.np_random.choice(3, p=[p for p, _ in outcomes])
        self.state = self.moved(self.state, outcomes[k][1])
        self.steps += 1
        reached = self.state == self.goal
        return self.state, float(reached), reached, self.steps >= self.max_steps and not reached, {}

    def model_arrays(self) -> dict[str, np.ndarray]:
        n, S = self.size, self.size * self.size
        row, col = np.divmod(np.arange(S), n)
        # next state of every (state, direction actually moved)
        r, c = row[:, None] + MOVES[None, :, 0], col[:, None] + MOVES[None, :, 1]
        inside = (r >= 0) & (r < n) & (c >= 0) & (c < n)
        r, c = np.where(inside, r, row[:, None]), np.where(inside, c, col[:, None])
        blocked = self.wall[r, c]
        moved = np.where(blocked, np.arange(S)[:, None], r * n + c)  # [S, 4]
        actions = np.arange(4)
        taken = np.stack([actions, (actions - 1) % 4, (actions + 1) % 4], axis=1)  # [A, 3]
        nxt = moved[:, taken]  # [S, A, 3]
        probs = np.broadcast_to(np.array([1 - self.slip, self.slip / 2, self.slip / 2]), nxt.shape)
        # the goal and the walls are not states one moves on from: their rows stay empty
        live = ~self.wall.reshape(-1)
        live[self.goal] = False
        keep = live[:, None, None] & (probs > 0)
        rows = np.broadcast_to(np.arange(S * 4).reshape(S, 4, 1), nxt.shape)
        ends = nxt == self.goal
        R = np.where(ends, probs, 0.0).sum(axis=2) * live[:, None]
        start = np.zeros(S)
        start[0] = 1.0
        return {
            "rows": rows[keep],
            "next_states": nxt[keep],
            "probs": probs[keep],
            "ends": ends[keep],
            "R": R,
            "start": start,
        }

    @property
    def P(self) -> dict[int, dict[int, list[tuple[float, int, float, bool]]]]:
        P: dict[int, dict[int, list[tuple[float, int, float, bool]]]] = {}
        for s in range(self.size * self.size):
            row, col = divmod(s, self.size)
            P[s] = {}
            for a in range(4):
                if self.wall[row, col] or s == self.goal:
                    P[s][a] = [(1.0, s, 0.0, True)]  # as toy-text: ended states loop, ending again
                    continue
                P[s][a] = [
                    (p, nxt, float(nxt == self.goal), nxt == self.goal)
                    for p, taken in self.outcomes(a)
                    if p > 0
                    for nxt in [self.moved(s, taken)]
                ]
        return P
