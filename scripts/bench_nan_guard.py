"""Cost of PPO's per-minibatch NaN/Inf guard: PPO iterations on CartPole with the guard and with
it replaced by a no-op, alternating in one process, printing the ratio of median iteration times.
Usage: python scripts/bench_nan_guard.py [--iterations 30] [--S 8]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

import rlrun.algos.ppo as ppo_module
from rlrun.algos.ppo import PPO, PPOConfig
from rlrun.envs import make_vector_env
from rlrun.errors import check_finite
from rlrun.nets import ActorCritic
from rlrun.schema import EnvConfig


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--iterations", type=int, default=30)
    parser.add_argument("--S", type=int, default=8, help="minibatches per epoch (one guard each)")
    args = parser.parse_args()
    torch.manual_seed(0)
    envs = make_vector_env(EnvConfig(id="CartPole-v1"), 8)
    agent = ActorCritic(envs.single_observation_space, envs.single_action_space, [64, 64])
    algo = PPO(PPOConfig(N=256, K=10, S=args.S), envs, agent, torch.device("cpu"), 10**9, seed=0)
    times: dict[str, list[float]] = {"guard": [], "no guard": []}
    for i in range(2 * args.iterations):
        label = "guard" if i % 2 == 0 else "no guard"
        ppo_module.check_finite = check_finite if label == "guard" else (lambda *_: None)
        start = time.perf_counter()
        algo.iterate()
        times[label].append(time.perf_counter() - start)
    guard, bare = statistics.median(times["guard"]), statistics.median(times["no guard"])
    print(f"median iteration: guard {guard * 1e3:.1f} ms, no guard {bare * 1e3:.1f} ms")
    print(f"ratio guard / no guard: {guard / bare:.3f}")


if __name__ == "__main__":
    main()
