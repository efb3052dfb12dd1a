"""Structured configs (one dataclass per config group) and the checks that run before training.
No torch here: mistakes are reported before torch is imported.

Hydra refuses unknown keys and wrong types through these schemas; `validate` then checks
ranges and compatibility and raises `ConfigError`, which the CLI prints as one line.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from omegaconf import MISSING, DictConfig, ListConfig, OmegaConf
from omegaconf.errors import MissingMandatoryValue, ValidationError

from rlrun.errors import ConfigError

# ---------------------------------------------------------------------------- algo


@dataclass
class PPOConfig:
    name: str = "ppo"
    N: int = 2048  # transitions collected per iteration (= env.num_envs x steps per env)
    K: int = 10  # epochs over each batch
    S: int = 32  # minibatches per epoch
    lr: float = 3e-4
    anneal_lr: bool = True  # linear decay of lr to 0 over total_steps
    gamma: float = 0.99
    gae_lambda: float = 0.95
    clip: float = 0.2  # epsilon of the clipped surrogate
    anneal_clip: bool = False  # linear decay of clip to 0 over total_steps (RL Zoo's lin_0.2)
    clip_vloss: bool = False
    vf_coef: float = 0.5
    ent_coef: float = 0.0
    max_grad_norm: float = 0.5
    target_kl: float | None = None  # stop an iteration's epochs early once approx-KL exceeds it
    norm_adv: bool = True
    normalize_obs: bool = False
    normalize_reward: bool = False
    hidden: list[int] = field(default_factory=lambda: [64, 64])
    activation: str = "tanh"
    init_log_std: float = 0.0  # Gaussian policies only


@dataclass
class FQIConfig:
    name: str = "fqi"
    N: int = 256  # transitions collected per round (= env.num_envs x steps per env)
    K: int = 1  # target computations per round (each freezes phi for its targets)
    S: int = 128  # gradient steps per target computation (a table is fitted exactly instead)
    batch_size: int = 64
    buffer_size: int = 100_000
    learning_starts: int = 1000  # transitions collected with random actions before the first fit
    lr: float = 1e-3
    anneal_lr: bool = False
    gamma: float = 0.99
    loss: str = "mse"  # mse | huber
    double_q: bool = False
    collect: str = "epsilon_greedy"  # random | epsilon_greedy
    eps_start: float = 1.0
    eps_end: float = 0.05
    eps_fraction: float = 0.1  # of total_steps, over which epsilon decays linearly
    max_grad_norm: float | None = 10.0
    q_function: str = "auto"  # auto | mlp | table
    hidden: list[int] = field(default_factory=lambda: [256, 256])
    activation: str = "relu"
    normalize_obs: bool = False  # standardise Q's inputs by the store's mean/std, fixed at the first fit
    dataset: str | None = None  # offline: train from this .npz and never step the env
    save_dataset: bool = False  # write the replay store to RUN_DIR/dataset.npz at the end


ALGO_SCHEMAS: dict[str, type] = {"ppo": PPOConfig, "fqi": FQIConfig}
TABULAR_ALGOS = ("vi", "pi")  # they work on a tabular model, not a vector env

# ---------------------------------------------------------------------------- algo: tabular (vi, pi)


@dataclass
class VIConfig:
    name: str = "vi"
    gamma: float = 0.99
    tol: float = 1e-10  # stop once the residual max|V_new - V| < tol, no value turned non-zero, pi stable
    K: int = 100_000  # iteration cap (one iteration = one Bellman sweep over all states)


@dataclass
class PIConfig:
    name: str = "pi"
    gamma: float = 0.99
    S: int = 0  # evaluation sweeps per iteration; 0: exact policy evaluation by a linear solve
    K: int = 10_000  # iteration cap (one iteration = evaluate, then improve)
    tol: float = 1e-10  # with S > 0: stop only once the Bellman residual is also below tol


ALGO_SCHEMAS.update(vi=VIConfig, pi=PIConfig)

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


# ---------------------------------------------------------------------------- env: tabular models
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


# ---------------------------------------------------------------------------- device


@dataclass
class DeviceConfig:
    type: str = "auto"  # auto | cpu | cuda | cuda:<index>
    threads: int | None = None  # torch CPU threads (null: 1 when training on the CPU, else torch's default)


# ---------------------------------------------------------------------------- run level


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
    algo: Any = None  # the groups' own schemas check these nodes
    env: Any = None
    device: Any = None
    seed: int = 0
    total_steps: int = 100_000  # environment steps
    stop_return: float | None = None  # end once the evaluation mean reaches this
    eval: EvalConfig = field(default_factory=EvalConfig)
    checkpoint: CheckpointConfig = field(default_factory=CheckpointConfig)
    resume: str | None = None  # a run dir to continue
    progress: bool = True  # a progress bar on the console (never when it is not a terminal, nor in sweeps)


def register_configs() -> None:
    """Register the schemas in Hydra's ConfigStore at the root, so they are not listed as groups."""
    from hydra.core.config_store import ConfigStore

    cs = ConfigStore.instance()
    cs.store(name="_run_schema", node=RunConfig)
    cs.store(name="_env_schema", node=EnvConfig)
    cs.store(name="_frozenlake_env_schema", node=FrozenLakeEnvConfig)
    cs.store(name="_randommdp_env_schema", node=RandomMDPEnvConfig)
    cs.store(name="_gridworld_env_schema", node=GridWorldEnvConfig)
    cs.store(name="_device_schema", node=DeviceConfig)
    for name, schema in ALGO_SCHEMAS.items():
        cs.store(name=f"_{name}_schema", node=schema)


# ---------------------------------------------------------------------------- checks


def to_dataclass(schema: type, node: DictConfig, key: str) -> Any:
    """Turn a config node into its dataclass. Keys the schema lacks (added with +key=...) are
    refused here, since Hydra lets `+` through a structured config."""
    prefix = f"{key}." if key else ""
    allowed = list(schema.__dataclass_fields__)
    extra = [k for k in node if k not in allowed]
    if extra:
        raise ConfigError(f"{prefix}{extra[0]}", f"unknown key; allowed: {', '.join(allowed)}")
    if OmegaConf.get_type(node) not in (schema, dict):
        # a node of another schema (env=gym with a FrozenLake id): as plain values, to merge into this one
        node = OmegaConf.create(OmegaConf.to_container(node, resolve=True))
    try:
        return OmegaConf.to_object(OmegaConf.merge(OmegaConf.structured(schema), node))
    except MissingMandatoryValue as err:
        raise ConfigError(f"{prefix}{err.full_key}", "a value is required here") from None
    except ValidationError as err:  # omegaconf's messages are multi-line; keep the first
        raise ConfigError(f"{prefix}{err.full_key}", str(err).splitlines()[0]) from None


def _check(ok: bool, key: str, message: str) -> None:
    if not ok:
        raise ConfigError(key, message)


def check_finite(cfg: Any, prefix: str) -> None:
    """NaN and Inf parse as floats; no float key of ours accepts them."""
    for name, value in vars(cfg).items():
        if isinstance(value, float):
            _check(math.isfinite(value), f"{prefix}{name}", f"must be a finite number, got {value}")


def check_run(cfg: RunConfig) -> None:
    check_finite(cfg, "")
    _check(cfg.total_steps > 0, "total_steps", f"must be > 0, got {cfg.total_steps}")
    _check(cfg.eval.every >= 0, "eval.every", f"must be >= 0, got {cfg.eval.every}")
    _check(cfg.eval.episodes > 0, "eval.episodes", f"must be > 0, got {cfg.eval.episodes}")
    _check(cfg.checkpoint.every > 0, "checkpoint.every", f"must be > 0, got {cfg.checkpoint.every}")
    _check(cfg.seed >= 0, "seed", f"must be >= 0, got {cfg.seed}")


def check_env(env: EnvConfig) -> None:
    _check(env.num_envs > 0, "env.num_envs", f"must be > 0, got {env.num_envs}")
    _check(env.vector in ("sync", "async"), "env.vector", f"must be sync or async, got {env.vector!r}")
    _check(
        env.backend in ("gymnasium", "torch"),
        "env.backend",
        f"must be gymnasium or torch, got {env.backend!r}",
    )
    if env.backend == "torch":
        ids = ", ".join(TORCH_ENV_IDS)
        _check(
            env.id in TORCH_ENV_IDS or env.id in TABULAR_ENVS,
            "env.backend",
            f"torch has {ids} and the tabular envs, not {env.id}; use env.backend=gymnasium",
        )
    for name, bounds in env.randomize.items():
        _check(env.backend == "torch", "env.randomize", "needs env.backend=torch")
        pair = isinstance(bounds, list | ListConfig) and len(bounds) == 2
        numbers = pair and all(isinstance(b, int | float) and not isinstance(b, bool) for b in bounds)
        _check(
            numbers and bounds[0] <= bounds[1],
            f"env.randomize.{name}", f"must be [low, high] with low <= high, got {bounds}",
        )  # fmt: skip
    if env.max_episode_steps is not None:
        _check(env.max_episode_steps > 0, "env.max_episode_steps", "must be > 0 or null")


def check_ppo(algo: PPOConfig, env: EnvConfig) -> None:
    check_finite(algo, "algo.")
    for key in ("N", "K", "S"):
        value = getattr(algo, key)
        _check(value > 0, f"algo.{key}", f"must be an integer > 0, got {value}")
    _check(algo.lr > 0, "algo.lr", f"must be > 0, got {algo.lr}")
    _check(0 < algo.gamma <= 1, "algo.gamma", f"must be in (0, 1], got {algo.gamma}")
    _check(0 <= algo.gae_lambda <= 1, "algo.gae_lambda", f"must be in [0, 1], got {algo.gae_lambda}")
    _check(0 < algo.clip < 1, "algo.clip", f"must be in (0, 1), got {algo.clip}")
    _check(algo.vf_coef >= 0, "algo.vf_coef", f"must be >= 0, got {algo.vf_coef}")
    _check(algo.ent_coef >= 0, "algo.ent_coef", f"must be >= 0, got {algo.ent_coef}")
    _check(algo.max_grad_norm > 0, "algo.max_grad_norm", f"must be > 0, got {algo.max_grad_norm}")
    if algo.target_kl is not None:
        _check(algo.target_kl > 0, "algo.target_kl", f"must be > 0 or null, got {algo.target_kl}")
    _check(all(h > 0 for h in algo.hidden), "algo.hidden", f"sizes must be > 0, got {algo.hidden}")
    _check(
        algo.activation in ACTIVATIONS,
        "algo.activation",
        f"must be one of {', '.join(ACTIVATIONS)}",
    )
    _check(
        algo.N % env.num_envs == 0,
        "algo.N",
        f"must be a multiple of env.num_envs={env.num_envs} (each env steps N/num_envs times), got {algo.N}",
    )
    _check(
        algo.N % algo.S == 0,
        "algo.S",
        f"must divide algo.N={algo.N} into equal minibatches, got {algo.S}",
    )


def check_fqi(algo: FQIConfig, env: EnvConfig) -> None:
    check_finite(algo, "algo.")
    for key in ("N", "K", "S", "batch_size", "buffer_size"):
        value = getattr(algo, key)
        _check(value > 0, f"algo.{key}", f"must be an integer > 0, got {value}")
    _check(algo.learning_starts >= 0, "algo.learning_starts", f"must be >= 0, got {algo.learning_starts}")
    _check(algo.lr > 0, "algo.lr", f"must be > 0, got {algo.lr}")
    _check(0 < algo.gamma <= 1, "algo.gamma", f"must be in (0, 1], got {algo.gamma}")
    for key in ("eps_start", "eps_end"):
        value = getattr(algo, key)
        _check(0 <= value <= 1, f"algo.{key}", f"must be in [0, 1], got {value}")
    _check(0 < algo.eps_fraction <= 1, "algo.eps_fraction", f"must be in (0, 1], got {algo.eps_fraction}")
    if algo.max_grad_norm is not None:
        _check(algo.max_grad_norm > 0, "algo.max_grad_norm", f"must be > 0 or null, got {algo.max_grad_norm}")
    for key, allowed in (
        ("loss", ("mse", "huber")),
        ("collect", ("random", "epsilon_greedy")),
        ("q_function", ("auto", "mlp", "table")),
        ("activation", ACTIVATIONS),
    ):
        value = getattr(algo, key)
        _check(value in allowed, f"algo.{key}", f"must be one of {', '.join(allowed)}, got {value!r}")
    _check(all(h > 0 for h in algo.hidden), "algo.hidden", f"sizes must be > 0, got {algo.hidden}")
    _check(
        algo.dataset is not None or algo.N % env.num_envs == 0,
        "algo.N",
        f"must be a multiple of env.num_envs={env.num_envs} (each env steps N/num_envs times), got {algo.N}",
    )


ACTIVATIONS = ("tanh", "relu", "elu")
ALGO_CHECKS = {"ppo": check_ppo, "fqi": check_fqi}

# ---------------------------------------------------------------------------- checks: tabular


def check_tabular_env(env: EnvConfig) -> None:
    if isinstance(env, FrozenLakeEnvConfig):
        if env.desc is None:
            _check(
                env.map_name in (None, "4x4", "8x8"),
                "env.map_name",
                f"must be 4x4 or 8x8, got {env.map_name!r}",
            )
        else:
            rows = env.desc
            _check(
                len(rows) > 0 and len({len(r) for r in rows}) == 1 and len(rows[0]) > 0,
                "env.desc",
                "must be a non-empty list of rows of equal length",
            )
            _check(all(set(r) <= set("SFHG") for r in rows), "env.desc", "rows may hold only S, F, H and G")
            text = "".join(rows)
            _check(text.count("S") == 1, "env.desc", f"needs exactly one start S, got {text.count('S')}")
            _check("G" in text, "env.desc", "needs at least one goal G")
    if isinstance(env, RandomMDPEnvConfig):
        _check(env.states > 0, "env.states", f"must be > 0, got {env.states}")
        _check(env.actions > 0, "env.actions", f"must be > 0, got {env.actions}")
        _check(
            0 < env.branching <= env.states,
            "env.branching",
            f"must be in [1, env.states={env.states}], got {env.branching}",
        )
    if isinstance(env, GridWorldEnvConfig):
        _check(env.size >= 2, "env.size", f"must be >= 2, got {env.size}")
        _check(0 <= env.walls < 1, "env.walls", f"must be in [0, 1), got {env.walls}")
        _check(0 <= env.slip <= 1, "env.slip", f"must be in [0, 1], got {env.slip}")
        if env.goal is not None:
            _check(
                len(env.goal) == 2 and all(0 <= g < env.size for g in env.goal) and list(env.goal) != [0, 0],
                "env.goal",
                f"must be [row, col] inside the {env.size}x{env.size} grid, not the start [0, 0], "
                f"got {env.goal}",
            )


def check_needs_model(algo: str, env: EnvConfig) -> None:
    """vi and pi plan on a model: refuse an env without one, naming those that have one."""
    _check(
        env.id in TABULAR_ENVS,
        "env",
        f"algo={algo} needs a tabular model (P, R), which {env.id} has not; "
        f"choose one of: {', '.join(f'env={name}' for name in TABULAR_ENVS.values())}",
    )


def check_vi(algo: VIConfig, env: EnvConfig) -> None:
    check_finite(algo, "algo.")
    check_needs_model("vi", env)
    _check(0 < algo.gamma <= 1, "algo.gamma", f"must be in (0, 1], got {algo.gamma}")
    _check(algo.tol > 0, "algo.tol", f"must be > 0, got {algo.tol}")
    _check(algo.K > 0, "algo.K", f"must be an integer > 0, got {algo.K}")


def check_pi(algo: PIConfig, env: EnvConfig) -> None:
    check_finite(algo, "algo.")
    check_needs_model("pi", env)
    _check(0 < algo.gamma <= 1, "algo.gamma", f"must be in (0, 1], got {algo.gamma}")
    _check(algo.S >= 0, "algo.S", f"must be >= 0 (0: exact evaluation), got {algo.S}")
    _check(algo.K > 0, "algo.K", f"must be an integer > 0, got {algo.K}")
    _check(algo.tol > 0, "algo.tol", f"must be > 0, got {algo.tol}")


ALGO_CHECKS.update(vi=check_vi, pi=check_pi)

# ---------------------------------------------------------------------------- pg and ac (issue 3)


@dataclass
class PGConfig:
    name: str = "pg"
    N: int = 16  # trajectories sampled per update
    S: int = 10  # critic gradient steps per update (baseline=value)
    lr: float = 3e-3  # Adam learning rate of the policy (alpha)
    critic_lr: float = 3e-3  # Adam learning rate of V_hat_phi
    gamma: float = 0.99
    reward_to_go: bool = True  # Q_hat_t = sum_{t'>=t} (true) or the whole-trajectory return (false)
    baseline: str = "value"  # none | mean (of the batch's Q_hat) | value (a fitted V_hat_phi(s))
    value_target: str = "mc"  # the critic's regression target: mc (returns) | bootstrap (r + gamma V(s'))
    gae_lambda: float | None = None  # A_hat by GAE(lambda) instead of Q_hat - V_hat (baseline=value)
    norm_adv: bool = True  # normalise the weights of grad log pi over each batch
    ent_coef: float = 0.0
    max_grad_norm: float | None = None  # clip the policy gradient's norm (null: no clipping)
    normalize_obs: bool = False
    normalize_reward: bool = False
    hidden: list[int] = field(default_factory=lambda: [64, 64])
    activation: str = "tanh"
    init_log_std: float = 0.0  # Gaussian policies only


@dataclass
class ACConfig:
    name: str = "ac"
    N: int = 40  # transitions per update (= env.num_envs x steps per env)
    n_steps: int = 5  # targets look n steps ahead (1: the lecture's r + gamma V(s')); <= N / num_envs
    S: int = 1  # critic gradient steps per update
    lr: float = 7e-4  # Adam learning rate of the policy (alpha)
    critic_lr: float = 7e-4  # Adam learning rate of V_hat_phi
    gamma: float = 0.99
    ent_coef: float = 0.0  # weight of the entropy bonus in the policy step
    norm_adv: bool = False  # normalise A_hat over each batch
    max_grad_norm: float | None = 0.5  # clip both gradients' norms (null: no clipping)
    shared: bool = False  # one MLP body under the policy and value heads
    normalize_obs: bool = False
    normalize_reward: bool = False
    hidden: list[int] = field(default_factory=lambda: [64, 64])
    activation: str = "tanh"
    init_log_std: float = 0.0  # Gaussian policies only


def _check_common(algo: PGConfig | ACConfig) -> None:
    """Checks pg and ac share: counts, learning rates, discount, clipping, network."""
    check_finite(algo, "algo.")
    for key in ("N", "S"):
        value = getattr(algo, key)
        _check(value > 0, f"algo.{key}", f"must be an integer > 0, got {value}")
    for key in ("lr", "critic_lr"):
        value = getattr(algo, key)
        _check(value > 0, f"algo.{key}", f"must be > 0, got {value}")
    _check(0 < algo.gamma <= 1, "algo.gamma", f"must be in (0, 1], got {algo.gamma}")
    _check(algo.ent_coef >= 0, "algo.ent_coef", f"must be >= 0, got {algo.ent_coef}")
    if algo.max_grad_norm is not None:
        _check(algo.max_grad_norm > 0, "algo.max_grad_norm", f"must be > 0 or null, got {algo.max_grad_norm}")
    _check(all(h > 0 for h in algo.hidden), "algo.hidden", f"sizes must be > 0, got {algo.hidden}")
    _check(algo.activation in ACTIVATIONS, "algo.activation", f"must be one of {', '.join(ACTIVATIONS)}")


def check_pg(algo: PGConfig, env: EnvConfig) -> None:
    _check_common(algo)
    baselines, targets = ("none", "mean", "value"), ("mc", "bootstrap")
    _check(algo.baseline in baselines, "algo.baseline", f"must be none, mean or value, got {algo.baseline!r}")
    target = algo.value_target
    _check(target in targets, "algo.value_target", f"must be mc or bootstrap, got {target!r}")
    if algo.gae_lambda is not None:
        lam = algo.gae_lambda
        _check(0 <= lam <= 1, "algo.gae_lambda", f"must be in [0, 1] or null, got {lam}")
        _check(algo.baseline == "value", "algo.gae_lambda", "needs algo.baseline=value (GAE needs V_hat)")
        _check(algo.reward_to_go, "algo.gae_lambda", "needs algo.reward_to_go=true (GAE sums from t on)")


def check_ac(algo: ACConfig, env: EnvConfig) -> None:
    _check_common(algo)
    _check(
        algo.N % env.num_envs == 0,
        "algo.N",
        f"must be a multiple of env.num_envs={env.num_envs} (each env steps N/num_envs times), got {algo.N}",
    )
    steps = algo.N // env.num_envs
    _check(
        1 <= algo.n_steps <= steps,
        "algo.n_steps",
        f"must be in [1, algo.N/env.num_envs={steps}] (targets look ahead within a batch), "
        f"got {algo.n_steps}",
    )


ALGO_SCHEMAS.update({"pg": PGConfig, "ac": ACConfig})
ALGO_CHECKS.update({"pg": check_pg, "ac": check_ac})


def parse_config(cfg: DictConfig) -> RunConfig:
    """The composed config as dataclasses, range- and compatibility-checked (ConfigError if not)."""
    missing = [k for k in ("algo", "env", "device") if cfg.get(k) is None]
    if missing:
        raise ConfigError(missing[0], "choose an option for this group")
    name = cfg.algo.get("name")
    if name not in ALGO_SCHEMAS:
        raise ConfigError("algo.name", f"must be one of {', '.join(ALGO_SCHEMAS)}, got {name!r}")
    env_id = None if OmegaConf.is_missing(cfg.env, "id") else cfg.env.get("id")
    env_schema = ENV_SCHEMAS.get(env_id, EnvConfig)  # tabular envs have keys of their own
    groups = {"algo": ALGO_SCHEMAS[name], "env": env_schema, "device": DeviceConfig}
    parsed = {key: to_dataclass(schema, cfg[key], key) for key, schema in groups.items()}
    run = to_dataclass(RunConfig, OmegaConf.masked_copy(cfg, [k for k in cfg if k not in groups]), "")
    run.algo, run.env, run.device = parsed["algo"], parsed["env"], parsed["device"]
    check_run(run)
    check_env(run.env)
    check_tabular_env(run.env)
    ALGO_CHECKS[name](run.algo, run.env)
    return run
