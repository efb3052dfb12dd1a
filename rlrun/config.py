"""The Hydra/OmegaConf glue, at the edge: the schemas registered in Hydra's ConfigStore, a composed
config turned into the plain dataclasses of rlrun.schema (and checked), and Hydra's and OmegaConf's
errors told in one line. Only the CLI, the Hydra task and the commands import this module.

Hydra refuses unknown keys and wrong types through the schemas; the checks of rlrun.schema and of
each algorithm's SPEC then check ranges and compatibility and raise `ConfigError`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hydra.errors import HydraException, MissingConfigException
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import (
    ConfigAttributeError,
    ConfigKeyError,
    MissingMandatoryValue,
    OmegaConfBaseException,
    ValidationError,
)

from rlrun.algos import registry
from rlrun.errors import ConfigError, first_line
from rlrun.extras import HYDRA_PLUGIN_OPTIONS, missing_extra
from rlrun.rewards.schema import RewardConfig, check_reward, check_reward_run
from rlrun.rundir import reserve_new_dir, run_name
from rlrun.schema import (
    DeviceConfig,
    EnvConfig,
    FrozenLakeEnvConfig,
    GridWorldEnvConfig,
    RandomMDPEnvConfig,
    RunConfig,
    check_env,
    check_run,
    env_schema,
)
from rlrun.schema_atari import AtariEnvConfig


def register_configs() -> None:
    """Register the schemas in Hydra's ConfigStore at the root, so they are not listed as groups,
    and the resolvers that name a run's default dir."""
    from hydra.core.config_store import ConfigStore

    OmegaConf.register_new_resolver("rlrun.run_name", run_name, replace=True)
    OmegaConf.register_new_resolver("rlrun.new_dir", reserve_new_dir, replace=True)

    cs = ConfigStore.instance()
    cs.store(name="_run_schema", node=RunConfig)
    cs.store(name="_env_schema", node=EnvConfig)
    cs.store(name="_frozenlake_env_schema", node=FrozenLakeEnvConfig)
    cs.store(name="_randommdp_env_schema", node=RandomMDPEnvConfig)
    cs.store(name="_gridworld_env_schema", node=GridWorldEnvConfig)
    cs.store(name="_atari_env_schema", node=AtariEnvConfig)
    cs.store(name="_device_schema", node=DeviceConfig)
    cs.store(name="_reward_schema", node=RewardConfig)
    for name, spec in registry().items():
        cs.store(name=f"_{name}_schema", node=spec.config)


def load_yaml(path: str | Path) -> Any:
    """A run's yaml file (its config, its overrides); one that is not readable yaml is a ConfigError
    naming the file."""
    try:
        return OmegaConf.load(path)
    except Exception as err:
        raise ConfigError(str(path), f"is not a readable config file: {first_line(err)}") from None


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


def parse_config(cfg: DictConfig) -> RunConfig:
    """The composed config as dataclasses, range- and compatibility-checked (ConfigError if not)."""
    missing = [k for k in ("algo", "env", "device") if cfg.get(k) is None]
    if missing:
        raise ConfigError(missing[0], "choose an option for this group")
    algos = registry()
    name = cfg.algo.get("name")
    if name not in algos:
        raise ConfigError("algo.name", f"must be one of {', '.join(algos)}, got {name!r}")
    env_id = None if OmegaConf.is_missing(cfg.env, "id") else cfg.env.get("id")
    if "frame_stack" in cfg.env and env_schema(env_id) is not AtariEnvConfig:  # env=Atari, another id
        raise ConfigError("env.id", f"env=Atari takes ALE/<Game>-v5 ids (ALE/Pong-v5, ...), got {env_id!r}")
    groups = {"algo": algos[name].config, "env": env_schema(env_id), "device": DeviceConfig}
    if cfg.get("reward") is not None:  # (run dirs from before the reward group have none)
        groups["reward"] = RewardConfig
    parsed = {key: to_dataclass(schema, cfg[key], key) for key, schema in groups.items()}
    run = to_dataclass(RunConfig, OmegaConf.masked_copy(cfg, [k for k in cfg if k not in groups]), "")
    run.algo, run.env, run.device = parsed["algo"], parsed["env"], parsed["device"]
    run.reward = parsed.get("reward", RewardConfig())
    check_run(run)
    check_reward(run.reward)
    check_reward_run(run.reward, run.algo)
    check_env(run.env)
    algos[name].check(run.algo, run.env)
    return run


def is_user_error(err: BaseException) -> bool:
    """Errors in the config or the command line, as opposed to failures while running."""

    return isinstance(err, ConfigError | HydraException | OmegaConfBaseException)


def describe_error(err: BaseException) -> str:
    """One line for an exception raised by Hydra, OmegaConf or our checks: the key, what is allowed."""

    if isinstance(err, ConfigError):
        return str(err)
    if isinstance(err, OSError) and err.filename:  # e.g. an output dir that cannot be made
        return f"{err.filename}: {err.strerror}"
    if isinstance(err, MissingConfigException):
        missing = err.missing_cfg_file or ""
        group, _, option = missing.rpartition("/")
        options = ", ".join(err.options) if err.options else "(none)"
        extra = HYDRA_PLUGIN_OPTIONS.get(group, {}).get(option)
        if extra is not None and option not in (err.options or []):
            return f"{group}={option}: {missing_extra(extra, 'this option')} (installed: {options})"
        if group:
            return f"{group}={option}: no such option; choose one of: {options}"
        return first_line(err)
    cause = err.__cause__ if isinstance(err.__cause__, OmegaConfBaseException) else err
    if isinstance(cause, OmegaConfBaseException):
        key = getattr(cause, "full_key", None) or "?"
        if isinstance(cause, ConfigKeyError | ConfigAttributeError):
            schema = getattr(cause, "object_type", None)
            fields = getattr(schema, "__dataclass_fields__", None)
            allowed = f"; allowed: {', '.join(fields)}" if fields else f"; to add it: +{key}=..."
            return f"{key}: unknown key{allowed}"
        if isinstance(cause, MissingMandatoryValue):
            return f"{key}: a value is required here"
        return f"{key}: {first_line(cause)}"
    return first_line(err)
