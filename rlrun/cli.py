"""`rlrun train | eval`: argv in, Hydra (or the evaluator) out, and one-line errors for user mistakes."""

from __future__ import annotations

import functools
import logging
import multiprocessing
import os
import sys
from collections.abc import Callable
from pathlib import Path

from rlrun.config import describe_error, is_user_error, load_yaml
from rlrun.errors import ConfigError, Interrupted
from rlrun.stops import LAUNCHER_PID, SignalCatcher
from rlrun.tuned import check_tuned_overrides

USAGE = """\
usage: rlrun <command> [args]      (rlrun <command> --help: its usage and keys; rlrun --version)

commands:
  train [KEY=VALUE ...]      train one run (Hydra overrides; `rlrun train --help` lists them)
  train -m [KEY=A,B ...]     a Hydra multirun sweep over the given values
  eval RUN_DIR [episodes=N] [video=true] [device=auto|cpu|cuda|cuda:N] [seed=S]
             [checkpoint=last|best] [env.KEY=VALUE ...]
                             play a trained run's policy (the last, or the best evaluated one);
                             print mean and std of the return
                             (env.KEY=VALUE: on changed dynamics, e.g. env.kwargs.length=0.8)
  summarize DIR              a table of the runs below DIR (status, steps, wall time, return),
                             then mean, IQM and 95% bootstrap CI over seeds; also as CSV
  collect [RUN_DIR | env=NAME ...] transitions=N [epsilon=E] [out=FILE] [seed=S] [num_envs=E]
                             write a transitions dataset (.npz) for offline fqi, from a run's
                             policy (epsilon-greedy around it) or a random policy
  plot DIR... [tag=T] [group=KEY] [panel=KEY] [smooth=W] [band=ci|std] [out=PNG]
                             learning curves from TensorBoard: mean and band per group of runs,
                             one panel per env (default groups: runs that differ only by seed)

examples:
  rlrun train algo=ppo env=CartPole
  rlrun eval outputs/2026-11-25/12-00-00-ppo-CartPole-s0 episodes=20 video=true
  rlrun plot outputs/multirun/2026-11-25/12-00-00 group=algo out=curves.png
  tensorboard --logdir outputs
"""

# `rlrun COMMAND --help` (train's comes from Hydra: its config groups and every key)
COMMAND_HELP = {
    "eval": """\
usage: rlrun eval RUN_DIR [KEY=VALUE ...]

Play a run's policy (its checkpoint.pt) for deterministic episodes, each in its own environment;
print the mean and std of the return. RUN_DIR is a run dir, or a sweep's job dir.

keys:
  episodes=N            episodes to play (default 10)
  video=true            record the first episode to RUN_DIR/videos/ (needs the 'video' extra)
  device=D              auto (default: CUDA if available), cpu, cuda, or cuda:N for GPU N
  seed=S                seed of the episodes (default: the run's seed + 20000)
  checkpoint=last|best  the last policy (checkpoint.pt, default) or the best evaluated (best.pt)
  env.KEY=VALUE         play on a changed env: the run's env with this key changed, e.g.
                        env.kwargs.length=1.5 (a longer pole; the torch backend's parameters,
                        add env.backend=torch to a gymnasium run), env.max_episode_steps=1000
  grid.NAME=A:B:N       a robustness map of one or more RUN_DIRs on a grid (N values from A to B;
                        one or two names): writes out=DIR (robustness/) robustness.csv and .png
                        and a table; solved=R (default: the env's reward threshold) counts cells;
                        env.KEY=VALUE applies to every run (env.obs_noise.uncorrelated=0)

example:
  rlrun eval outputs/2026-11-25/12-00-00-ppo-CartPole-s0 episodes=20 env.backend=torch env.kwargs.length=1.5
""",
    "summarize": """\
usage: rlrun summarize DIR

One row per run below DIR (its overrides; status done, failed with its one-line error, or
unfinished; env steps, wall time, final evaluation return), then one row per configuration over
its seeds: mean, interquartile mean and 95% bootstrap CI. Both tables are also written as
DIR/summary_jobs.csv and DIR/summary_configs.csv. No keys.
""",
    "plot": """\
usage: rlrun plot DIR... [KEY=VALUE ...]

Learning curves read from the TensorBoard files of every run below the DIRs: per group of runs
the mean and a band, against environment steps (iterations for vi and pi), one panel per env.
Writes a PNG and a CSV of the numbers behind it.

keys:
  tag=T                 the scalar to plot (default eval/return_mean; e.g. charts/episodic_return)
  group=KEY             what makes a group: a config group (algo, env) or a key (algo.lr);
                        default: the runs that differ only by seed
  panel=KEY             one panel per value of KEY (default env; panel=none: one panel)
  smooth=W              TensorBoard's moving average, W in [0, 1) (default 0)
  band=ci|std           95% bootstrap CI of the mean (default) or one standard deviation
  out=PNG               the figure's path (default DIR/plot_<tag>.png; the CSV beside it)
""",
    "collect": """\
usage: rlrun collect RUN_DIR [KEY=VALUE ...]
       rlrun collect env=NAME [env.KEY=VALUE ...] [KEY=VALUE ...]

Write a dataset of transitions (.npz, the format `algo.dataset=` reads) for offline fqi: from a
run's policy, epsilon-greedy around its greedy action, or from a uniformly random policy.

keys:
  transitions=N         how many transitions to write (required)
  epsilon=E             probability of a random action (default 0; a random policy: 1)
  out=FILE              the file to write (default dataset.npz)
  seed=S                seed of the episodes and the random actions (default 0)
  num_envs=E            environments stepped together (must divide N; default 1)
  device=D              auto, cpu, cuda or cuda:N
""",
}


class UsageError(Exception):
    pass


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] in (["-V"], ["--version"], ["version"]):
        print(version_line())
        return 0
    if argv[:1] == ["help"] and argv[1:2] and argv[1] in COMMAND_HELP:
        argv = [argv[1], "--help"]
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(USAGE, end="")
        return 0
    command, rest = argv[0], argv[1:]
    if command in COMMAND_HELP and any(arg in ("-h", "--help") for arg in rest):
        print(COMMAND_HELP[command], end="")
        return 0
    commands = {
        "train": train_command,
        "eval": eval_command,
        "summarize": summarize_command,
        "plot": plot_command,
        "collect": collect_command,
    }
    if command not in commands:
        return fail(f"unknown command {command!r}; choose one of: {', '.join(commands)}", 2)
    return commands[command](rest)


def version_line() -> str:
    """`rlrun --version`: the installed distribution's version, and where rlrun runs from."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        number = version("rlrun")
    except PackageNotFoundError:  # run from a source tree that was never installed
        number = "(not installed)"
    where = os.path.dirname(os.path.abspath(__file__))
    return f"rlrun {number} (Python {sys.version.split()[0]}, {where})"


def entry() -> None:
    """The console script: main(), then exit.

    Python's own teardown of a process that imported torch takes 0.5-0.6 s here (measured: `import
    torch` then exit), longer than some whole trainings. After a single command, once every log,
    checkpoint and summary is written and closed and no child process is left, there is nothing
    for it to do, so the process ends at once. A sweep exits normally: its launcher's workers are
    cleaned up by Python's exit handlers, and so does a process under a profiler or a coverage
    tracer, which writes its data at exit."""
    argv = sys.argv[1:]
    code = main(argv)
    multirun = is_multirun(argv)
    observed = sys.getprofile() is not None or sys.gettrace() is not None
    if multirun or observed or multiprocessing.active_children():
        sys.exit(code)
    logging.shutdown()  # flushes Hydra's job log
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def is_multirun(args: list[str]) -> bool:
    """Whether the arguments ask Hydra for a sweep."""
    return any(arg in ("-m", "--multirun") for arg in args)


def fail(message: str, code: int) -> int:
    print(f"rlrun: error: {message}", file=sys.stderr)
    return code


def one_line_errors(command: Callable[[list[str]], None]) -> Callable[[list[str]], int]:
    """A command whose user mistakes end in one line and exit status 2; other errors propagate."""

    @functools.wraps(command)
    def run(args: list[str]) -> int:
        try:
            command(args)
        except (UsageError, ConfigError) as err:
            return fail(str(err), 2)
        except Exception as err:
            if not is_user_error(err):
                raise
            return fail(describe_error(err), 2)
        return 0

    return run


def train_command(args: list[str]) -> int:

    previous = os.environ.get("HYDRA_FULL_ERROR")
    full_error = previous == "1"
    # Hydra re-raises instead of printing its own multi-line report; we print one line.
    os.environ["HYDRA_FULL_ERROR"] = "1"
    try:
        return run_train(args, full_error)
    finally:  # as it was, for a caller that runs rlrun again in the same process
        if previous is None:
            del os.environ["HYDRA_FULL_ERROR"]
        else:
            os.environ["HYDRA_FULL_ERROR"] = previous


def run_train(args: list[str], full_error: bool) -> int:
    multirun = is_multirun(args)
    stop = SignalCatcher(forward_to_workers=multirun and process_launcher(args))
    stop.install()
    os.environ[LAUNCHER_PID] = str(os.getpid())  # a launcher's worker processes watch this one
    try:
        check_tuned_overrides(args)
        if not multirun:
            args = single_run_args(args)
        sys.argv = ["rlrun train", *args]
        from rlrun import train

        train.captured_errors = None if multirun else []
        train.main()
        if train.captured_errors:
            raise train.captured_errors[0]
    except Interrupted as err:
        print(f"rlrun: {err}", file=sys.stderr)
        return 130
    except KeyboardInterrupt:
        print(f"rlrun: {stop.stopped_line(multirun)}", file=sys.stderr)
        return 130
    except SystemExit as err:
        return err.code if isinstance(err.code, int) else 1
    except Exception as err:
        if stop.signum:  # a launcher whose workers were stopped reports their end as an error
            print(f"rlrun: {stop.stopped_line(multirun)}", file=sys.stderr)
            return 130
        if full_error:
            raise
        return fail(describe_error(err), 2 if is_user_error(err) else 1)
    finally:
        stop.uninstall()
    return 0


def single_run_args(args: list[str]) -> list[str]:
    """The checks a single run's dir gets before Hydra touches it, and the task's own writing of the
    run's config files (hydra.output_subdir=null): a refused run leaves no trace."""
    from rlrun import rundir

    resume = [a.split("=", 1)[1] for a in args if a.startswith("resume=")]
    if resume:
        rundir.check_resume_dir(resume[-1])
        args = resume_args(resume[-1], args)
    run_dirs = [a.split("=", 1)[1] for a in args if a.startswith("hydra.run.dir=")]
    if run_dirs:
        rundir.check_new_run_dir(run_dirs[-1])
        if not os.path.exists(run_dirs[-1]):
            rundir.new_dirs.add(Path(run_dirs[-1]).resolve())
    if not any(a.startswith("hydra.output_subdir=") for a in args):
        args = [*args, "hydra.output_subdir=null"]
    return args


def process_launcher(args: list[str]) -> bool:
    """Whether the sweep's jobs run in worker processes (joblib, submitit, ray), not in this one."""
    launchers = [a.split("=", 1)[1] for a in args if a.lstrip("+").startswith("hydra/launcher=")]
    return bool(launchers) and launchers[-1] != "basic"


def resume_args(run_dir: str, args: list[str]) -> list[str]:
    """A resumed run keeps its own overrides (those given now win) and writes into its own dir."""

    def key(override: str) -> str:
        return override.split("=", 1)[0].lstrip("+~")

    saved_file = os.path.join(run_dir, ".hydra", "overrides.yaml")
    saved = list(load_yaml(saved_file)) if os.path.isfile(saved_file) else []
    given = {key(a) for a in args} | {"resume", "hydra.run.dir"}
    return [o for o in saved if key(o) not in given] + args + [f"hydra.run.dir={run_dir}"]


@one_line_errors
def eval_command(args: list[str]) -> None:
    if not args or not is_run_dir_arg(args[0]):
        raise UsageError("eval needs a run dir: rlrun eval RUN_DIR [episodes=N] [video=true]")
    from rlrun.play import evaluate_run, robustness_command

    if any(a.startswith("grid.") for a in args):  # a robustness map of one or more runs
        return robustness_command(args)
    # env.KEY=VALUE changes the run's env for this evaluation (e.g. shifted dynamics)
    overrides = env_overrides(args[1:])
    options = parse_options(
        [a for a in args[1:] if a not in overrides],
        {"episodes": int, "video": parse_bool, "device": str, "seed": int, "checkpoint": str},
    )
    evaluate_run(args[0], env_overrides=overrides, **options)


def env_overrides(args: list[str]) -> list[str]:
    """The arguments that are env config overrides (env=..., env.key=..., +env.key=...)."""
    return [a for a in args if a.lstrip("+").split("=")[0].split(".")[0] == "env"]


def summarize_command(args: list[str]) -> int:
    if len(args) != 1:
        return fail("summarize needs one dir: rlrun summarize DIR", 2)
    from rlrun.summarize import summarize

    try:
        summarize(args[0])
    except ConfigError as err:
        return fail(str(err), 2)
    return 0


def plot_command(args: list[str]) -> int:
    dirs = [a for a in args if "=" not in a]
    try:
        if not dirs:
            raise UsageError("plot needs run or sweep dirs: rlrun plot DIR... [tag=T] [group=KEY] [out=PNG]")
        options = parse_options(
            [a for a in args if "=" in a],
            {"tag": str, "group": str, "panel": str, "smooth": float, "band": str, "out": str},
        )
        if "smooth" in options:
            options["smoothing"] = options.pop("smooth")
        from rlrun.plot import plot

        plot(dirs, **options)
    except (UsageError, ConfigError) as err:
        return fail(str(err), 2)
    return 0


@one_line_errors
def collect_command(args: list[str]) -> None:
    run_dir = args[0] if args and is_run_dir_arg(args[0]) else None
    rest = args[1:] if run_dir else args
    overrides = env_overrides(rest)  # config overrides, as for rlrun train
    if run_dir is None and not overrides:
        raise UsageError("collect needs a run dir or an env: rlrun collect RUN_DIR|env=NAME transitions=N")
    if run_dir is not None and overrides:
        raise UsageError("collect takes the env of RUN_DIR; env=... is for a random policy without a run dir")
    options = parse_options(
        [a for a in rest if a not in overrides],
        {"transitions": int, "epsilon": float, "out": str, "seed": int, "num_envs": int, "device": str},
    )
    if "transitions" not in options:
        raise UsageError("collect needs transitions=N (how many to write)")
    options.setdefault("epsilon", 0.0)
    options.setdefault("out", "dataset.npz")
    from rlrun.collect import collect

    collect(run_dir, overrides, **options)


def is_run_dir_arg(arg: str) -> bool:
    """A run dir, not a KEY=VALUE option: sweep job dirs are named like `algo=ppo,seed=1`."""
    return "=" not in arg or os.path.isdir(arg)


def parse_bool(text: str) -> bool:
    if text.lower() in ("true", "1", "yes"):
        return True
    if text.lower() in ("false", "0", "no"):
        return False
    raise ValueError(text)


def parse_options(args: list[str], allowed: dict) -> dict:
    options = {}
    for arg in args:
        key, eq, value = arg.partition("=")
        if not eq or key not in allowed:
            raise UsageError(f"{arg!r}: expected KEY=VALUE with KEY one of {', '.join(allowed)}")
        try:
            options[key] = allowed[key](value)
        except ValueError:
            raise UsageError(
                f"{key}={value!r}: expected {allowed[key].__name__.replace('parse_', '')}"
            ) from None
    return options


if __name__ == "__main__":
    sys.exit(main())
