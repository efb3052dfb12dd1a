"""gymnasium environments: a checked id, vector envs for training and evaluation."""

from __future__ import annotations

import difflib
import functools
import importlib
import inspect
import os
import signal
import sys
from collections.abc import Callable
from typing import Any

import gymnasium as gym
from gymnasium.vector.async_vector_env import _async_worker

from rlrun.errors import ConfigError, first_line
from rlrun.extras import ATARI_NAMESPACE, env_extra, missing_extra
from rlrun.schema import TORCH_ENV_IDS, EnvConfig
from rlrun.schema_atari import AtariEnvConfig


def resolve_env_id(env: EnvConfig) -> str:
    """Check that env.id is registered (importing `module:` first); return the id to make."""
    env_id = env.id
    if ":" in env_id:
        module, env_id = env_id.split(":", 1)
        import_user_module(module)
    if env_id.startswith(ATARI_NAMESPACE):  # (also quiets the emulator where ale_py was imported before)
        register_atari(env_id)
    if env_id not in gym.registry:
        close = difflib.get_close_matches(env_id, list(gym.registry), n=3, cutoff=0.6)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise ConfigError(
            "env.id",
            f"{env_id!r} is not a registered gymnasium id (see gymnasium.pprint_registry()){hint}",
        )
    return env_id


def import_user_module(module: str) -> None:
    """Import the module of `env.id=module:Id`, from the working directory too, as `python -m`
    would: a console script's sys.path starts at its own folder, not the user's."""
    try:
        importlib.import_module(module)
        return
    except ModuleNotFoundError as err:
        cwd = os.getcwd()
        top = module.split(".")[0]
        if err.name != top or cwd in sys.path:
            raise ConfigError("env.id", f"cannot import module {module!r}: {err}") from None
    sys.path.insert(0, cwd)
    try:
        importlib.import_module(module)
    except ImportError as err:
        sys.path.remove(cwd)
        raise ConfigError(
            "env.id", f"cannot import module {module!r} (looked in sys.path and {cwd}): {err}"
        ) from None


def register_atari(env_id: str) -> None:
    """ale_py registers the ALE/ ids when it is imported; gymnasium does not import it itself."""
    try:
        import ale_py
    except ImportError:
        raise ConfigError("env.id", missing_extra("atari", env_id)) from None
    # the emulator prints a banner on every ROM load (every env, every worker): errors only
    ale_py.ALEInterface.setLoggerMode(ale_py.LoggerMode.Error)
    gym.register_envs(ale_py)


def make_env(env: EnvConfig, render_mode: str | None = None, training: bool = True) -> gym.Env:
    """One env of a config; an Atari game with its preprocessing (`training`: with the learner's
    life-loss episodes and clipped rewards, see rlrun.envs.atari)."""
    made = _make_raw(env, render_mode)
    if isinstance(env, AtariEnvConfig):
        from rlrun.envs.atari import wrap_atari

        return wrap_atari(made, env, training)
    return made


def _make_raw(env: EnvConfig, render_mode: str | None) -> gym.Env:
    env_id = resolve_env_id(env)
    kwargs = env.make_kwargs()
    if render_mode is not None:
        kwargs["render_mode"] = render_mode
    if env.max_episode_steps is not None:
        kwargs["max_episode_steps"] = env.max_episode_steps
    check_kwarg_types(env_id, env.kwargs)
    try:
        return gym.make(env_id, **kwargs)
    except (gym.error.DependencyNotInstalled, ImportError) as err:  # e.g. box2d or mujoco missing
        raise missing_dependency(env_id, err) from None
    except (TypeError, ValueError) as err:
        raise refused_kwargs(env, env_id, err) from None
    except gym.error.Error as err:
        raise ConfigError("env.id", f"gymnasium cannot make {env_id!r}: {err}") from None


def missing_dependency(env_id: str, err: Exception) -> ConfigError:
    """Name the extra that brings what `env_id` needs, or gymnasium's own words."""
    extra = env_extra(gym.spec(env_id).entry_point)
    if extra is None:
        return ConfigError("env.id", f"{env_id!r} needs a package that is missing: {first_line(err)}")
    return ConfigError("env.id", missing_extra(extra, env_id))


def refused_kwargs(env: EnvConfig, env_id: str, err: Exception) -> ConfigError:
    """gymnasium.make refused env.kwargs: say which names this backend takes and, where the torch
    backend has a parameter the gymnasium env lacks (shifted dynamics), say so."""
    accepted = constructor_arguments(env_id)
    unknown = [name for name in env.kwargs if accepted is not None and name not in accepted]
    if not unknown:
        return ConfigError("env.kwargs", f"gymnasium.make({env_id!r}) refused them: {first_line(err)}")
    name = unknown[0]
    takes = ", ".join(accepted) or "no parameters"
    message = f"{env_id} on the gymnasium backend has no parameter {name!r} (it takes: {takes})"
    if env_id in TORCH_ENV_IDS:
        from rlrun.envs.torch_envs import TORCH_ENVS

        torch_params = list(TORCH_ENVS[env_id].default_params)
        if name in torch_params:
            params = ", ".join(torch_params)
            message += f"; the torch backend has it: add env.backend=torch (parameters: {params})"
    return ConfigError(f"env.kwargs.{name}", message)


def constructor_parameters(env_id: str) -> dict[str, inspect.Parameter] | None:
    """The parameters of the env's class (None where they cannot be read)."""
    try:
        entry = gym.spec(env_id).entry_point
        creator = gym.envs.registration.load_env_creator(entry) if isinstance(entry, str) else entry
        return dict(inspect.signature(creator).parameters)
    except (ImportError, AttributeError, TypeError, ValueError, gym.error.Error):
        return None


def constructor_arguments(env_id: str) -> list[str] | None:
    """The keyword arguments the env's class takes (None where they cannot be read)."""
    parameters = constructor_parameters(env_id)
    if parameters is None or any(p.kind is p.VAR_KEYWORD for p in parameters.values()):
        return None
    return [name for name, p in parameters.items() if name != "self" and p.kind is not p.VAR_POSITIONAL]


def check_kwarg_types(env_id: str, kwargs: dict[str, Any]) -> None:
    """A keyword argument whose default in the env's constructor is a number, a bool or a string
    must be one too: a wrong type would otherwise fail deep inside a step."""
    parameters = constructor_parameters(env_id) or {}
    kinds = {bool: (bool,), int: (int, float), float: (int, float), str: (str,)}
    for name, value in kwargs.items():
        default = parameters[name].default if name in parameters else None
        allowed = kinds.get(type(default))
        if allowed and (not isinstance(value, allowed) or (isinstance(value, bool) and bool not in allowed)):
            kind = "true or false" if bool in allowed else "a number" if int in allowed else "a string"
            raise ConfigError(
                f"env.kwargs.{name}", f"must be {kind} (its default is {default!r}), got {value!r}"
            )


def make_vector_env(
    env: EnvConfig,
    num_envs: int,
    vector: str = "sync",
    wrap_first: Callable[[gym.Env], gym.Env] | None = None,
    training: bool = True,
) -> gym.vector.VectorEnv:
    """A vector env in SAME_STEP autoreset mode, with episode statistics.

    SAME_STEP returns the true final observation in info["final_obs"] when an episode ends,
    which is what bootstrapping a truncated episode needs. `wrap_first` wraps sub-env 0
    (evaluation uses it to record a video). `training` false: an Atari game as it is scored (no
    life-loss episodes, no reward clipping), for evaluation.
    """
    make_env(env, training=training).close()  # fail here, with a clear message, rather than inside a worker

    # partials of module-level functions (not closures), so a sync vector env can be pickled
    # whole into a checkpoint and a resumed run continues every episode exactly
    make = functools.partial(make_env, env, training=training)
    fns: list[Callable[[], gym.Env]] = [make for _ in range(num_envs)]
    if wrap_first is not None:
        fns[0] = functools.partial(_make_wrapped, env, wrap_first, training)
    mode = gym.vector.AutoresetMode.SAME_STEP
    if vector == "async":
        envs = gym.vector.AsyncVectorEnv(fns, autoreset_mode=mode, worker=_quiet_worker)
    else:
        envs = gym.vector.SyncVectorEnv(fns, autoreset_mode=mode)
    if isinstance(env, AtariEnvConfig):
        from rlrun.envs.atari import GameEpisodes

        # (a copy: the vector env shares the env class's metadata dict) fqi's replay store reads it
        envs.metadata = {**envs.metadata, "frame_stack": env.frame_stack}
        return GameEpisodes(envs)  # whole games, unclipped
    return gym.wrappers.vector.RecordEpisodeStatistics(envs)


def _quiet_worker(*args: Any) -> None:
    """gymnasium's async worker, deaf to Ctrl-C: the terminal sends SIGINT to the whole process
    group, and the main process stops the run (with a checkpoint) and closes its envs itself."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _async_worker(*args)


def _make_wrapped(env: EnvConfig, wrap: Callable[[gym.Env], gym.Env], training: bool = True) -> gym.Env:
    return wrap(make_env(env, render_mode="rgb_array", training=training))


def check_spaces(envs: gym.vector.VectorEnv, algo: str) -> None:
    """Refuse spaces the policy networks cannot handle, naming what is allowed."""
    obs, act = envs.single_observation_space, envs.single_action_space
    if not isinstance(obs, gym.spaces.Box | gym.spaces.Discrete):
        raise ConfigError(
            "env.id", f"algo={algo} needs a Box or Discrete observation space, this env has {obs}"
        )
    if not isinstance(act, gym.spaces.Box | gym.spaces.Discrete):
        raise ConfigError("env.id", f"algo={algo} needs a Discrete or Box action space, this env has {act}")
    if algo == "fqi" and not isinstance(act, gym.spaces.Discrete):
        raise ConfigError(
            "env.id",
            f"algo=fqi takes max_a Q(s, a) over a finite set of actions; this env's actions are {act}: "
            "choose an env with Discrete actions (CartPole, Acrobot, MountainCar, FrozenLake, ...)",
        )
