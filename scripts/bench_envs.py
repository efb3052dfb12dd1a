"""Raw speed of the batched torch envs (rlrun.envs.torch_envs): env steps per second, where one
call of step() on num_envs envs counts num_envs steps, as the best and the median of many short
timed blocks. Actions are drawn on the device before the clock starts; each measurement follows
a warm-up, and CUDA is synchronised before reading the clock.

    python scripts/bench_envs.py [--envs CartPole-v1,Pendulum-v1] [--num-envs 1024,4096,65536]
                                 [--blocks 40] [--block 10] [--device cpu] [--threads 1] [--dtype float32]
    python scripts/bench_envs.py --robustness [--num-envs 4096] [--device cpu] [--parts] [--interleave]

--robustness times CartPole's step with the robotics case study's wrapper on (ADR over length,
masspole and force_mag, observation noise with both parts, action latency of 0-2 steps) against
the plain step, and prints the ratio of their times (target: <= 1.25); --interleave times the two
in alternate blocks rather than one cell after the other (steadier on a shared machine). --parts
adds where the wrapped step's time goes: each part timed where it runs inside the step (the plain
step of the wrapped env, the noise draw, the latency queue, ADR's record/update, the renewals of
ended episodes) and everything else as the rest, per step, in the best block and the median block.

Other scripts can import `raw_steps_per_second` (scripts/ is not a package: put this directory
on sys.path, or import the file by path).
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Any

import gymnasium as gym
import torch

from rlrun.envs.factory import make_envs
from rlrun.envs.torch_envs import TORCH_ENVS, make_torch_env
from rlrun.schema import EnvConfig, check_env

ACTION_BLOCK = 64  # distinct action batches, cycled: drawing them costs nothing inside the timing


def raw_steps_per_second(
    env_id: str,
    num_envs: int,
    device: torch.device | str = "cpu",
    dtype: torch.dtype = torch.float32,
    blocks: int = 40,
    block: int = 10,
    warmup: int = 20,
    env: Any = None,
) -> tuple[float, float]:
    """Env steps per second of step() on `num_envs` envs with random actions, timed in `blocks`
    blocks of `block` calls: (best block, median block). The best is timeit's convention, the
    speed of the code when nothing else disturbs it; the median is what a long run sees on a
    shared machine (here the two differ by up to 1.5x from one minute to the next)."""
    env = env if env is not None else make_torch_env(env_id, num_envs, torch.device(device), dtype)
    return interleaved_rates([env], blocks, block, warmup)[0]


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


def robust_cartpole(num_envs: int, device: torch.device | str) -> Any:
    """CartPole with ADR over three parameters, observation noise and latency all on."""
    cfg = EnvConfig(id="CartPole-v1", backend="torch", latency=[0, 2])
    cfg.obs_noise.correlated, cfg.obs_noise.uncorrelated = 0.05, 0.02
    cfg.adr.params = ["length", "masspole", "force_mag"]
    cfg.adr.t_low, cfg.adr.t_high = 5.0, 15.0  # random actions move the ranges: the update path runs
    check_env(cfg)
    return make_envs(cfg, num_envs, torch.device(device))


def robustness_overhead(
    sizes: list[int], device: str, blocks: int, block: int, interleave: bool = False
) -> None:
    """The plain and the perturbed CartPole step, alternating cells (or, interleaved, alternating
    blocks within a cell: a shared machine's load then weighs on both alike), and the ratio of
    their times."""
    print(f"CartPole-v1 step, plain vs ADR + observation noise + latency ({device}); best / median block")
    columns = ("plain (M steps/s)", "robust (M steps/s)", "ratio best", "ratio median")
    print(f"{'num_envs':>9} {columns[0]:>20} {columns[1]:>20} {columns[2]:>11} {columns[3]:>13}")
    for n in sizes:
        if interleave:
            plain, robust = interleaved_rates(
                [make_torch_env("CartPole-v1", n, torch.device(device)), robust_cartpole(n, device)],
                blocks, block,
            )  # fmt: skip
        else:
            plain = raw_steps_per_second("CartPole-v1", n, device, blocks=blocks, block=block)
            robust = raw_steps_per_second(
                "CartPole-v1", n, device, blocks=blocks, block=block, env=robust_cartpole(n, device)
            )
        ratios = plain[0] / robust[0], plain[1] / robust[1]
        rates = f"{format_rate(*plain):>20} {format_rate(*robust):>20}"
        print(f"{n:>9,} {rates} {ratios[0]:>10.2f}x {ratios[1]:>12.2f}x", flush=True)


def interleaved_rates(
    envs: list[Any], blocks: int, block: int, warmup: int = 20
) -> list[tuple[float, float]]:
    """(best block, median block) env steps/s of each of envs, random actions after a warm-up,
    timed block by block in turn (one env: raw_steps_per_second)."""
    actions = []
    for env in envs:
        env.reset(seed=0)
        actions.append(random_actions(env, ACTION_BLOCK))
        for i in range(warmup):
            env.step(actions[-1][i % ACTION_BLOCK])
    times: list[list[float]] = [[] for _ in envs]
    for b in range(blocks):
        for env, acts, spent in zip(envs, actions, times, strict=True):
            sync(env.device)
            start = time.perf_counter()
            for i in range(b * block, (b + 1) * block):
                env.step(acts[i % ACTION_BLOCK])
            sync(env.device)
            spent.append(time.perf_counter() - start)
    steps = [env.num_envs * block for env in envs]
    return [(n / min(t), n / statistics.median(t)) for n, t in zip(steps, times, strict=True)]


PARTS = {  # the wrapper's parts: (what holds the method, its name) for each
    "plain step": ("envs", "step"),
    "noise draw": ("", "_jitter"),
    "latency queue": ("", "_delayed"),
    "ADR record/update": ("adr", "record_some"),
    "renewals": ("", "_renew_some"),
}


def robustness_parts(num_envs: int, device: str, blocks: int, block: int) -> None:
    """Microseconds per step of each part of the wrapped step (CPU: each part is timed by wrapping
    its method in a clock; the rest is the step's time less the parts)."""
    device_ = torch.device(device)
    env = robust_cartpole(num_envs, device)
    spent: dict[str, float] = {}
    for part, (owner, method) in PARTS.items():
        holder = getattr(env, owner) if owner else env
        setattr(holder, method, clocked(getattr(holder, method), part, spent, device_))
    env.reset(seed=0)
    actions = random_actions(env, ACTION_BLOCK)
    for i in range(20):
        env.step(actions[i % ACTION_BLOCK])
    rows = []
    for b in range(blocks):
        spent.clear()
        sync(device_)
        start = time.perf_counter()
        for i in range(b * block, (b + 1) * block):
            env.step(actions[i % ACTION_BLOCK])
        sync(device_)
        total = time.perf_counter() - start
        rows.append({**spent, "rest": total - sum(spent.values()), "total": total})
    best = min(rows, key=lambda row: row["total"])
    print(f"{num_envs:,} envs: us per step of the wrapped step's parts (best block, median over blocks)")
    for part in [*PARTS, "rest", "total"]:
        median = statistics.median(row.get(part, 0.0) for row in rows)
        print(f"  {part:<20} {best.get(part, 0.0) / block * 1e6:8.1f} {median / block * 1e6:8.1f}")
    # the Gaussian draw each step is part of the spec (uncorrelated noise): its share alone bounds
    # the ratio from below, whatever the rest costs
    floor = (best["plain step"] + best["noise draw"]) / best["plain step"]
    print(f"  plain step + noise draw alone: {floor:.2f}x the plain step (best block)")


def clocked(method: Any, part: str, spent: dict[str, float], device: torch.device) -> Any:
    """method, adding its time to spent[part]."""

    def timed(*args: Any, **kwargs: Any) -> Any:
        sync(device)
        start = time.perf_counter()
        result = method(*args, **kwargs)
        sync(device)
        spent[part] = spent.get(part, 0.0) + time.perf_counter() - start
        return result

    return timed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--envs", default=",".join(TORCH_ENVS))
    parser.add_argument("--num-envs", default="1024,4096,65536")
    parser.add_argument("--blocks", type=int, default=40, help="timed blocks per cell")
    parser.add_argument("--block", type=int, default=10, help="step() calls per timed block")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    parser.add_argument(
        "--robustness", action="store_true", help="CartPole with ADR, noise, latency vs plain"
    )
    parser.add_argument("--parts", action="store_true", help="with --robustness: where the time goes")
    parser.add_argument(
        "--interleave", action="store_true", help="with --robustness: plain and robust blocks in turn"
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    sizes = [int(n) for n in args.num_envs.split(",")]
    if args.robustness:
        robustness_overhead(sizes, args.device, args.blocks, args.block, args.interleave)
        for n in sizes if args.parts else []:
            robustness_parts(n, args.device, args.blocks, args.block)
        return
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
