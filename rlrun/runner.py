"""The runner: checked config -> components -> training loop (evaluate, log, checkpoint) -> summary.

No Hydra here: it takes the dataclasses of rlrun.config and plain objects. Algorithms expose
`iterate()`, `env_steps`, `iteration`, `policy()` and `state_dict()`; the loop around them, the
same for every algorithm, lives once, here.
"""

from __future__ import annotations

import importlib
import pickle
import random
import signal
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch

from rlrun.algos.base import Algorithm
from rlrun.checkpoint import CHECKPOINT, check_matches, load_checkpoint, save_checkpoint
from rlrun.config import TABULAR_ALGOS, RunConfig
from rlrun.device import describe, resolve_device
from rlrun.envs import check_spaces
from rlrun.envs.tensor_env import NormalizeReward, make_envs
from rlrun.errors import ConfigError, Interrupted
from rlrun.evaluate import Evaluator
from rlrun.logger import Logger
from rlrun.rundir import SUMMARY, append_log, console, read_summary, write_summary


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def make_algorithm(run: RunConfig, envs: gym.vector.VectorEnv | None, device: torch.device) -> Algorithm:
    """The algorithm the config names, built by its own module's `make`."""
    module = importlib.import_module(f"rlrun.algos.{run.algo.name}")
    return module.make(run, envs, device)


@dataclass
class StopFlag:
    """Set by SIGINT/SIGTERM; the loop stops at the end of the current iteration. A second
    signal stops at once (the last checkpoint stays)."""

    signum: int = 0
    previous: dict = field(default_factory=dict)

    def install(self) -> None:
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                self.previous[sig] = signal.signal(sig, self.handle)
            except ValueError:  # not the main thread (some launchers): keep default handling
                return

    def uninstall(self) -> None:
        for sig, handler in self.previous.items():
            signal.signal(sig, handler)

    def handle(self, signum: int, _frame: Any) -> None:
        if self.signum:
            raise KeyboardInterrupt
        self.signum = signum


def check_writable(run_dir: Path) -> None:
    """Fail before training, not at the first checkpoint, when the run dir cannot be written."""
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=run_dir):
            pass
    except OSError as err:
        raise ConfigError("hydra.run.dir", f"cannot write the run dir {run_dir}: {err.strerror}") from None


def train(run: RunConfig, run_dir: Path, progress: bool = True, job: str | None = None) -> float:
    """Train as the (checked) config says, writing into run_dir; return the final evaluation mean.
    `progress`: show a progress bar; `job`: the sweep job's name, for its console lines."""
    device = resolve_device(run.device)
    check_writable(run_dir)
    resume_dir = Path(run.resume) if run.resume else run_dir
    if run.resume and not (resume_dir / CHECKPOINT).is_file():
        raise ConfigError("resume", f"{resume_dir} holds no {CHECKPOINT} to continue from")

    finished = read_summary(run_dir)
    if finished is not None and finished["env_steps"] >= run.total_steps:
        # A sweep run again into its dir skips the jobs that are done, reporting their result.
        console(
            f"rlrun: already done: {run_dir / SUMMARY} holds {finished['env_steps']} steps, evaluation "
            f"return {finished['eval_return_mean']:.2f}; nothing to train",
            run_dir,
        )
        return finished["eval_return_mean"]

    state = None
    if (resume_dir / CHECKPOINT).is_file():
        state = load_checkpoint(resume_dir, map_location=device)
        check_matches(state, resume_dir / CHECKPOINT, run.algo.name, run.env.id)

    seed_everything(run.seed)
    # distributions come from our own networks; checking each one's arguments cost ~5% of PPO's
    # time on CartPole, and a NaN is caught by the algorithms' own guard with a clearer message
    torch.distributions.Distribution.set_default_validate_args(False)
    envs = None
    if run.algo.name not in TABULAR_ALGOS:
        envs = make_envs(run.env, run.env.num_envs, device)
    evaluator: Evaluator | None = None
    try:
        if envs is not None:
            check_spaces(envs, run.algo.name)
        if envs is not None and getattr(run.algo, "normalize_reward", False):
            if run.env.backend == "torch":
                envs = NormalizeReward(envs, gamma=run.algo.gamma)
            else:
                envs = gym.wrappers.vector.NormalizeReward(envs, gamma=run.algo.gamma)
        if state is not None and state["envs"] is not None:
            envs.close()
            envs = pickle.loads(state["envs"])  # every episode continues where it was
        algo = make_algorithm(run, envs, device)  # may still refuse the config, before any output
        console(f"rlrun: device {describe(device)}; run dir {run_dir}", run_dir)
        evaluator = Evaluator(run.env, run.eval.episodes, seed=run.seed + 10_000, device=device)
        if state is not None:
            restore(state, algo, envs)
            console(f"rlrun: resumed from {resume_dir / CHECKPOINT} at step {algo.env_steps}", run_dir)
        return run_loop(run, run_dir, algo, envs, evaluator, device, state, progress, job)
    finally:
        if envs is not None:
            envs.close()
        if evaluator is not None:
            evaluator.close()


def checkpoint_state(run: RunConfig, algo: Algorithm, envs: gym.vector.VectorEnv | None, extra: dict) -> dict:
    return {
        "algo_name": run.algo.name,
        "config": asdict(run),
        "algo": algo.state_dict(),
        "envs": snapshot(envs),
        "reward_norm": getattr(envs, "return_rms", None),
        "rng": {
            "python": random.getstate(),
            "numpy": np.random.get_state(),
            "torch": torch.get_rng_state(),
            "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,
        },
        **extra,
    }


def snapshot(envs: gym.vector.VectorEnv | None) -> bytes | None:
    """The whole env stack pickled (states, RNGs, wrapper statistics), for an exact resume. Only
    sync vector envs can be: async ones live in subprocesses, and a custom env may refuse."""
    tensor_env = getattr(envs.unwrapped, "is_tensor_env", False) if envs is not None else False
    if envs is None or not (tensor_env or isinstance(envs.unwrapped, gym.vector.SyncVectorEnv)):
        return None
    try:
        return pickle.dumps(envs)
    except (pickle.PicklingError, TypeError, AttributeError):
        return None


def restore(state: dict, algo: Algorithm, envs: gym.vector.VectorEnv | None) -> None:
    algo.load_state_dict(state["algo"])
    if state["envs"] is None:  # fresh episodes, but the reward statistics carry on
        algo.restart_episodes()
        if state["reward_norm"] is not None:
            envs.return_rms = state["reward_norm"]
    random.setstate(state["rng"]["python"])
    np.random.set_state(state["rng"]["numpy"])
    torch.set_rng_state(state["rng"]["torch"].cpu())
    if state["rng"].get("cuda") is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([s.cpu() for s in state["rng"]["cuda"]])


def run_loop(
    run: RunConfig,
    run_dir: Path,
    algo: Algorithm,
    envs: gym.vector.VectorEnv | None,
    evaluator: Evaluator,
    device: torch.device,
    state: dict | None,
    progress: bool,
    job: str | None = None,
) -> float:
    """Iterate until total_steps (or stop_return); evaluate, log and checkpoint along the way."""
    start_step = algo.env_steps
    history = (state or {}).get("history", {"wall_s": 0.0, "best": None, "evals": []})
    # vi and pi end at convergence, not at total_steps: their bar counts sweeps without a total
    total = run.total_steps if algo.progress_unit == "step" else None
    logger = Logger(run_dir, total, start_step, progress, unit=algo.progress_unit, job=job)
    stop = StopFlag()
    stop.install()
    t0 = time.perf_counter()
    eval_time = 0.0
    last_eval: tuple[int, float, float] | None = None
    stopped_early = False

    def evaluate() -> tuple[int, float, float]:
        nonlocal eval_time
        t = time.perf_counter()
        returns = evaluator(algo.policy(), device, run.eval.deterministic)
        algo.evaluated(returns)
        eval_time += time.perf_counter() - t
        result = (algo.env_steps, float(returns.mean()), float(returns.std()))
        logger.scalars({"eval/return_mean": result[1], "eval/return_std": result[2]}, algo.env_steps)
        history["evals"].append(result)
        if history["best"] is None or result[1] > history["best"][1]:
            history["best"] = result
        return result

    def save() -> None:
        # logs first: a SIGKILL after this loses nothing the checkpoint holds
        logger.flush()
        history_now = dict(history, wall_s=history["wall_s"] + time.perf_counter() - t0)
        save_checkpoint(run_dir, checkpoint_state(run, algo, envs, {"history": history_now}))

    try:
        while algo.env_steps < run.total_steps and not algo.done:
            previous_step = algo.env_steps
            metrics = algo.iterate()
            step = algo.env_steps
            sps = (step - start_step) / max(time.perf_counter() - t0 - eval_time, 1e-9)
            logger.scalars({**metrics, "perf/sps": sps}, step)
            for tag, image in algo.pop_images().items():
                logger.image(tag, image, step)
            logger.episodes(algo.pop_episodes(), step)
            if run.eval.every and step // run.eval.every > previous_step // run.eval.every:
                last_eval = evaluate()
                logger.evaluation(*last_eval)
                if run.stop_return is not None and last_eval[1] >= run.stop_return:
                    logger.message(f"rlrun: evaluation mean {last_eval[1]:.2f} >= stop_return at step {step}")
                    stopped_early = True
                    break
            if algo.iteration % run.checkpoint.every == 0:
                save()
            logger.progress(step, sps, last_eval[1] if last_eval else None, algo.progress_fields())
            if stop.signum:
                save()
                logger.close()
                stopped = (
                    f"stopped by {signal.Signals(stop.signum).name} at step {step}; checkpoint saved; "
                    f"continue with: rlrun train resume={run_dir}"
                )
                append_log(run_dir, f"rlrun: {stopped}")
                raise Interrupted(stopped)
        if last_eval is None or last_eval[0] != algo.env_steps:
            last_eval = evaluate()
        save()
    except BaseException:
        logger.close()
        raise
    finally:
        stop.uninstall()

    wall_s = history["wall_s"] + time.perf_counter() - t0
    summary = {
        "algo": run.algo.name,
        "env": run.env.id,
        "seed": run.seed,
        "device": str(device),
        "env_steps": algo.env_steps,
        "iterations": algo.iteration,
        "wall_s": round(wall_s, 3),
        "sps": round((algo.env_steps - start_step) / max(time.perf_counter() - t0 - eval_time, 1e-9), 1),
        "eval_return_mean": last_eval[1],
        "eval_return_std": last_eval[2],
        "eval_episodes": run.eval.episodes,
        "best_eval_return_mean": history["best"][1],
        "best_eval_step": history["best"][0],
        "stop_return": run.stop_return,
        "stopped_early": stopped_early,
        **algo.finish(run_dir),
    }
    metrics = {
        "hparams/eval_return_mean": last_eval[1],
        "hparams/best_eval_return_mean": history["best"][1],
    }
    logger.hparams(asdict(run), metrics, algo.env_steps)
    logger.close()
    write_summary(run_dir, summary)
    console(
        f"rlrun: done{logger.job}: {algo.outcome(summary, wall_s)}; evaluation return "
        f"{last_eval[1]:.2f} +- {last_eval[2]:.2f} over {run.eval.episodes} episodes",
        run_dir,
    )
    return last_eval[1]
