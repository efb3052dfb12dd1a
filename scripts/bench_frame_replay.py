"""Peak RSS of fqi's frame replay store holding 1M Atari transitions (84x84, 4 stacked frames),
allocated and filled synthetically (random frames, one env, episodes of 200 steps), then sampled.

    nice -n 15 python scripts/bench_frame_replay.py [--transitions 1000000]

Prints the store's bytes per transition and the process's peak RSS (target: <= 8 GB)."""

from __future__ import annotations

import argparse
import resource
import time

import torch

from rlrun.frame_replay import FrameReplayBuffer


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--transitions", type=int, default=1_000_000)
    parser.add_argument("--round", type=int, default=1000)  # transitions added at once
    parser.add_argument("--episode", type=int, default=200)
    args = parser.parse_args()
    torch.set_num_threads(1)
    n, k, side = args.transitions, 4, 84
    store = FrameReplayBuffer(n, (k, side, side), num_envs=1, device=torch.device("cpu"))
    frames = torch.randint(0, 256, (args.round + k, side, side), dtype=torch.uint8)
    start = time.time()
    t = 0
    for _ in range(0, n, args.round):
        # a stream of frames: obs_t = frames[t..t+3], next = frames[t+1..t+4]; episodes restart padded
        obs = torch.stack([frames[i : i + k] for i in range(args.round)])
        steps = torch.arange(t, t + args.round)
        first = steps % args.episode == 0
        obs[first] = obs[first][:, -1:].expand(-1, k, -1, -1)  # FrameStackObservation's padding
        end = (steps + 1) % args.episode == 0
        batch = {
            "obs": obs,
            "next_obs": torch.stack([frames[i + 1 : i + 1 + k] for i in range(args.round)]),
            "actions": torch.zeros(args.round, dtype=torch.long),
            "rewards": torch.zeros(args.round),
            "terminated": end,
            "truncated": torch.zeros(args.round, dtype=torch.bool),
        }
        store.add(batch)
        t += args.round
        del batch, obs
    fill_s = time.time() - start
    for _ in range(10):
        store.sample(32)
    tensors = [store.frames, store.ids, *store.data.values()]
    store_bytes = sum(x.numel() * x.element_size() for x in tensors)
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(f"transitions {store.size}, frame ring {store.num_frames} frames, filled in {fill_s:.0f}s")
    print(f"store bytes {store_bytes / 1e9:.3f} GB = {store_bytes / store.size:.0f} bytes per transition")
    peak = peak_kb * 1024  # Linux reports ru_maxrss in KiB
    print(f"peak RSS {peak / 1e9:.2f} GB = {peak / 2**30:.2f} GiB (target <= 8 GB)")


if __name__ == "__main__":
    main()
