"""`rlrun eval RUN_DIR`: load a run's config and checkpoint, play deterministic episodes."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
from hydra.core.override_parser.overrides_parser import OverridesParser
from omegaconf import OmegaConf

from rlrun.checkpoint import BEST, load_checkpoint
from rlrun.config import load_yaml, parse_config
from rlrun.device import resolve_device
from rlrun.errors import ConfigError
from rlrun.evaluate import Evaluator
from rlrun.extras import missing_extra
from rlrun.rundir import CONFIG, check_run_dir
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
    cfg = load_yaml(run_dir / CONFIG)
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
    print(
        f"rlrun eval: {run.algo.name} on {run.env.id}, {checkpoint} policy (step {step}): return "
        f"{returns.mean():.2f} +- {returns.std():.2f} over {episodes} episodes"
    )
    if video_dir is not None:
        for path in sorted(video_dir.glob("*.mp4")):
            print(f"rlrun eval: video {path}")
    return returns
