"""Training speed with 1 vs 2 torch CPU threads, as whole `rlrun train` processes.

Runs alternate (1, 2, 1, 2, ...) so machine noise hits both alike; prints each run's steps/s
and the ratio of the medians.  Usage: python scripts/bench_threads.py [--repeats 3] [overrides...]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path


def run(threads: int, overrides: list[str], root: Path, index: int) -> float:
    run_dir = root / f"t{threads}_{index}"
    cmd = [sys.executable, "-m", "rlrun", "train", f"device.threads={threads}", "device=cpu",
           "eval.every=0", "eval.episodes=1", f"hydra.run.dir={run_dir}", *overrides]  # fmt: skip
    subprocess.run(cmd, check=True, capture_output=True)
    return json.loads((run_dir / "summary.json").read_text())["sps"]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=3)
    args, overrides = parser.parse_known_args()
    overrides = overrides or ["env=CartPole", "total_steps=20000"]
    sps: dict[int, list[float]] = {1: [], 2: []}
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.repeats):
            for threads in (1, 2):
                sps[threads].append(run(threads, overrides, Path(tmp), i))
                print(f"threads={threads} run {i}: {sps[threads][-1]:.0f} steps/s", flush=True)
    one, two = statistics.median(sps[1]), statistics.median(sps[2])
    print(f"{' '.join(overrides)}: median steps/s 1 thread {one:.0f}, 2 threads {two:.0f}; "
          f"ratio 1/2 = {one / two:.2f}")  # fmt: skip


if __name__ == "__main__":
    main()
