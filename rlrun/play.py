"""`rlrun eval RUN_DIR`: load a run's config and checkpoint, play deterministic episodes."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
from hydra.core.override_parser.overrides_parser import OverridesParser
from omegaconf import OmegaConf

from rlrun.checkpoint import CHECKPOINT, load_checkpoint
from rlrun.config import TABULAR_ALGOS, DeviceConfig, parse_config
from rlrun.device import resolve_device
from rlrun.errors import ConfigError
from rlrun.evaluate import Evaluator
from rlrun.extras import missing_extra
from rlrun.runner import make_algorithm

CONFIG = Path(".hydra") / "config.yaml"


def check_run_dir(run_dir: str | Path) -> Path:
    """A run dir with a config and a checkpoint, or a ConfigError saying what is missing."""
    run_dir = Path(run_dir)
    if not (run_dir / CONFIG).is_file() or not (run_dir / CHECKPOINT).is_file():
        raise ConfigError(
            "RUN_DIR",
            f"{run_dir} is not a finished or checkpointed run dir (needs {CONFIG} and {CHECKPOINT})",
        )
    return run_dir


def evaluate_run(
    run_dir: str | Path,
    episodes: int = 10,
    video: bool = False,
    device: str = "auto",
    seed: int | None = None,
    env_overrides: list[str] | None = None,
) -> np.ndarray:
    """Play `episodes` deterministic episodes of a run's policy; `env_overrides` (Hydra override
    syntax, env keys only) change its env first, e.g. env.kwargs.length=0.8."""
    run_dir = check_run_dir(run_dir)
    if episodes <= 0:
        raise ConfigError("episodes", f"must be > 0, got {episodes}")
    if video and importlib.util.find_spec("moviepy") is None:
        raise ConfigError("video", missing_extra("video", "video=true (moviepy)"))
    cfg = OmegaConf.load(run_dir / CONFIG)
    for override in OverridesParser.create().parse_overrides(env_overrides or []):
        if override.key_or_group == "env":
            raise ConfigError("env", "eval keeps the run's env; change its keys instead (env.KEY=VALUE)")
        OmegaConf.update(cfg, override.key_or_group, override.value(), merge=True, force_add=True)
        name = override.key_or_group.removeprefix("env.kwargs.")
        if name != override.key_or_group and name in cfg.env.get("randomize", {}):
            del cfg.env.randomize[name]  # a fixed value replaces the range the run was trained on
    run = parse_config(cfg)
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
        algo = make_algorithm(run, None if run.algo.name in TABULAR_ALGOS else evaluator.envs, torch_device)
        algo.load_state_dict(state["algo"])
        returns = evaluator(algo.policy(), torch_device, deterministic=True)
    finally:
        evaluator.close()
    print(
        f"rlrun eval: {run.algo.name} on {run.env.id}, step {state['algo']['env_steps']}: return "
        f"{returns.mean():.2f} +- {returns.std():.2f} over {episodes} episodes"
    )
    if video_dir is not None:
        for path in sorted(video_dir.glob("*.mp4")):
            print(f"rlrun eval: video {path}")
    return returns
