"""Optional dependencies (the extras of pyproject.toml): which extra brings which option or
environment, and the pip command that installs it where rlrun runs from.

Plain Python, no Hydra: the error messages of the CLI, the gymnasium env maker and `rlrun eval`
all name a missing extra the same way.
"""

from __future__ import annotations

import shlex
from pathlib import Path

# what each extra brings (the README's table of extras says the same)
EXTRAS = {
    "video": "moviepy, for rlrun eval RUN_DIR video=true",
    "sweep": "Hydra's joblib and submitit launchers and the Optuna sweeper",
    "ray": "Hydra's Ray launcher (large; it pins cloudpickle<3)",
    "box2d": "gymnasium's Box2D envs: LunarLander-v3, BipedalWalker-v3, CarRacing-v3",
    "mujoco": "gymnasium's MuJoCo envs: HalfCheetah-v5, Hopper-v5, Ant-v5, ...",
    "atari": "the Arcade Learning Environment: ALE/Breakout-v5, ALE/Pong-v5, ...",
    "envpool": "env.backend=envpool: Atari games stepped by envpool's C++ threads (and the atari extra)",
    "bench": "the baselines of scripts/bench*.py: Stable-Baselines3 and pymdptoolbox",
    "test": "pytest, ruff and the plugins the tests use",
}

# options of Hydra's config groups that come with a plugin, and the extra that installs it
HYDRA_PLUGIN_OPTIONS = {
    "hydra/launcher": {
        "joblib": "sweep",
        "submitit_local": "sweep",
        "submitit_slurm": "sweep",
        "ray": "ray",
        "ray_aws": "ray",
    },
    "hydra/sweeper": {"optuna": "sweep"},
}

# gymnasium env families by the module of their entry point, and the extra that makes them work
ENV_MODULE_EXTRAS = {
    "gymnasium.envs.box2d": "box2d",
    "gymnasium.envs.mujoco": "mujoco",
    "ale_py": "atari",
}
ATARI_NAMESPACE = "ALE/"  # ale_py registers its ids on import


def source_root() -> Path | None:
    """The clone rlrun runs from (an editable install: pyproject.toml beside the package), or None
    for a copy installed into site-packages."""
    root = Path(__file__).resolve().parent.parent
    pyproject = root / "pyproject.toml"
    if pyproject.is_file() and 'name = "rlrun"' in pyproject.read_text():
        return root
    return None


def install_command(extra: str) -> str:
    """The command that installs `extra` into this environment: from the clone rlrun runs from
    (with a `cd` there when the working directory is elsewhere)."""
    command = f'pip install -e ".[{extra}]"'
    root = source_root()
    if root is None:
        return f"{command} (in your rlrun clone)"
    if Path.cwd().resolve() != root:
        return f"cd {shlex.quote(str(root))} && {command}"
    return command


def missing_extra(extra: str, what: str) -> str:
    """The end of a one-line error: `what` comes with `extra`, and how to install it."""
    return f"{what} needs the '{extra}' extra, which is not installed; install it: {install_command(extra)}"


def env_extra(entry_point: object) -> str | None:
    """The extra behind a gymnasium entry point ('gymnasium.envs.box2d.lunar_lander:...'), if any."""
    module = entry_point if isinstance(entry_point, str) else getattr(entry_point, "__module__", "")
    for prefix, extra in ENV_MODULE_EXTRAS.items():
        if module == prefix or module.startswith(prefix + ".") or module.startswith(prefix + ":"):
            return extra
    return None
