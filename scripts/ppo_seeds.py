"""Train one configuration on a list of seeds, one `rlrun train` process at a time, and count the
seeds whose final evaluation reaches a threshold.

    python scripts/ppo_seeds.py --seeds 0-9 [--threshold 475] [--curve] [--replay N] [--json out.json]
                                [--keep DIR] -- [OVERRIDES...]

OVERRIDES are Hydra overrides added after `algo=ppo env=CartPole device=cpu` (any of those three
can be overridden too, e.g. `env=MountainCar`). Per seed it prints the final evaluation mean
(summary.json's eval_return_mean, what the run ends with), the best evaluation mean and its step,
the process's wall time, with --curve every evaluation mean in order (read from TensorBoard), and
with --replay N the final policy's mean over N more deterministic episodes from other starts
(`rlrun eval RUN_DIR episodes=N`): the final evaluation's 10 episodes, always from the same starts,
are a noisy estimate of a policy's return.
Runs land in a temporary folder, removed at the end unless --keep names a folder for them.
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

BASE = ["algo=ppo", "env=CartPole", "device=cpu"]


def parse_seeds(text: str) -> list[int]:
    """'0-9' -> 0..9; '1,13,20-22' -> [1, 13, 20, 21, 22]."""
    seeds: list[int] = []
    for part in text.split(","):
        first, _, last = part.partition("-")
        seeds.extend(range(int(first), int(last or first) + 1))
    return seeds


def eval_curve(run_dir: Path) -> list[float]:
    """eval/return_mean at each evaluation, in step order."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(run_dir / "tb"), size_guidance={"scalars": 0})
    events.Reload()
    if "eval/return_mean" not in events.Tags()["scalars"]:
        return []
    return [e.value for e in sorted(events.Scalars("eval/return_mean"), key=lambda e: e.step)]


def replay(run_dir: Path, episodes: int) -> float:
    """The mean return of the run's last policy over `episodes` deterministic episodes."""
    cmd = [sys.executable, "-m", "rlrun", "eval", str(run_dir), f"episodes={episodes}", "device=cpu"]
    result = subprocess.run(cmd, capture_output=True, text=True, check=True)
    return float(result.stdout.split(": return ")[1].split()[0])


def train(seed: int, overrides: list[str], run_dir: Path) -> dict:
    cmd = [sys.executable, "-m", "rlrun", "train", *BASE, *overrides, f"seed={seed}"]
    cmd.append(f"hydra.run.dir={run_dir}")
    env = {**os.environ, "SDL_VIDEODRIVER": "dummy", "SDL_AUDIODRIVER": "dummy"}
    start = time.perf_counter()
    result = subprocess.run(cmd, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if result.returncode != 0:
        raise SystemExit(f"seed {seed} failed (exit {result.returncode}):\n{result.stderr[-2000:]}")
    summary = json.loads((run_dir / "summary.json").read_text())
    return {
        "seed": seed,
        "final": summary["eval_return_mean"],
        "best": summary.get("best_eval_return_mean"),
        "best_step": summary.get("best_eval_step"),
        "env_steps": summary["env_steps"],
        "wall_s": round(wall, 1),
        "curve": eval_curve(run_dir),
    }


def main() -> None:
    raw = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=raw)
    parser.add_argument("--seeds", default="0-9", help="e.g. 0-9 or 1,13,20-29")
    parser.add_argument("--threshold", type=float, default=475.0)
    parser.add_argument("--curve", action="store_true", help="print every evaluation mean too")
    parser.add_argument("--replay", type=int, default=0, help="episodes to replay the final policy on")
    parser.add_argument("--json", type=Path, help="write the per-seed results here")
    parser.add_argument("--keep", type=Path, help="keep the run dirs under this folder")
    parser.add_argument("overrides", nargs="*", help="Hydra overrides for every run")
    args = parser.parse_args()

    print(f"rlrun train {' '.join(BASE + args.overrides)} seed=...", flush=True)
    header = f"{'seed':>4} {'final':>8} {'best':>8} {'best@':>7} {'steps':>7} {'wall_s':>7}"
    print(header + (f" {'replay':>8}" if args.replay else ""), flush=True)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        root = args.keep or Path(tmp)
        for seed in parse_seeds(args.seeds):
            row = train(seed, args.overrides, root / f"seed{seed}")
            if args.replay:
                row["replay"] = replay(root / f"seed{seed}", args.replay)
            rows.append(row)
            line = (
                f"{seed:>4} {row['final']:>8.1f} {row['best']:>8.1f} {row['best_step']:>7} "
                f"{row['env_steps']:>7} {row['wall_s']:>7.1f}"
            )
            if args.replay:
                line += f" {row['replay']:>8.1f}"
            if args.curve:
                line += "  " + " ".join(f"{v:.0f}" for v in row["curve"])
            print(line, flush=True)

    finals = [row["final"] for row in rows]
    reached = sum(final >= args.threshold for final in finals)
    print(
        f"final >= {args.threshold:g}: {reached}/{len(rows)}; final mean {statistics.mean(finals):.1f}, "
        f"min {min(finals):.1f}; wall {sum(row['wall_s'] for row in rows):.0f} s in all"
    )
    if args.replay:
        replays = [row["replay"] for row in rows]
        mean, low = statistics.mean(replays), min(replays)
        print(f"replayed over {args.replay} episodes: mean {mean:.1f}, min {low:.1f}")
    if args.json:
        args.json.write_text(json.dumps({"overrides": args.overrides, "runs": rows}, indent=1))


if __name__ == "__main__":
    main()
