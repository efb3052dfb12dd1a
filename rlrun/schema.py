"""The plain configs (dataclasses, stdlib only) and the checks every algorithm shares.

The run, env and device configs live here; each algorithm's own config class and checks live in
its module under rlrun/algos, beside its builder (`AlgoSpec`). Nothing here imports Hydra,
OmegaConf or torch: the library below the edge takes these dataclasses, and a mistake is found
before anything heavy is loaded. The checks raise `ConfigError`, which the CLI prints as one line.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from rlrun.errors import ConfigError

MISSING: Any = "???"  # OmegaConf's marker for a value the user must give

# ---------------------------------------------------------------------------- env


@dataclass
class EnvConfig:
    id: str = MISSING  # a registered gymnasium id, or "module:Id-v0" to import a module first
    num_envs: int = 1
    vector: str = "sync"  # sync | async
    backend: str = "gymnasium"  # gymnasium | torch (batched tensors on the run's device; TORCH_ENV_IDS)
    max_episode_steps: int | None = None
    # torch backend: physical parameters drawn per env at every reset, name -> [low, high]
    # (typed Any so that [2, 4] is taken as well as [2.0, 4.0]; check_env checks the values)
    randomize: dict[str, Any] = field(default_factory=dict)
    kwargs: dict[str, Any] = field(default_factory=dict)  # passed to gymnasium.make

    def make_kwargs(self) -> dict[str, Any]:
        """The keyword arguments for gymnasium.make (schemas with env-specific keys add theirs)."""
        return dict(self.kwargs)


@dataclass
class AtariEnvConfig(EnvConfig):
    """An ALE game (ALE/<Game>-v5) with the standard preprocessing (rlrun.envs.atari)."""

    id: str = "ALE/Breakout-v5"
    repeat_action_probability: float = 0.25  # sticky actions (ALE v5's default; 0: deterministic)
    full_action_space: bool = False  # all 18 actions instead of the game's minimal set
    noop_max: int = 30  # up to this many no-op actions at reset (random start states)
    frame_skip: int = 4  # each action repeated this many frames; the max of the last two is seen
    screen_size: int = 84  # frames resized to screen_size x screen_size
    grayscale: bool = True
    frame_stack: int = 4  # the observation is the last frame_stack frames
    terminal_on_life_loss: bool = True  # training only: a lost life ends the learner's episode
    fire_reset: bool = True  # press FIRE after a reset in games that need it
    clip_reward: bool = True  # training only: rewards clipped to their sign

    def make_kwargs(self) -> dict[str, Any]:
        # frameskip=1: AtariPreprocessing skips (and max-pools) frames itself; sticky actions by
        # gymnasium's StickyAction wrapper, whose state a checkpoint keeps (the ALE's own sticky
        # action is not in its saved state, so a resumed run would differ)
        own = {"frameskip": 1, "repeat_action_probability": 0.0}
        return {**own, "full_action_space": self.full_action_space, **self.kwargs}


# Tabular envs with keys of their own; Taxi-v4 and CliffWalking-v1 use the plain EnvConfig.


@dataclass
class FrozenLakeEnvConfig(EnvConfig):
    map_name: str | None = None  # 4x4 | 8x8 (null: the id's own; ignored when desc is given)
    is_slippery: bool = True  # the move goes in the intended direction with probability 1/3
    desc: list[str] | None = None  # a custom map, one string per row: S start, F frozen, H hole, G goal

    def make_kwargs(self) -> dict[str, Any]:
        own = {"map_name": self.map_name, "is_slippery": self.is_slippery, "desc": self.desc}
        return {**{k: v for k, v in own.items() if v is not None}, **self.kwargs}


@dataclass
class RandomMDPEnvConfig(EnvConfig):
    states: int = 100
    actions: int = 4
    branching: int = 3  # successor states of each (state, action), chosen at random
    seed: int = 0  # seed of the generated model (not of the run)

    def make_kwargs(self) -> dict[str, Any]:
        own = {"states": self.states, "actions": self.actions, "branching": self.branching}
        return {**own, "seed": self.seed, **self.kwargs}


@dataclass
class GridWorldEnvConfig(EnvConfig):
    size: int = 10  # a size x size grid; start top left
    walls: float = 0.1  # fraction of cells that are walls, placed at random by seed
    slip: float = 0.1  # probability that a move goes to one of the two perpendicular sides instead
    goal: list[int] | None = None  # [row, col] of the goal (reward 1, the episode ends); null: bottom right
    seed: int = 0  # seed of the wall layout (not of the run)

    def make_kwargs(self) -> dict[str, Any]:
        own = {"size": self.size, "walls": self.walls, "slip": self.slip, "goal": self.goal}
        return {**own, "seed": self.seed, **self.kwargs}


# the env ids that have a torch-native batched version (rlrun.envs.torch_envs), env.backend=torch
TORCH_ENV_IDS = ("CartPole-v1", "Acrobot-v1", "MountainCar-v0", "MountainCarContinuous-v0", "Pendulum-v1")

# the env ids that have a tabular model (vi and pi need one), with the config option naming each
TABULAR_ENVS = {
    "FrozenLake-v1": "FrozenLake",
    "FrozenLake8x8-v1": "FrozenLake8x8",
    "Taxi-v4": "Taxi",
    "CliffWalking-v1": "CliffWalking",
    "rlrun/RandomMDP-v0": "RandomMDP",
    "rlrun/GridWorld-v0": "GridWorld",
}
ENV_SCHEMAS: dict[str, type] = {
    "FrozenLake-v1": FrozenLakeEnvConfig,
    "FrozenLake8x8-v1": FrozenLakeEnvConfig,
    "rlrun/RandomMDP-v0": RandomMDPEnvConfig,
    "rlrun/GridWorld-v0": GridWorldEnvConfig,
}

ATARI_PREFIX = "ALE/"  # every ALE id gets the Atari schema (and its preprocessing)


def env_schema(env_id: str | None) -> type:
    """The config class of an env id: tabular envs and Atari games have keys of their own."""
    if env_id is not None and env_id.split(":")[-1].startswith(ATARI_PREFIX):
        return AtariEnvConfig
    return ENV_SCHEMAS.get(env_id, EnvConfig)


# ---------------------------------------------------------------------------- device and run


@dataclass
class DeviceConfig:
    type: str = "auto"  # auto | cpu | cuda | cuda:<index>
    threads: int | None = None  # torch CPU threads (null: 1 when training on the CPU, else torch's default)


@dataclass
class EvalConfig:
    every: int = 10_000  # environment steps between evaluations (0: only at the end)
    episodes: int = 10
    deterministic: bool = True


@dataclass
class CheckpointConfig:
    every: int = 10  # iterations between checkpoints (one is always written at the end)


@dataclass
class RunConfig:
    algo: Any = None  # the algorithm's own config (its AlgoSpec's class)
    env: Any = None  # an EnvConfig (or the schema of its id)
    device: Any = None  # a DeviceConfig
    seed: int = 0
    total_steps: int = 100_000  # environment steps
    stop_return: float | None = None  # end once the evaluation mean reaches this
    eval: EvalConfig = field(default_factory=EvalConfig)
    checkpoint: CheckpointConfig = field(default_factory=CheckpointConfig)
    resume: str | None = None  # a run dir to continue
    progress: bool = True  # a progress bar on the console (never when it is not a terminal, nor in sweeps)


# ---------------------------------------------------------------------------- the algorithm registry


@dataclass(frozen=True)
class AlgoSpec:
    """One algorithm: its config class, its checks and its builder. Each module of rlrun/algos that
    implements an algorithm defines one, as `SPEC`; that module plus a yaml in conf/algo is all an
    algorithm needs."""

    name: str
    config: type
    check: Callable[[Any, EnvConfig], None]  # range and compatibility checks: ConfigError if not
    make: Callable[..., Any]  # make(config, build) -> Algorithm; build: rlrun.algos.base.Build
    tabular: bool = False  # plans on the env's tabular model instead of stepping a vector env


# ---------------------------------------------------------------------------- shared checks

ACTIVATIONS = ("tanh", "relu", "elu")


def require(ok: bool, key: str, message: str) -> None:
    if not ok:
        raise ConfigError(key, message)


MAX_FLOAT = 1e15  # no float key of ours means anything larger (a learning rate of 1e38 overflows float32)
MAX_INT = 2**31 - 1  # counts and sizes beyond this are a typo (seeds and total_steps have their own)


def check_finite(cfg: Any, prefix: str) -> None:
    """NaN, Inf and absurdly large numbers parse as numbers; no number key of ours accepts them."""
    for name, value in vars(cfg).items():
        key = f"{prefix}{name}"
        if isinstance(value, float):
            require(math.isfinite(value), key, f"must be a finite number, got {value}")
            require(abs(value) <= MAX_FLOAT, key, f"must be at most {MAX_FLOAT:g} in size, got {value:g}")
        elif isinstance(value, int) and not isinstance(value, bool) and name not in ("seed", "total_steps"):
            require(abs(value) <= MAX_INT, key, f"must be at most {MAX_INT} in size, got {value}")


def check_positive(cfg: Any, *keys: str) -> None:
    """Counts (N, K, S, sizes) and rates that must be > 0."""
    for key in keys:
        value = getattr(cfg, key)
        kind = "an integer > 0" if isinstance(value, int) else "> 0"
        require(value > 0, f"algo.{key}", f"must be {kind}, got {value}")


def check_optional_positive(cfg: Any, *keys: str) -> None:
    for key in keys:
        value = getattr(cfg, key)
        if value is not None:
            require(value > 0, f"algo.{key}", f"must be > 0 or null, got {value}")


def check_gamma(cfg: Any) -> None:
    require(0 < cfg.gamma <= 1, "algo.gamma", f"must be in (0, 1], got {cfg.gamma}")


def check_unit_interval(cfg: Any, *keys: str) -> None:
    for key in keys:
        value = getattr(cfg, key)
        require(0 <= value <= 1, f"algo.{key}", f"must be in [0, 1], got {value}")


def check_choice(cfg: Any, key: str, allowed: tuple[str, ...]) -> None:
    value = getattr(cfg, key)
    options = " or ".join([", ".join(allowed[:-1]), allowed[-1]] if len(allowed) > 1 else allowed)
    require(value in allowed, f"algo.{key}", f"must be {options}, got {value!r}")


def check_network(cfg: Any) -> None:
    """The MLP's hidden sizes and activation."""
    require(all(h > 0 for h in cfg.hidden), "algo.hidden", f"sizes must be > 0, got {cfg.hidden}")
    check_choice(cfg, "activation", ACTIVATIONS)


def check_batch_per_env(N: int, env: EnvConfig) -> None:
    """N transitions come from num_envs envs stepping N / num_envs times each."""
    require(
        N % env.num_envs == 0,
        "algo.N",
        f"must be a multiple of env.num_envs={env.num_envs} (each env steps N/num_envs times), got {N}",
    )


def check_needs_model(algo: str, env: EnvConfig) -> None:
    """vi and pi plan on a model: refuse an env without one, naming those that have one."""
    require(
        env.id in TABULAR_ENVS,
        "env",
        f"algo={algo} needs a tabular model (P, R), which {env.id} has not; "
        f"choose one of: {', '.join(f'env={name}' for name in TABULAR_ENVS.values())}",
    )


def check_run(cfg: RunConfig) -> None:
    check_finite(cfg, "")
    check_finite(cfg.eval, "eval.")
    check_finite(cfg.checkpoint, "checkpoint.")
    require(cfg.total_steps > 0, "total_steps", f"must be > 0, got {cfg.total_steps}")
    require(cfg.eval.every >= 0, "eval.every", f"must be >= 0, got {cfg.eval.every}")
    require(cfg.eval.episodes > 0, "eval.episodes", f"must be > 0, got {cfg.eval.episodes}")
    require(cfg.checkpoint.every > 0, "checkpoint.every", f"must be > 0, got {cfg.checkpoint.every}")
    require(0 <= cfg.seed < 2**32, "seed", f"must be in [0, 2^32), got {cfg.seed}")
    require(cfg.total_steps < 2**62, "total_steps", f"must be < 2^62, got {cfg.total_steps}")


def check_env(env: EnvConfig) -> None:
    check_finite(env, "env.")
    require(env.num_envs > 0, "env.num_envs", f"must be > 0, got {env.num_envs}")
    require(env.vector in ("sync", "async"), "env.vector", f"must be sync or async, got {env.vector!r}")
    require(
        env.backend in ("gymnasium", "torch"),
        "env.backend",
        f"must be gymnasium or torch, got {env.backend!r}",
    )
    if env.backend == "torch":
        ids = ", ".join(TORCH_ENV_IDS)
        require(
            env.id in TORCH_ENV_IDS or env.id in TABULAR_ENVS,
            "env.backend",
            f"torch has {ids} and the tabular envs, not {env.id}; use env.backend=gymnasium",
        )
    for name, bounds in env.randomize.items():
        require(env.backend == "torch", "env.randomize", "needs env.backend=torch")
        pair = isinstance(bounds, list | tuple) and len(bounds) == 2
        numbers = pair and all(isinstance(b, int | float) and not isinstance(b, bool) for b in bounds)
        require(
            numbers and bounds[0] <= bounds[1],
            f"env.randomize.{name}", f"must be [low, high] with low <= high, got {bounds}",
        )  # fmt: skip
    if env.max_episode_steps is not None:
        require(env.max_episode_steps > 0, "env.max_episode_steps", "must be > 0 or null")
    check_tabular_env(env)
    check_atari_env(env)


def check_atari_env(env: EnvConfig) -> None:
    if not isinstance(env, AtariEnvConfig):
        return
    p = env.repeat_action_probability
    require(0 <= p <= 1, "env.repeat_action_probability", f"must be in [0, 1], got {p}")
    require(env.noop_max >= 0, "env.noop_max", f"must be >= 0, got {env.noop_max}")
    require(env.frame_skip > 0, "env.frame_skip", f"must be an integer > 0, got {env.frame_skip}")
    # the Nature CNN's three convolutions need at least 36 x 36 pixels
    require(env.screen_size >= 36, "env.screen_size", f"must be >= 36, got {env.screen_size}")
    require(env.frame_stack > 0, "env.frame_stack", f"must be an integer > 0, got {env.frame_stack}")
    require(env.backend == "gymnasium", "env.backend", "Atari games run on the gymnasium backend only")


def check_tabular_env(env: EnvConfig) -> None:
    if isinstance(env, FrozenLakeEnvConfig):
        if env.desc is None:
            require(
                env.map_name in (None, "4x4", "8x8"),
                "env.map_name",
                f"must be 4x4 or 8x8, got {env.map_name!r}",
            )
        else:
            rows = env.desc
            require(
                len(rows) > 0 and len({len(r) for r in rows}) == 1 and len(rows[0]) > 0,
                "env.desc",
                "must be a non-empty list of rows of equal length",
            )
            require(all(set(r) <= set("SFHG") for r in rows), "env.desc", "rows may hold only S, F, H and G")
            text = "".join(rows)
            require(text.count("S") == 1, "env.desc", f"needs exactly one start S, got {text.count('S')}")
            require("G" in text, "env.desc", "needs at least one goal G")
    if isinstance(env, RandomMDPEnvConfig):
        require(env.states > 0, "env.states", f"must be > 0, got {env.states}")
        require(env.actions > 0, "env.actions", f"must be > 0, got {env.actions}")
        require(
            0 < env.branching <= env.states,
            "env.branching",
            f"must be in [1, env.states={env.states}], got {env.branching}",
        )
    if isinstance(env, GridWorldEnvConfig):
        require(env.size >= 2, "env.size", f"must be >= 2, got {env.size}")
        require(0 <= env.walls < 1, "env.walls", f"must be in [0, 1), got {env.walls}")
        require(0 <= env.slip <= 1, "env.slip", f"must be in [0, 1], got {env.slip}")
        if env.goal is not None:
            require(
                len(env.goal) == 2 and all(0 <= g < env.size for g in env.goal) and list(env.goal) != [0, 0],
                "env.goal",
                f"must be [row, col] inside the {env.size}x{env.size} grid, not the start [0, 0], "
                f"got {env.goal}",
            )
