"""rlrun against Stable-Baselines3 on CartPole-v1, side by side in one run, as whole processes.

    python scripts/bench.py [--parts ppo,fqi,envs] [--seeds 3] [--device cpu] [--threads 1]

- ppo: rlrun PPO on the torch backend, rlrun PPO on the gymnasium backend (RL Zoo's settings,
  conf/tuned/ppo_CartPole.yaml), SB3 PPO with RL Zoo's settings (scripts/sb3_baseline.py).
- fqi: rlrun fqi (conf/tuned/fqi_CartPole.yaml) against SB3 DQN with RL Zoo's settings.
- envs: raw batched steps/s of each torch-native env at 1k, 4k and 64k envs (scripts/bench_envs.py).

Every contender trains until a deterministic evaluation mean of --stop-return (475) over 10
episodes, evaluated every --eval-every environment steps (the same protocol for all), or its
step budget. Wall time is the whole process: imports, set-up, training, evaluations. Training
steps/s leave evaluation out. Contenders alternate, their order rotated each seed, so
machine noise hits all alike; the table gives medians and the ratios are taken between medians
of the same run.
SB3 needs the bench extra: pip install -e ".[bench]".
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
from collections.abc import Callable
from pathlib import Path

SCRIPTS = Path(__file__).resolve().parent

# PPO on the torch backend: many envs, short rollouts, few large minibatches, a high learning
# rate; the whole loop is tensors on one device (docs/environments.md, docs/benchmarks.md)
PPO_TORCH = [
    "algo=ppo", "env=CartPole", "env.backend=torch", "env.num_envs=64", "algo.N=2048", "algo.K=4",
    "algo.S=4", "algo.lr=0.02", "algo.hidden=[32,32]", "algo.gae_lambda=0.9", "total_steps=150000",
]  # fmt: skip
PPO_GYMNASIUM = ["algo=ppo", "env=CartPole"]  # RL Zoo's settings, from conf/tuned/ppo_CartPole.yaml
FQI = ["algo=fqi", "env=CartPole"]  # conf/tuned/fqi_CartPole.yaml


def rlrun(overrides: list[str], args: argparse.Namespace, seed: int, tmp: Path) -> dict:
    run_dir = tmp / f"run{time.monotonic_ns()}"
    cmd = [
        sys.executable, "-m", "rlrun", "train", *overrides, f"seed={seed}", f"device={args.device}",
        f"device.threads={args.threads}", f"stop_return={args.stop_return}", f"eval.every={args.eval_every}",
        "eval.episodes=10", "checkpoint.every=1000000", f"hydra.run.dir={run_dir}",
    ]  # fmt: skip
    wall = timed(cmd)
    summary = json.loads((run_dir / "summary.json").read_text())
    return {
        "wall_s": wall,
        "env_steps": summary["env_steps"],
        "train_sps": summary["sps"],
        "reached": summary["eval_return_mean"] >= args.stop_return,
    }


def sb3(algo: str, args: argparse.Namespace, seed: int) -> dict:
    cmd = [
        sys.executable, str(SCRIPTS / "sb3_baseline.py"), algo, f"--seed={seed}", f"--device={args.device}",
        f"--threads={args.threads}", f"--stop-return={args.stop_return}", f"--eval-every={args.eval_every}",
    ]  # fmt: skip
    out: list[str] = []
    wall = timed(cmd, out)
    result = json.loads(out[0].strip().splitlines()[-1])
    return {"wall_s": wall, **{k: result[k] for k in ("env_steps", "train_sps", "reached")}}


def import_floor() -> dict:
    """The whole-process wall time of only importing torch and gymnasium: no run that uses them
    can finish faster."""
    wall = timed([sys.executable, "-c", "import torch, gymnasium"])
    return {"wall_s": wall, "env_steps": 0, "train_sps": 0.0, "reached": None}


def timed(cmd: list[str], out: list[str] | None = None) -> float:
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"bench: {' '.join(cmd)} failed:\n{proc.stderr[-2000:]}")
    if out is not None:
        out.append(proc.stdout)
    return wall


def alternate(
    contenders: dict[str, Callable[[int], dict]], seeds: list[int], part: str
) -> dict[str, list[dict]]:
    """Each contender once per seed, the order rotated by one each seed. In a fixed order, rlrun's
    gymnasium PPO measured 3000-3200 steps/s here, and 3500-4060 run alone back to back: where a
    process sits in the sequence can matter, so no contender always follows the same one."""
    results: dict[str, list[dict]] = {name: [] for name in contenders}
    names = list(contenders)
    for i, seed in enumerate(seeds):
        for name in names[i % len(names) :] + names[: i % len(names)]:
            results[name].append(contenders[name](seed))
        print(f"bench: {part} seed {seed} done", flush=True)
    return results


def table(results: dict[str, list[dict]], eval_every: int) -> dict[str, dict]:
    """Medians per contender. `evals`: the evaluation that reached the goal (rlrun evaluates at the
    end of the iteration that crosses each multiple of eval_every, SB3 at the multiple itself, so
    the same evaluation can sit a few hundred steps apart)."""
    print(f"{'contender':<24}{'reached':>9}{'env steps':>12}{'evals':>7}{'wall s':>9}{'train steps/s':>15}")
    medians = {}
    for name, runs in results.items():
        for r in runs:
            r["evals"] = r["env_steps"] // eval_every
        keys = ("env_steps", "evals", "wall_s", "train_sps")
        m = {key: statistics.median(r[key] for r in runs) for key in keys}
        reached = "-" if runs[0]["reached"] is None else f"{sum(r['reached'] for r in runs)}/{len(runs)}"
        print(
            f"{name:<24}{reached:>9}{m['env_steps']:>12.0f}{m['evals']:>7.0f}{m['wall_s']:>9.2f}"
            f"{m['train_sps']:>15.0f}"
        )
        medians[name] = m
    for name, runs in results.items():  # the spread behind the medians: seeds differ a lot here
        if runs[0]["reached"] is not None:
            print(f"  {name}: evaluations by seed {[r['evals'] for r in runs]}")
    return medians


def ratio(label: str, value: float) -> None:
    print(f"ratio {label:<44}{value:>8.3f}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--parts", default="ppo,fqi,envs")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--stop-return", type=float, default=475.0)
    parser.add_argument("--eval-every", type=int, default=5000)
    parser.add_argument("--env-sizes", default="1024,4096,65536")
    args = parser.parse_args()
    parts = args.parts.split(",")
    seeds = list(range(args.seeds))
    protocol = f"stop_return {args.stop_return}, evaluation of 10 episodes every {args.eval_every} steps"
    print(
        f"bench: seeds {seeds}, device {args.device}, {args.threads} torch thread(s), {protocol}", flush=True
    )

    with tempfile.TemporaryDirectory() as tmp:
        if "ppo" in parts:
            contenders = {
                "rlrun ppo torch": lambda seed: rlrun(PPO_TORCH, args, seed, Path(tmp)),
                "rlrun ppo gymnasium": lambda seed: rlrun(PPO_GYMNASIUM, args, seed, Path(tmp)),
                "sb3 ppo": lambda seed: sb3("ppo", args, seed),
                "import torch+gymnasium": lambda seed: import_floor(),
            }
            m = table(alternate(contenders, seeds, "ppo"), args.eval_every)
            torch_, gym_, base = m["rlrun ppo torch"], m["rlrun ppo gymnasium"], m["sb3 ppo"]
            goal = f"{args.stop_return:g}"
            ratio(f"wall to {goal}, rlrun torch / sb3", torch_["wall_s"] / base["wall_s"])
            floor = m["import torch+gymnasium"]["wall_s"]
            ratio("wall, import torch+gymnasium alone / sb3", floor / base["wall_s"])
            ratio("train steps/s, rlrun gymnasium / sb3", gym_["train_sps"] / base["train_sps"])
            ratio(f"env steps to {goal}, rlrun gymnasium / sb3", gym_["env_steps"] / base["env_steps"])
            ratio(f"evaluations to {goal}, rlrun gymnasium / sb3", gym_["evals"] / base["evals"])
            ratio("train steps/s, rlrun torch / sb3", torch_["train_sps"] / base["train_sps"])
        if "fqi" in parts:
            contenders = {
                "rlrun fqi": lambda seed: rlrun(FQI, args, seed, Path(tmp)),
                "sb3 dqn": lambda seed: sb3("dqn", args, seed),
            }
            m = table(alternate(contenders, seeds, "fqi"), args.eval_every)
            fqi, dqn = m["rlrun fqi"], m["sb3 dqn"]
            ratio(f"wall to {args.stop_return:g}, rlrun fqi / sb3 dqn", fqi["wall_s"] / dqn["wall_s"])
    if "envs" in parts:
        import torch

        torch.set_num_threads(args.threads)
        sys.path.insert(0, str(SCRIPTS))
        from bench_envs import format_rate, raw_steps_per_second

        from rlrun.schema import TORCH_ENV_IDS

        sizes = [int(n) for n in args.env_sizes.split(",")]
        print(f"{'raw env steps/s':<28}" + "".join(f"{n:>18}" for n in sizes) + "   (best / median block)")
        for env_id in TORCH_ENV_IDS:
            cells = [format_rate(*raw_steps_per_second(env_id, n, args.device)) for n in sizes]
            print(f"{env_id:<28}" + "".join(f"{cell:>18}" for cell in cells), flush=True)


if __name__ == "__main__":
    main()
