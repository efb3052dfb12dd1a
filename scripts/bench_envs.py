"""Raw speed of the batched torch envs (rlrun.envs.torch_envs): env steps per second, where one
call of step() on num_envs envs counts num_envs steps, as the best and the median of many short
timed blocks. Actions are drawn on the device before the clock starts; each measurement follows
a warm-up, and CUDA is synchronised before reading the clock.

    python scripts/bench_envs.py [--envs CartPole-v1,Pendulum-v1] [--num-envs 1024,4096,65536]
                                 [--blocks 40] [--block 10] [--device cpu] [--threads 1] [--dtype float32]

Other scripts can import `raw_steps_per_second` (scripts/ is not a package: put this directory
on sys.path, or import the file by path).
"""

from __future__ import annotations

import argparse
import statistics
import time

import gymnasium as gym
import torch

from rlrun.envs.torch_envs import TORCH_ENVS, make_torch_env

ACTION_BLOCK = 64  # distinct action batches, cycled: drawing them costs nothing inside the timing


def raw_steps_per_second(
    env_id: str,
    num_envs: int,
    device: torch.device | str = "cpu",
    dtype: torch.dtype = torch.float32,
    blocks: int = 40,
    block: int = 10,
    warmup: int = 20,
) -> tuple[float, float]:
    """Env steps per second of step() on `num_envs` envs with random actions, timed in `blocks`
    blocks of `block` calls: (best block, median block). The best is timeit's convention, the
    speed of the code when nothing else disturbs it; the median is what a long run sees on a
    shared machine (here the two differ by up to 1.5x from one minute to the next)."""
    device = torch.device(device)
    env = make_torch_env(env_id, num_envs, device, dtype)
    env.reset(seed=0)
    actions = random_actions(env, ACTION_BLOCK)
    for i in range(warmup):
        env.step(actions[i % ACTION_BLOCK])
    sync(device)
    times = []
    for b in range(blocks):
        start = time.perf_counter()
        for i in range(b * block, (b + 1) * block):
            env.step(actions[i % ACTION_BLOCK])
        sync(device)
        times.append(time.perf_counter() - start)
    steps = num_envs * block
    return steps / min(times), steps / statistics.median(times)


def random_actions(env: gym.vector.VectorEnv, count: int) -> torch.Tensor:
    """`count` batches of uniformly random actions, on the env's device."""
    space = env.single_action_space
    generator = torch.Generator(device=env.device).manual_seed(1)
    if isinstance(space, gym.spaces.Discrete):
        shape = (count, env.num_envs)
        return torch.randint(int(space.n), shape, device=env.device, generator=generator)
    low = torch.as_tensor(space.low, device=env.device)
    high = torch.as_tensor(space.high, device=env.device)
    u = torch.rand((count, env.num_envs, *space.shape), device=env.device, generator=generator)
    return low + (high - low) * u


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--envs", default=",".join(TORCH_ENVS))
    parser.add_argument("--num-envs", default="1024,4096,65536")
    parser.add_argument("--blocks", type=int, default=40, help="timed blocks per cell")
    parser.add_argument("--block", type=int, default=10, help="step() calls per timed block")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    sizes = [int(n) for n in args.num_envs.split(",")]
    dtype = getattr(torch, args.dtype)
    print(
        f"device={args.device} threads={torch.get_num_threads()} dtype={args.dtype} "
        f"{args.blocks} blocks of {args.block} steps; best block / median block"
    )
    print(f"{'env':<26}" + "".join(f"{n:>18,}" for n in sizes) + "   (env steps/s by num_envs)")
    for env_id in args.envs.split(","):
        cells = []
        for n in sizes:
            best, median = raw_steps_per_second(env_id, n, args.device, dtype, args.blocks, args.block)
            cells.append(f"{format_rate(best, median):>18}")
        print(f"{env_id:<26}" + "".join(cells), flush=True)


def format_rate(best: float, median: float) -> str:
    """'12.3 / 9.8 M': best and median steps/s in millions."""
    return f"{best / 1e6:.1f} / {median / 1e6:.1f} M"


if __name__ == "__main__":
    main()
