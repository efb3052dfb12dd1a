"""The `tuned` config group: shipped hyperparameters per algorithm and env (tuned/<algo>_<env>),
chosen for you; `tuned=none` turns them off. Hydra would skip an unknown name silently (the group
is optional, so that pairs without tuned settings compose) and fail deep in composition on
settings of another algorithm; these checks name the problem in one line instead.
"""

from __future__ import annotations

from importlib import resources

from rlrun.errors import ConfigError

TUNED_OFF = "none"


def shipped_options() -> list[str]:
    """The tuned settings shipped in rlrun's config tree (tuned/<algo>_<env>.yaml)."""
    folder = resources.files("rlrun.conf") / "tuned"
    return sorted(p.name.removesuffix(".yaml") for p in folder.iterdir() if p.name.endswith(".yaml"))


def default_choice(group: str) -> str:
    """The option of `group` that rlrun's config.yaml chooses when the command line does not."""
    import yaml  # hydra's own dependency

    config = yaml.safe_load((resources.files("rlrun.conf") / "config.yaml").read_text())
    for entry in config["defaults"]:
        if isinstance(entry, dict) and group in entry:
            return str(entry[group])
    return ""


def algo_of(option: str) -> str:
    return option.split("_", 1)[0]


def problem(message: str, algo: str, env: str, options: list[str]) -> ConfigError:
    """One line: the problem, then the options that exist for this algo and env."""
    same = [o for o in options if algo_of(o) == algo and o != TUNED_OFF]
    if not same:
        none = f"no tuned settings are shipped for algo={algo}: leave tuned out, or tuned=none"
        return ConfigError("tuned", f"{message}; {none}")
    default = f"{algo}_{env}" if f"{algo}_{env}" in options else TUNED_OFF
    return ConfigError(
        "tuned",
        f"{message}; options for algo={algo}: {', '.join(same)}, or none to train without tuned "
        f"settings (default for env={env}: {default})",
    )


def check_tuned_overrides(args: list[str]) -> None:
    """Before Hydra composes: `tuned=null` (Hydra: 'must be a string') and shipped settings of
    another algorithm (Hydra: a ConfigKeyError deep in composition)."""
    algos = [default_choice("algo")]
    env = default_choice("env")
    tuned: list[str] = []
    for arg in args:
        key, _, value = arg.partition("=")
        values = value.split(",") if "(" not in value else []  # sweep functions: left to Hydra
        if key == "algo" and values:
            algos = values
        elif key == "env" and len(values) == 1:
            env = values[0]
        elif key == "tuned":
            tuned = [v.strip() for v in value.split(",")] if "(" not in value else []
    options = shipped_options()
    for name in tuned:
        if name in ("", "null", "None"):
            raise problem(f"{name or 'an empty value'} is not an option", algos[0], env, options)
        wrong = [a for a in algos if name in options and name != TUNED_OFF and algo_of(name) != a]
        if wrong:
            message = f"{name} holds settings for algo={algo_of(name)}, not algo={wrong[0]}"
            raise problem(message, wrong[0], env, options)


def check_tuned_choice(choices: dict[str, str | None], options: list[str]) -> None:
    """After Hydra composed the config: the tuned option it chose exists (or is the default for a
    pair without tuned settings, or none) and belongs to the algorithm. `options`: the group's
    options in every config source (a --config-dir may add some)."""
    tuned, algo, env = choices.get("tuned"), str(choices.get("algo")), str(choices.get("env"))
    if tuned is None or tuned == TUNED_OFF or (tuned == f"{algo}_{env}" and tuned not in options):
        return
    if tuned not in options:
        raise problem(f"{tuned!r} is not an option", algo, env, options)
    if algo_of(tuned) != algo:
        message = f"{tuned} holds settings for algo={algo_of(tuned)}, not algo={algo}"
        raise problem(message, algo, env, options)
