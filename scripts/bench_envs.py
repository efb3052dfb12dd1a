"""Raw speed of the batched torch envs (rlrun.envs.torch_envs): env steps per second, where one
call of step() on num_envs envs counts num_envs steps. Actions are drawn on the device before
the clock starts; each measurement follows a warm-up, and CUDA is synchronised before reading
the clock.

    python scripts/bench_envs.py [--envs CartPole-v1,Pendulum-v1] [--num-envs 1024,4096,65536]
                                 [--steps 200] [--device cpu] [--threads 1] [--dtype float32]

Other scripts can import `raw_steps_per_second` (scripts/ is not a package: put this directory
on sys.path, or import the file by path).
"""

from __future__ import annotations

import argparse
import time

import gymnasium as gym
import torch

from rlrun.envs.torch_envs import TORCH_ENVS, make_torch_env

ACTION_BLOCK = 64  # distinct action batches, cycled: drawing them costs nothing inside the timing


def raw_steps_per_second(
    env_id: str,
    num_envs: int,
    steps: int,
    device: torch.device | str = "cpu",
    dtype: torch.dtype = torch.float32,
    warmup: int = 20,
    repeats: int = 1,
) -> float:
    """Env steps per second of `steps` calls of step() on `num_envs` envs, random actions; with
    repeats > 1 the best of that many timings (the least disturbed by other work)."""
    device = torch.device(device)
    env = make_torch_env(env_id, num_envs, device, dtype)
    env.reset(seed=0)
    actions = random_actions(env, ACTION_BLOCK)
    for i in range(warmup):
        env.step(actions[i % ACTION_BLOCK])
    sync(device)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        for i in range(steps):
            env.step(actions[i % ACTION_BLOCK])
        sync(device)
        best = min(best, time.perf_counter() - start)
    return num_envs * steps / best


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
    parser.add_argument("--steps", type=int, default=200, help="step() calls per measurement")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    parser.add_argument("--repeats", type=int, default=3, help="timings per cell; the best is shown")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    sizes = [int(n) for n in args.num_envs.split(",")]
    dtype = getattr(torch, args.dtype)
    print(
        f"device={args.device} threads={torch.get_num_threads()} dtype={args.dtype} "
        f"steps={args.steps} best of {args.repeats}"
    )
    print(f"{'env':<26}" + "".join(f"{n:>14,}" for n in sizes) + "   (env steps/s by num_envs)")
    for env_id in args.envs.split(","):
        cells = []
        for n in sizes:
            sps = raw_steps_per_second(env_id, n, args.steps, args.device, dtype, repeats=args.repeats)
            cells.append(f"{sps / 1e6:>13.2f}M")
        print(f"{env_id:<26}" + "".join(cells), flush=True)


if __name__ == "__main__":
    main()
