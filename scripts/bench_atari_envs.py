"""Atari env speed, gymnasium against envpool: preprocessed Breakout (84x84 gray, frame skip 4 with
max-pool, 4 stacked frames, sticky actions 0.25, life loss ends training episodes, clipped rewards),
8 envs, uniformly random actions.

    python scripts/bench_atari_envs.py [--num-envs 8] [--rounds 15] [--block 100] [--threads 1,2,8]
    python scripts/bench_atari_envs.py --ppo [--ppo-steps 4096] [--ppo-repeats 2] [--envpool-threads 2]

The raw part times blocks of `block` vector steps of every backend in turn, round after round, so
that a busy neighbour slows them all alike; it prints agent steps/s (one step of E envs counts E;
best block / median block) and the ratio of medians to gymnasium sync. Backends: our gymnasium stack
(rlrun.envs.atari, sync and async), envpool itself and envpool through
rlrun's adapter (rlrun.envs.envpool_atari, what training steps), each with num_threads from --threads
(8 = one per env, the adapter's default).

--ppo trains PPO with the tuned Atari settings (conf/tuned/ppo_Atari.yaml: 8 envs x 128 steps, Nature
CNN) on the CPU with one torch thread, through the real CLI, on each backend in turn, and prints the
training steps/s of summary.json (evaluation left out) and their ratio.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from rlrun.envs.gym import make_vector_env
from rlrun.schema import check_env
from rlrun.schema_atari import AtariEnvConfig

ENV_ID = "ALE/Breakout-v5"


def backends(num_envs: int, threads_list: list[int]) -> dict[str, Any]:
    """The vector envs to time, by label (all made before timing, all kept open)."""
    import envpool

    from rlrun.envs.envpool_atari import EnvpoolAtari, envpool_options, envpool_task

    made: dict[str, Any] = {}
    for vector in ("sync", "async"):
        cfg = AtariEnvConfig(id=ENV_ID, vector=vector)
        check_env(cfg)
        made[f"gymnasium {vector}"] = make_vector_env(cfg, num_envs, vector)
    for threads in threads_list:
        cfg = AtariEnvConfig(id=ENV_ID, backend="envpool", envpool_threads=threads)
        check_env(cfg)
        options = envpool_options(cfg, num_envs, training=True, seed=0)
        made[f"envpool threads={threads}"] = envpool.make(envpool_task(ENV_ID), **options)
        made[f"rlrun adapter threads={threads}"] = EnvpoolAtari(cfg, num_envs)
    return made


def time_raw(num_envs: int, rounds: int, block: int, threads: list[int]) -> None:
    envs = backends(num_envs, threads)
    rng = np.random.default_rng(0)
    actions = rng.integers(0, 4, size=(block, num_envs)).astype(np.int32)
    times: dict[str, list[float]] = {label: [] for label in envs}
    for label, env in envs.items():
        env.reset() if label.startswith("envpool") else env.reset(seed=0)  # (envpool's seed: at make)
        for a in actions[:20]:  # warm-up
            env.step(a)
    for _ in range(rounds):
        for label, env in envs.items():
            start = time.perf_counter()
            for a in actions:
                env.step(a)
            times[label].append(time.perf_counter() - start)
    for env in envs.values():
        env.close()
    steps = block * num_envs
    base = steps / statistics.median(times["gymnasium sync"])
    print(f"Breakout, {num_envs} envs, random actions; {rounds} rounds of {block} vector steps per backend")
    print(f"{'backend':<26}{'best steps/s':>14}{'median steps/s':>16}{'vs gymnasium sync':>19}")
    for label, t in times.items():
        best, median = steps / min(t), steps / statistics.median(t)
        print(f"{label:<26}{best:>14,.0f}{median:>16,.0f}{median / base:>18.2f}x", flush=True)


def ppo_run(backend: str, steps: int, threads: int | None, out: Path) -> dict:
    """One PPO run through the CLI; its summary.json."""
    run_dir = out / f"{backend}-{len(list(out.iterdir()))}"
    args = [
        "algo=ppo", "env=Atari", f"env.backend={backend}", f"total_steps={steps}", "device=cpu",
        "device.threads=1", "eval.every=0", "eval.episodes=1", "progress=false", f"hydra.run.dir={run_dir}",
    ]  # fmt: skip
    if backend == "envpool" and threads is not None:
        args.append(f"env.envpool_threads={threads}")
    env = {**os.environ, "SDL_VIDEODRIVER": "dummy", "SDL_AUDIODRIVER": "dummy"}
    command = [sys.executable, "-m", "rlrun", "train", *args]
    subprocess.run(command, check=True, env=env, stdout=subprocess.DEVNULL)
    return json.loads((run_dir / "summary.json").read_text())


def time_ppo(steps: int, repeats: int, threads: int | None) -> None:
    print(f"PPO (tuned Atari settings) on Breakout, {steps} steps per run, CPU, 1 torch thread")
    sps: dict[str, list[float]] = {"gymnasium": [], "envpool": []}
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(repeats):
            for backend in sps:  # alternating, so both see the same neighbours
                summary = ppo_run(backend, steps, threads, Path(tmp))
                sps[backend].append(summary["sps"])
                print(
                    f"  {backend:<10} {summary['sps']:>8.1f} steps/s (wall {summary['wall_s']:.1f} s)",
                    flush=True,
                )
    gym_sps, pool_sps = statistics.median(sps["gymnasium"]), statistics.median(sps["envpool"])
    label = f"threads={threads}" if threads else "threads=one per env"
    print(f"median: gymnasium sync {gym_sps:.1f}, envpool ({label}) {pool_sps:.1f} steps/s: "
          f"envpool / gymnasium = {pool_sps / gym_sps:.2f}x")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--num-envs", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=15, help="timed blocks per backend")
    parser.add_argument("--block", type=int, default=100, help="vector steps per timed block")
    parser.add_argument("--threads", default="1,2,8", help="envpool num_threads to time (raw part)")
    parser.add_argument("--ppo", action="store_true", help="PPO training steps/s on each backend")
    parser.add_argument("--ppo-steps", type=int, default=4096)
    parser.add_argument("--ppo-repeats", type=int, default=2)
    parser.add_argument("--envpool-threads", type=int, default=None, help="envpool threads for --ppo")
    args = parser.parse_args()
    if args.ppo:
        time_ppo(args.ppo_steps, args.ppo_repeats, args.envpool_threads)
    else:
        time_raw(args.num_envs, args.rounds, args.block, [int(t) for t in args.threads.split(",")])


if __name__ == "__main__":
    main()
