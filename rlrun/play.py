"""`rlrun eval RUN_DIR`: load a run's config and checkpoint, play deterministic episodes."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
from hydra.core.override_parser.overrides_parser import OverridesParser
from omegaconf import OmegaConf

from rlrun.checkpoint import BEST, load_checkpoint
from rlrun.config import load_yaml, parse_config
from rlrun.device import resolve_device
from rlrun.envs.factory import make_envs
from rlrun.errors import ConfigError
from rlrun.evaluate import Evaluator
from rlrun.extras import missing_extra
from rlrun.robustness_map import Grid, Policy, format_table, robustness_map
from rlrun.rundir import CHECKPOINT, CONFIG, check_run_dir, read_summary
from rlrun.runner import make_algorithm
from rlrun.schema import DeviceConfig


def evaluate_run(
    run_dir: str | Path,
    episodes: int = 10,
    video: bool = False,
    device: str = "auto",
    seed: int | None = None,
    env_overrides: list[str] | None = None,
    checkpoint: str = "last",
) -> np.ndarray:
    """Play `episodes` deterministic episodes of a run's policy, the last one (checkpoint.pt) or the
    best evaluated one (best.pt); `env_overrides` (Hydra override syntax, env keys only) change its
    env first, e.g. env.kwargs.length=0.8."""
    run_dir = check_run_dir(run_dir)
    if checkpoint not in ("last", "best"):
        raise ConfigError("checkpoint", f"must be last or best, got {checkpoint!r}")
    if checkpoint == "best" and not (run_dir / BEST).is_file():
        raise ConfigError("checkpoint", f"{run_dir} holds no {BEST} (no evaluation has finished yet)")
    if episodes <= 0:
        raise ConfigError("episodes", f"must be > 0, got {episodes}")
    if video and importlib.util.find_spec("moviepy") is None:
        raise ConfigError("video", missing_extra("video", "video=true (moviepy)"))
    run = load_run_config(run_dir, env_overrides)
    torch_device = resolve_device(DeviceConfig(type=device))
    state = load_checkpoint(run_dir, map_location=torch_device)
    video_dir = run_dir / "videos" if video else None
    evaluator = Evaluator(
        run.env,
        episodes,
        seed=run.seed + 20_000 if seed is None else seed,
        device=torch_device,
        video_dir=video_dir,
    )
    try:
        algo = make_algorithm(run, evaluator.envs, torch_device)
        algo.load_state_dict(state["algo"])
        policy, step = algo.policy(), state["algo"]["env_steps"]
        if checkpoint == "best":
            best = load_checkpoint(run_dir, map_location=torch_device, name=BEST)
            policy.load_state_dict(best["policy"])
            step = best["env_steps"]
        returns = evaluator(policy, torch_device, deterministic=True)
    finally:
        evaluator.close()
    report(run, checkpoint, step, returns, episodes, video_dir)
    return returns


def load_run_config(run_dir: Path, env_overrides: list[str] | None) -> Any:
    """A run's config, with `env_overrides` (env.KEY=VALUE) applied."""
    cfg = load_yaml(run_dir / CONFIG)
    for override in OverridesParser.create().parse_overrides(env_overrides or []):
        if override.key_or_group == "env":
            raise ConfigError("env", "eval keeps the run's env; change its keys instead (env.KEY=VALUE)")
        OmegaConf.update(cfg, override.key_or_group, override.value(), merge=True, force_add=True)
        name = override.key_or_group.removeprefix("env.kwargs.")
        if name != override.key_or_group and name in cfg.env.get("randomize", {}):
            del cfg.env.randomize[name]  # a fixed value replaces the range the run was trained on
    return parse_config(cfg)


def report(run: Any, checkpoint: str, step: int, returns: np.ndarray, episodes: int, video_dir: Any) -> None:
    print(
        f"rlrun eval: {run.algo.name} on {run.env.id}, {checkpoint} policy (step {step}): return "
        f"{returns.mean():.2f} +- {returns.std():.2f} over {episodes} episodes"
    )
    if video_dir is not None:
        for path in sorted(video_dir.glob("*.mp4")):
            print(f"rlrun eval: video {path}")


def robustness_command(args: list[str]) -> None:
    """`rlrun eval RUN_DIR [RUN_DIR ...] grid.NAME=START:STOP:NUM ... [out=DIR] [episodes=N]
    [solved=R] [device=D]`: a robustness map of each run (rlrun.robustness_map)."""
    dirs = [a for a in args if "=" not in a or Path(a).is_dir()]
    overrides = [a for a in args if a.lstrip("+").startswith("env.")]  # the same env change for every run
    options = dict(a.split("=", 1) for a in args if a not in dirs and a not in overrides)
    grid = Grid.parse({k.removeprefix("grid."): v for k, v in options.items() if k.startswith("grid.")})
    rest = {k: v for k, v in options.items() if not k.startswith("grid.")}
    unknown = set(rest) - {"out", "episodes", "solved", "device", "checkpoint"}
    if unknown:
        raise ConfigError(
            sorted(unknown)[0], "eval with grid.* takes out, episodes, solved, device, checkpoint"
        )
    episodes = parse_number(rest, "episodes", int, 10)
    device = resolve_device(DeviceConfig(type=rest.get("device", "auto")))
    runs = [load_policy(d, device, rest.get("checkpoint", "last"), overrides) for d in dirs]
    names = [run.name for run in runs]
    for i, run in enumerate(runs):  # a name per run, for the csv and the plot's panels
        run.name += f" #{i + 1}" if names.count(run.name) > 1 else ""
    spec_threshold = gym.spec(runs[0].env.id).reward_threshold
    solved = parse_number(rest, "solved", float, spec_threshold)
    if solved is None:
        raise ConfigError("solved", f"{runs[0].env.id} has no reward threshold: give solved=RETURN")
    out = Path(rest.get("out", "robustness"))
    table = robustness_map(runs, grid, episodes, solved, out, device)
    print(
        f"rlrun eval: {len(grid.cells())} cells x {episodes} episodes per run; solved: return >= {solved:g}"
    )
    print(format_table(table))
    print(f"rlrun eval: wrote {out / 'robustness.csv'} and {out / 'robustness.png'}")


def parse_number(options: dict[str, str], key: str, kind: type, default: Any) -> Any:
    if key not in options:
        return default
    try:
        value = kind(options[key])
    except ValueError:
        raise ConfigError(key, f"must be a number, got {options[key]!r}") from None
    if key == "episodes" and value <= 0:
        raise ConfigError(key, f"must be > 0, got {value}")
    return value


def load_policy(
    run_dir: str, device: Any, checkpoint: str = "last", overrides: list[str] | None = None
) -> Policy:
    """A run's env config (with env overrides) and policy (its last or best checkpoint)."""
    path = check_run_dir(run_dir)
    run = load_run_config(path, overrides)
    state = load_checkpoint(path, map_location=device, name=BEST if checkpoint == "best" else CHECKPOINT)
    envs = make_envs(run.env, 1, device, with_adr=False)
    try:
        algo = make_algorithm(run, envs, device)
    finally:
        envs.close()
    if checkpoint == "best":
        algo.policy().load_state_dict(state["policy"])
    else:
        algo.load_state_dict(state["algo"])
    summary = read_summary(path) or {}
    return Policy(str(run_dir), run.env, algo.policy(), summary.get("adr_entropy"), run.seed)
