"""`rlrun collect`: write a transitions dataset (the .npz format of rlrun/replay.py) for offline
fitted Q-iteration, from a run's checkpointed policy (epsilon-greedy around it) or a random one."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from rlrun.checkpoint import load_checkpoint
from rlrun.config import load_yaml, parse_config
from rlrun.device import resolve_device
from rlrun.envs.factory import make_envs
from rlrun.errors import ConfigError
from rlrun.replay import save_dataset
from rlrun.rollout import TransitionCollector
from rlrun.rundir import check_run_dir
from rlrun.schema import DeviceConfig, RunConfig


def compose_run(overrides: list[str]) -> RunConfig:
    """rlrun's config with these overrides (e.g. env=FrozenLake), as `rlrun train` would see it."""
    from hydra import compose, initialize_config_module

    from rlrun.config import register_configs

    register_configs()
    with initialize_config_module("rlrun.conf", version_base="1.3"):
        return parse_config(compose("config", overrides=overrides))


def collect(
    run_dir: str | Path | None,
    overrides: list[str],
    transitions: int,
    epsilon: float,
    out: str | Path,
    seed: int = 0,
    num_envs: int = 1,
    device: str = "auto",
) -> Path:
    if transitions <= 0:
        raise ConfigError("transitions", f"must be > 0, got {transitions}")
    if not 0 <= epsilon <= 1:
        raise ConfigError("epsilon", f"must be in [0, 1], got {epsilon}")
    if num_envs <= 0 or transitions % num_envs:
        raise ConfigError("num_envs", f"must be > 0 and divide transitions={transitions}, got {num_envs}")
    torch_device = resolve_device(DeviceConfig(type=device))
    torch.manual_seed(seed)
    policy = None
    if run_dir is not None:
        from rlrun.runner import make_algorithm

        run_dir = check_run_dir(run_dir)
        run = parse_config(load_yaml(run_dir / ".hydra" / "config.yaml"))
        state = load_checkpoint(run_dir, map_location=torch_device)
    else:
        run = compose_run(overrides)
        epsilon = 1.0  # no policy: every action uniformly random
    envs = make_envs(run.env, num_envs, torch_device)
    try:
        if not hasattr(envs.single_action_space, "n"):
            raise ConfigError(
                "env",
                f"collect writes datasets for Discrete actions; {run.env.id} has {envs.single_action_space}",
            )
        if run_dir is not None:
            algo = make_algorithm(run, envs, torch_device)
            algo.load_state_dict(state["algo"])
            policy = algo.policy()
            policy.eval()
        collector = TransitionCollector(envs, torch_device, seed)
        data = collector.collect(policy, transitions // num_envs, epsilon)
        episodes = collector.pop_episodes()
    finally:
        envs.close()
    path = save_dataset(out, data)
    returns = [r for r, _ in episodes]
    source = f"{run.algo.name} policy of {run_dir}" if run_dir is not None else "a uniformly random policy"
    mean = (
        f"{np.mean(returns):.2f} over {len(returns)} finished episodes" if returns else "no finished episode"
    )
    print(
        f"rlrun collect: {transitions} transitions of {run.env.id} with {source}, epsilon {epsilon}: "
        f"episode return {mean} -> {path}"
    )
    return path
