"""Structured configs (one dataclass per config group) and the checks that run before training.
No torch here: mistakes are reported before torch is imported.

Hydra refuses unknown keys and wrong types through these schemas; `validate` then checks
ranges and compatibility and raises `ConfigError`, which the CLI prints as one line.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from omegaconf import MISSING, DictConfig, OmegaConf
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


ALGO_SCHEMAS: dict[str, type] = {"ppo": PPOConfig}
TABULAR_ALGOS = ("vi", "pi")  # they work on a tabular model, not a vector env

# ---------------------------------------------------------------------------- env


@dataclass
class EnvConfig:
    id: str = MISSING  # a registered gymnasium id, or "module:Id-v0" to import a module first
    num_envs: int = 1
    vector: str = "sync"  # sync | async
    backend: str = "gymnasium"
    max_episode_steps: int | None = None
    kwargs: dict[str, Any] = field(default_factory=dict)  # passed to gymnasium.make


# ---------------------------------------------------------------------------- device


@dataclass
class DeviceConfig:
    type: str = "auto"  # auto | cpu | cuda | cuda:<index>
    threads: int | None = None  # torch CPU threads (null: torch's default)


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


def register_configs() -> None:
    """Register the schemas in Hydra's ConfigStore at the root, so they are not listed as groups."""
    from hydra.core.config_store import ConfigStore

    cs = ConfigStore.instance()
    cs.store(name="_run_schema", node=RunConfig)
    cs.store(name="_env_schema", node=EnvConfig)
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
    _check(env.backend == "gymnasium", "env.backend", f"must be gymnasium, got {env.backend!r}")
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


ACTIVATIONS = ("tanh", "relu", "elu")
ALGO_CHECKS = {"ppo": check_ppo}

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
    groups = {"algo": ALGO_SCHEMAS[name], "env": EnvConfig, "device": DeviceConfig}
    parsed = {key: to_dataclass(schema, cfg[key], key) for key, schema in groups.items()}
    run = to_dataclass(RunConfig, OmegaConf.masked_copy(cfg, [k for k in cfg if k not in groups]), "")
    run.algo, run.env, run.device = parsed["algo"], parsed["env"], parsed["device"]
    check_run(run)
    check_env(run.env)
    ALGO_CHECKS[name](run.algo, run.env)
    return run
