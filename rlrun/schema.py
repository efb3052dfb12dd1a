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
class ObsNoiseConfig:
    """Observation noise (torch backend): what the policy sees, never the env's state. Each std is a
    number or [low, high], drawn per env at every reset."""

    correlated: Any = 0.0  # std of an offset drawn per env at each reset, constant within the episode
    uncorrelated: Any = 0.0  # std of a fresh draw at every step


@dataclass
class PerturbConfig:
    """A small random network per env, redrawn at every reset, whose output (times strength) is added
    to the observation or to the (continuous) action."""

    strength: Any = 0.0  # scale of the network's output; a number or [low, high]
    target: str = "obs"  # obs | action (action: continuous actions only)
    hidden: int = 16  # hidden units of the one-layer tanh network


@dataclass
class AdrConfig:
    """Automatic domain randomisation (OpenAI et al. 2019): ranges that widen where the policy does well
    at their boundaries."""

    params: list[str] = field(default_factory=list)  # physical parameters or knobs (latency, ...)
    limits: dict[str, Any] = field(default_factory=dict)  # name -> [low, high] a range never leaves
    delta: float = 0.1  # boundary step, as a fraction of the nominal value (absolute where it is 0)
    deltas: dict[str, Any] = field(default_factory=dict)  # name -> absolute boundary step (overrides delta)
    buffer: int = 10  # m: episodes at a boundary before it is judged
    t_low: float | None = None  # a boundary whose buffer's mean return is <= t_low narrows
    t_high: float | None = None  # ... >= t_high widens
    p_boundary: float = 0.5  # p_b: chance that a reset env probes a boundary


@dataclass
class EnvConfig:
    id: str = MISSING  # a registered gymnasium id, or "module:Id-v0" to import a module first
    num_envs: int = 1
    vector: str = "sync"  # sync | async
    # gymnasium | torch (batched tensors on the run's device; TORCH_ENV_IDS) | envpool (Atari games)
    backend: str = "gymnasium"
    max_episode_steps: int | None = None
    # torch backend: physical parameters drawn per env at every reset, name -> [low, high]
    # (typed Any so that [2, 4] is taken as well as [2.0, 4.0]; check_env checks the values)
    randomize: dict[str, Any] = field(default_factory=dict)
    kwargs: dict[str, Any] = field(default_factory=dict)  # passed to gymnasium.make
    # the robotics case study (torch backend, rlrun.envs.robustness): all off by default
    obs_noise: ObsNoiseConfig = field(default_factory=ObsNoiseConfig)
    latency: Any = 0  # steps between choosing an action and the env applying it; or [low, high]
    action_noise: Any = 0.0  # std of Gaussian noise on continuous actions; or [low, high]
    perturb: PerturbConfig = field(default_factory=PerturbConfig)
    adr: AdrConfig = field(default_factory=AdrConfig)

    def make_kwargs(self) -> dict[str, Any]:
        """The keyword arguments for gymnasium.make (schemas with env-specific keys add theirs)."""
        return dict(self.kwargs)


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
        from rlrun.schema_atari import AtariEnvConfig

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
    reward: Any = None  # a RewardConfig (rlrun.rewards.schema): what the algorithm trains on


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


def check_choice(cfg: Any, key: str, allowed: tuple[str, ...], prefix: str = "algo.") -> None:
    value = getattr(cfg, key)
    options = " or ".join([", ".join(allowed[:-1]), allowed[-1]] if len(allowed) > 1 else allowed)
    require(value in allowed, f"{prefix}{key}", f"must be {options}, got {value!r}")


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
        env.backend in ("gymnasium", "torch", "envpool"),
        "env.backend",
        f"must be gymnasium, torch or envpool (Atari ids only), got {env.backend!r}",
    )
    if env.backend == "envpool":
        require(
            env.id.split(":")[-1].startswith(ATARI_PREFIX),
            "env.backend",
            f"envpool runs the Atari games (env=Atari, ALE/<Game>-v5 ids), not {env.id}",
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
    from rlrun.schema_atari import AtariEnvConfig, check_atari_env  # (it imports this module)

    if isinstance(env, AtariEnvConfig):
        check_atari_env(env)
    check_robustness(env)


# ---------------------------------------------------------------------------- the robotics case study

MAX_LATENCY = 1000  # steps: a larger delay is a typo (the action queue holds this many per env)


def robustness_knobs(env: EnvConfig) -> dict[str, Any]:
    """The case study's randomisable knobs by name (as env.adr.params names them): number or [low, high]."""
    return {
        "obs_noise.correlated": env.obs_noise.correlated,
        "obs_noise.uncorrelated": env.obs_noise.uncorrelated,
        "latency": env.latency,
        "action_noise": env.action_noise,
        "perturb.strength": env.perturb.strength,
    }


def knob_range(value: Any) -> tuple[float, float] | None:
    """A knob's value as a range [low, high] (a number v is [v, v]); None if it is neither."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value), float(value)
    if isinstance(value, list | tuple) and len(value) == 2:
        if all(isinstance(v, int | float) and not isinstance(v, bool) for v in value):
            return float(value[0]), float(value[1])
    return None


def dotted(tree: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """A nested dict by dotted names: Hydra reads +env.adr.limits.obs_noise.correlated=[0,1] as
    {obs_noise: {correlated: [0, 1]}}, which names the knob obs_noise.correlated."""
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            flat.update(dotted(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def robustness_on(env: EnvConfig) -> bool:
    return bool(env.adr.params) or any(knob_range(v) != (0.0, 0.0) for v in robustness_knobs(env).values())


def check_robustness(env: EnvConfig) -> None:
    for name, value in robustness_knobs(env).items():
        bounds, key = knob_range(value), f"env.{name}"
        ok = bounds is not None and all(math.isfinite(b) for b in bounds) and 0 <= bounds[0] <= bounds[1]
        require(ok, key, f"must be a number >= 0 or [low, high] with 0 <= low <= high, got {value}")
        if name == "latency":
            ok = all(b == int(b) for b in bounds) and bounds[1] <= MAX_LATENCY
            require(ok, key, f"must be whole steps in [0, {MAX_LATENCY}], got {value}")
    check_choice(env.perturb, "target", ("obs", "action"), prefix="env.perturb.")
    require(env.perturb.hidden > 0, "env.perturb.hidden", f"must be > 0, got {env.perturb.hidden}")
    if not robustness_on(env):
        return
    on = [f"env.{n}" for n, v in robustness_knobs(env).items() if knob_range(v) != (0.0, 0.0)]
    first = "env.adr.params" if env.adr.params else on[0]  # the key to name in an error
    require(
        env.backend == "torch", first, "needs env.backend=torch (the case study's envs are batched tensors)"
    )
    require(env.id not in TABULAR_ENVS, first, f"{env.id} is a tabular model: its observations are states")
    check_adr(env)


def check_adr(env: EnvConfig) -> None:
    adr = env.adr
    check_finite(adr, "env.adr.")
    if not adr.params:
        return
    require(
        len(set(adr.params)) == len(adr.params), "env.adr.params", f"names a parameter twice: {adr.params}"
    )
    knobs = robustness_knobs(env)
    for name in adr.params:
        require(name not in env.randomize, "env.adr.params", f"{name} is in env.randomize too; give one")
        if name in knobs:
            bounds = knob_range(knobs[name])
            ok = bounds is not None and bounds[0] == bounds[1]
            require(
                ok, f"env.{name}", f"is ADR's nominal value (env.adr.params): a number, not {knobs[name]}"
            )
    require(adr.buffer > 0, "env.adr.buffer", f"must be an integer > 0, got {adr.buffer}")
    require(0 <= adr.p_boundary <= 1, "env.adr.p_boundary", f"must be in [0, 1], got {adr.p_boundary}")
    require(adr.delta > 0, "env.adr.delta", f"must be > 0, got {adr.delta}")
    for key in ("t_low", "t_high"):
        require(
            getattr(adr, key) is not None, f"env.adr.{key}",
            "is needed with env.adr.params: the mean return at a boundary that narrows (t_low) or widens "
            "(t_high) it, e.g. t_low=200 t_high=450 on CartPole",
        )  # fmt: skip
    require(
        adr.t_low < adr.t_high, "env.adr.t_low", f"must be < env.adr.t_high={adr.t_high}, got {adr.t_low}"
    )
    for name, bounds in dotted(adr.limits).items():
        key = f"env.adr.limits.{name}"
        require(name in adr.params, key, f"{name} is not in env.adr.params {adr.params}")
        pair = knob_range(bounds)
        require(
            pair is not None and pair[0] <= pair[1],
            key,
            f"must be [low, high] with low <= high, got {bounds}",
        )
    for name, step in dotted(adr.deltas).items():
        key = f"env.adr.deltas.{name}"
        require(name in adr.params, key, f"{name} is not in env.adr.params {adr.params}")
        number = isinstance(step, int | float) and not isinstance(step, bool)
        require(number and 0 < step < MAX_FLOAT, key, f"must be a number > 0, got {step}")


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


def __getattr__(name: str) -> Any:
    """The Atari config moved to rlrun.schema_atari; `from rlrun.schema import AtariEnvConfig` still works."""
    if name in ("AtariEnvConfig", "check_atari_env"):
        from rlrun import schema_atari

        return getattr(schema_atari, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
