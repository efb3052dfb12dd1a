"""The runner: checked config -> components -> training loop (evaluate, log, checkpoint) -> summary.

No Hydra here: it takes the dataclasses of rlrun.schema and plain objects. Algorithms expose
`iterate()`, `env_steps`, `iteration`, `policy()` and `state_dict()`; the loop around them, the
same for every algorithm, lives once, here.
"""

from __future__ import annotations

import functools
import random
import signal
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch

from rlrun.algos import registry
from rlrun.algos.base import Algorithm, Build
from rlrun.checkpoint import BEST, check_matches, load_checkpoint, save_checkpoint
from rlrun.device import describe, resolve_device
from rlrun.envs import check_spaces
from rlrun.envs import state as env_state
from rlrun.envs.factory import make_envs, normalize_reward
from rlrun.envs.tabular import tabular_model
from rlrun.errors import Interrupted
from rlrun.evaluate import Evaluator
from rlrun.logger import Logger
from rlrun.rundir import (
    CHECKPOINT,
    SUMMARY,
    append_log,
    check_resume_dir,
    check_writable,
    console,
    read_summary,
    write_summary,
)
from rlrun.schema import TABULAR_ENVS, RunConfig
from rlrun.stops import StopFlag


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def make_algorithm(run: RunConfig, envs: Any, device: torch.device) -> Algorithm:
    """The algorithm the config names, built by its registry entry from what it needs."""
    spec = registry()[run.algo.name]
    model = functools.partial(tabular_model, run.env, device) if run.env.id in TABULAR_ENVS else None
    build = Build(None if spec.tabular else envs, device, run.total_steps, run.seed, model, run.reward)
    return spec.make(run.algo, build)


def train(
    run: RunConfig,
    run_dir: Path,
    progress: bool = True,
    job: str | None = None,
    on_start: Callable[[], None] | None = None,
) -> float:
    """Train as the (checked) config says, writing into run_dir; return the final evaluation mean.
    `progress`: show a progress bar; `job`: the sweep job's name, for its console lines. Every
    refusal comes before `on_start` (which writes the run's config files) and before anything else
    is written: a refused run leaves run_dir as it was."""
    device = resolve_device(run.device)
    check_writable(run_dir)
    resume_dir = check_resume_dir(run.resume) if run.resume else run_dir

    state = None
    if (resume_dir / CHECKPOINT).is_file():
        state = load_checkpoint(resume_dir, map_location=device)
        check_matches(state, resume_dir / CHECKPOINT, run.algo.name, run.env.id)
    finished = read_summary(run_dir)
    if finished is not None:
        state_like = {"algo_name": finished.get("algo"), "config": {"env": {"id": finished.get("env")}}}
        check_matches(state_like, run_dir / SUMMARY, run.algo.name, run.env.id)
        if finished["env_steps"] >= run.total_steps:
            # A sweep run again into its dir skips the jobs that are done, reporting their result.
            console(
                f"rlrun: already done: {run_dir / SUMMARY} holds {finished['env_steps']} steps, evaluation "
                f"return {finished['eval_return_mean']:.2f}; nothing to train",
                run_dir,
            )
            return finished["eval_return_mean"]

    seed_everything(run.seed)
    # distributions come from our own networks; checking each one's arguments cost ~5% of PPO's
    # time on CartPole, and a NaN is caught by the algorithms' own guard with a clearer message
    torch.distributions.Distribution.set_default_validate_args(False)
    envs = None if registry()[run.algo.name].tabular else make_envs(run.env, run.env.num_envs, device)
    evaluator: Evaluator | None = None
    try:
        if envs is not None:
            check_spaces(envs, run.algo.name)
            if getattr(run.algo, "normalize_reward", False):
                envs = normalize_reward(envs, run.algo.gamma, getattr(run.algo, "clip_reward", None))
        algo = make_algorithm(run, envs, device)  # may still refuse the config, before any output
        evaluator = Evaluator(run.env, run.eval.episodes, seed=run.seed + 10_000, device=device)
        if state is not None:
            restore(state, algo, envs)
        if on_start is not None:
            on_start()
        console(f"rlrun: device {describe(device)}; run dir {run_dir}", run_dir)
        if state is not None:
            console(f"rlrun: resumed from {resume_dir / CHECKPOINT} at step {algo.env_steps}", run_dir)
            if envs is not None and state["envs"] is None:  # envpool, env.vector=async
                console("rlrun: the envs' state was not saved: training goes on with fresh episodes", run_dir)
        return Training(run, run_dir, algo, envs, evaluator, device, state, progress, job).run()
    finally:
        if envs is not None:
            envs.close()
        if evaluator is not None:
            evaluator.close()


def checkpoint_state(run: RunConfig, algo: Algorithm, envs: gym.vector.VectorEnv | None, extra: dict) -> dict:
    """Everything an exact resume needs, as tensors and plain data only."""
    numpy_rng = np.random.get_state(legacy=False)
    return {
        "algo_name": run.algo.name,
        "config": asdict(run),
        "algo": algo.state_dict(),
        "envs": None if envs is None else env_state.capture(envs),
        "reward_norm": reward_statistics(envs),
        "rng": {
            "python": random.getstate(),
            "numpy": {
                **numpy_rng,
                "state": {"key": numpy_rng["state"]["key"].tolist(), "pos": numpy_rng["state"]["pos"]},
            },
            "torch": torch.get_rng_state(),
            "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,
        },
        **extra,
    }


def reward_statistics(envs: Any) -> dict | None:
    """The reward normaliser's running statistics (kept even where the env stack is not)."""
    rms = getattr(envs, "return_rms", None)
    if rms is None:
        return None
    # gymnasium's normaliser keeps numpy scalars, which torch.load(weights_only=True) refuses
    plain = {name: getattr(rms, name) for name in ("mean", "var", "count")}
    return {k: v.tolist() if isinstance(v, np.ndarray | np.generic) else v for k, v in plain.items()}


def env_report(envs: Any, kind: str) -> dict[str, Any]:
    """What the env stack reports (rlrun.envs.robustness: ADR's ranges): its TensorBoard scalars
    (kind "metrics", each iteration) or its summary.json fields ("summary")."""
    report = getattr(envs, f"robustness_{kind}", None) if envs is not None else None
    return report() if callable(report) else {}


def restore(state: dict, algo: Algorithm, envs: gym.vector.VectorEnv | None) -> None:
    algo.load_state_dict(state["algo"])
    if state["envs"] is not None:
        env_state.restore(envs, state["envs"])  # every episode continues where it was
    else:  # fresh episodes, but the reward statistics carry on
        algo.restart_episodes()
        if state["reward_norm"] is not None:
            for name, value in state["reward_norm"].items():
                setattr(envs.return_rms, name, value)
    random.setstate(state["rng"]["python"])
    numpy_rng = state["rng"]["numpy"]
    key = np.array(numpy_rng["state"]["key"], dtype=np.uint32)
    np.random.set_state({**numpy_rng, "state": {"key": key, "pos": numpy_rng["state"]["pos"]}})
    torch.set_rng_state(state["rng"]["torch"].cpu())
    if state["rng"].get("cuda") is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([s.cpu() for s in state["rng"]["cuda"]])


class Training:
    """The loop: iterate until total_steps (or stop_return); evaluate, log and checkpoint on the way."""

    def __init__(
        self,
        run: RunConfig,
        run_dir: Path,
        algo: Algorithm,
        envs: gym.vector.VectorEnv | None,
        evaluator: Evaluator,
        device: torch.device,
        state: dict | None,
        progress: bool,
        job: str | None = None,
    ):
        self.run_cfg, self.run_dir, self.algo, self.envs = run, run_dir, algo, envs
        self.evaluator, self.device = evaluator, device
        self.start_step = algo.env_steps
        self.history = (state or {}).get("history", {"wall_s": 0.0, "best": None, "evals": []})
        # vi and pi end at convergence, not at total_steps: their bar counts sweeps without a total
        total = run.total_steps if algo.progress_unit == "step" else None
        self.logger = Logger(run_dir, total, self.start_step, progress, unit=algo.progress_unit, job=job)
        self.t0 = time.perf_counter()
        self.eval_time = 0.0
        self.last_eval: tuple[int, float, float] | None = None
        self.stopped_early = False

    def sps(self) -> float:
        """Training env steps per second of this process, evaluations left out."""
        return (self.algo.env_steps - self.start_step) / max(
            time.perf_counter() - self.t0 - self.eval_time, 1e-9
        )

    def run(self) -> float:
        stop = StopFlag()
        stop.install()
        try:
            while self.algo.env_steps < self.run_cfg.total_steps and not self.algo.done:
                if self.iterate():
                    break
                if stop.signum:
                    self.save()
                    self.logger.close()
                    stopped = (
                        f"stopped by {signal.Signals(stop.signum).name} at step {self.algo.env_steps}; "
                        f"checkpoint saved; continue with: rlrun train resume={self.run_dir}"
                    )
                    append_log(self.run_dir, f"rlrun: {stopped}")
                    raise Interrupted(stopped)
            if self.last_eval is None or self.last_eval[0] != self.algo.env_steps:
                self.evaluate()
            self.save()
        except BaseException:
            self.logger.close()
            raise
        finally:
            stop.uninstall()
        return self.finish()

    def iterate(self) -> bool:
        """One iteration with its logs, evaluation and checkpoint; True once stop_return is reached."""
        run, algo, logger = self.run_cfg, self.algo, self.logger
        previous_step = algo.env_steps
        metrics = algo.iterate()
        step = algo.env_steps
        logger.scalars({**metrics, **env_report(self.envs, "metrics"), "perf/sps": self.sps()}, step)
        for tag, image in algo.pop_images().items():
            logger.image(tag, image, step)
        logger.episodes(algo.pop_episodes(), step)
        if run.eval.every and step // run.eval.every > previous_step // run.eval.every:
            self.evaluate()
            logger.evaluation(*self.last_eval)
            if run.stop_return is not None and self.last_eval[1] >= run.stop_return:
                logger.message(
                    f"rlrun: evaluation mean {self.last_eval[1]:.2f} >= stop_return at step {step}"
                )
                self.stopped_early = True
                return True
        if algo.iteration % run.checkpoint.every == 0:
            self.save()
        logger.progress(
            step, self.sps(), self.last_eval[1] if self.last_eval else None, algo.progress_fields()
        )
        return False

    def evaluate(self) -> None:
        t = time.perf_counter()
        returns = self.evaluator(self.algo.policy(), self.device, self.run_cfg.eval.deterministic)
        self.algo.evaluated(returns)
        self.eval_time += time.perf_counter() - t
        result = (self.algo.env_steps, float(returns.mean()), float(returns.std()))
        self.logger.scalars({"eval/return_mean": result[1], "eval/return_std": result[2]}, result[0])
        self.history["evals"].append(result)
        if self.history["best"] is None or result[1] > self.history["best"][1]:
            self.history["best"] = result
            self.save_best(result)
        self.last_eval = result

    def save_best(self, result: tuple[int, float, float]) -> None:
        """best.pt: the policy of the best evaluation so far, for `rlrun eval RUN_DIR checkpoint=best`."""
        best = {
            "algo_name": self.run_cfg.algo.name,
            "config": asdict(self.run_cfg),
            "policy": self.algo.policy().state_dict(),
            "env_steps": result[0],
            "eval_return_mean": result[1],
            "eval_return_std": result[2],
        }
        save_checkpoint(self.run_dir, best, BEST)

    def wall_s(self) -> float:
        return self.history["wall_s"] + time.perf_counter() - self.t0

    def save(self) -> None:
        # logs first: a SIGKILL after this loses nothing the checkpoint holds
        self.logger.flush()
        history_now = dict(self.history, wall_s=self.wall_s())
        save_checkpoint(
            self.run_dir, checkpoint_state(self.run_cfg, self.algo, self.envs, {"history": history_now})
        )

    def finish(self) -> float:
        """summary.json, the HParams entry and the closing line."""
        run, algo, last_eval, best = self.run_cfg, self.algo, self.last_eval, self.history["best"]
        wall_s = self.wall_s()
        summary = {
            "algo": run.algo.name,
            "env": run.env.id,
            "seed": run.seed,
            "device": str(self.device),
            "env_steps": algo.env_steps,
            "iterations": algo.iteration,
            "wall_s": round(wall_s, 3),
            "sps": round(self.sps(), 1),
            "eval_return_mean": last_eval[1],
            "eval_return_std": last_eval[2],
            "eval_episodes": run.eval.episodes,
            "best_eval_return_mean": best[1],
            "best_eval_step": best[0],
            "best_checkpoint": BEST,
            "stop_return": run.stop_return,
            "stopped_early": self.stopped_early,
            **algo.finish(self.run_dir),
            **env_report(self.envs, "summary"),  # e.g. adr_entropy
        }
        metrics = {"hparams/eval_return_mean": last_eval[1], "hparams/best_eval_return_mean": best[1]}
        self.logger.hparams(asdict(run), metrics, algo.env_steps)
        self.logger.close()
        write_summary(self.run_dir, summary)
        console(
            f"rlrun: done{self.logger.job}: {algo.outcome(summary, wall_s)}; evaluation return "
            f"{last_eval[1]:.2f} +- {last_eval[2]:.2f} over {run.eval.episodes} episodes",
            self.run_dir,
        )
        return last_eval[1]
