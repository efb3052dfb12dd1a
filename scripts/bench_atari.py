"""Training speed on Atari against Stable-Baselines3 with the same settings, same machine, same run:
rlrun ppo (conf/tuned/ppo_Atari.yaml) against SB3 PPO with RL Zoo's Atari settings, and rlrun fqi
(conf/tuned/fqi_Atari.yaml) against SB3 DQN with RL Zoo's. Both sides use the same preprocessing
(no-ops, frame skip 4 with max-pooling, 84x84 gray, 4 stacked frames, life loss ends an episode,
rewards clipped) on ALE/<game>-v5 made with frameskip=1 and no sticky actions.

    python scripts/bench_atari.py [--parts ppo,dqn] [--steps 8192] [--dqn-steps 6000] [--rounds 2]
                                  [--game Breakout] [--backend gymnasium] [--device cpu] [--threads 1]

--backend envpool steps rlrun's games with envpool (env.backend=envpool) instead of gymnasium's
sync vector env, which SB3's DummyVecEnv matches. Contenders alternate, the order rotated each
round. Training steps/s: env steps over the time in training, evaluation and start-up left out
(rlrun: summary.json's sps; SB3: the time in learn()).
For dqn both sides do the same work: --dqn-steps env steps and the same number of gradient steps
of 32 (a 100k-transition store on both sides). rlrun fills --learning-starts steps at random and
then fits 250 steps after each round of 1000 (the first round that reaches learning_starts fits
too), so SB3 gets the learning_starts that gives its one step per 4 env steps that many.
Needs the bench and atari extras (pip install -e ".[bench,atari]").
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from importlib import resources
from pathlib import Path


def rlrun(algo: str, args: argparse.Namespace, tmp: Path) -> float:
    run_dir = tmp / f"{algo}{time.monotonic_ns()}"
    steps = args.steps if algo == "ppo" else args.dqn_steps
    extra = []
    if algo != "ppo":  # SB3 DQN clips the gradient norm at 10 by default
        extra = [
            f"algo.learning_starts={args.learning_starts}",
            "algo.buffer_size=100000",
            "algo.max_grad_norm=10",
        ]
    cmd = [
        sys.executable, "-m", "rlrun", "train", f"algo={algo}", "env=Atari", f"env.id=ALE/{args.game}-v5",
        f"total_steps={steps}", "eval.every=0", "eval.episodes=1", "env.max_episode_steps=2000",
        f"device={args.device}", f"device.threads={args.threads}", "progress=false",
        f"hydra.run.dir={run_dir}", f"env.backend={args.backend}", *extra,
    ]  # fmt: skip
    subprocess.run(cmd, check=True, capture_output=True)
    return float(json.loads((run_dir / "summary.json").read_text())["sps"])


def sb3(algo: str, args: argparse.Namespace) -> float:
    cmd = [sys.executable, __file__, "--sb3-child", algo, *sys.argv[1:]]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return float(out.strip().splitlines()[-1])


def sb3_child(algo: str, args: argparse.Namespace) -> None:
    """One SB3 training run in this process; prints its training steps/s."""
    import ale_py
    import gymnasium as gym
    import torch
    from stable_baselines3 import DQN, PPO
    from stable_baselines3.common.env_util import make_atari_env
    from stable_baselines3.common.vec_env import VecFrameStack

    gym.register_envs(ale_py)
    torch.set_num_threads(args.threads)
    n_envs = 8 if algo == "ppo" else 1
    env_kwargs = {"frameskip": 1, "repeat_action_probability": 0.0, "max_episode_steps": 2000 * 4}
    envs = VecFrameStack(
        make_atari_env(f"ALE/{args.game}-v5", n_envs=n_envs, seed=0, env_kwargs=env_kwargs), 4
    )
    if algo == "ppo":  # RL Zoo atari: lr and clip annealed linearly
        model = PPO("CnnPolicy", envs, n_steps=128, n_epochs=4, batch_size=256,
                    learning_rate=lambda f: 2.5e-4 * f, clip_range=lambda f: 0.1 * f, ent_coef=0.01,
                    vf_coef=0.5, device=args.device, seed=0)  # fmt: skip
        steps = args.steps
    else:  # RL Zoo atari DQN, with the store and the gradient steps of rlrun's side
        model = DQN("CnnPolicy", envs, buffer_size=100_000, learning_rate=1e-4, batch_size=32,
                    learning_starts=sb3_learning_starts(args), target_update_interval=1000, train_freq=4,
                    gradient_steps=1, exploration_fraction=0.1, exploration_final_eps=0.01,
                    optimize_memory_usage=False, device=args.device, seed=0)  # fmt: skip
        steps = args.dqn_steps
    t0 = time.perf_counter()
    model.learn(total_timesteps=steps)
    print(model.num_timesteps / (time.perf_counter() - t0))


def fqi_gradient_steps(args: argparse.Namespace) -> int:
    """rlrun fqi's gradient steps in a run: S after each round of N env steps (the shipped
    conf/tuned/fqi_Atari.yaml's) that ends with the store at learning_starts or more."""
    import yaml  # hydra's own dependency

    tuned = yaml.safe_load((resources.files("rlrun.conf") / "tuned" / "fqi_Atari.yaml").read_text())
    n, s = tuned["algo"]["N"], tuned["algo"]["S"]
    rounds = args.dqn_steps // n
    first_fit = max(1, -(-args.learning_starts // n))
    return s * max(0, rounds - first_fit + 1)


def sb3_learning_starts(args: argparse.Namespace) -> int:
    """SB3 DQN trains every 4 steps past learning_starts: the value that gives rlrun's step count."""
    learning_starts = args.dqn_steps - 4 * fqi_gradient_steps(args)
    if learning_starts < 0:
        raise SystemExit("--learning-starts: too small for SB3 to match rlrun's gradient steps")
    return learning_starts


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--parts", default="ppo,dqn")
    parser.add_argument(
        "--steps", type=int, default=8192, help="ppo: env steps per run (8 iterations of 1024)"
    )
    parser.add_argument("--dqn-steps", type=int, default=6000)
    parser.add_argument("--learning-starts", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--game", default="Breakout")
    parser.add_argument("--backend", default="gymnasium", choices=["gymnasium", "envpool"])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--sb3-child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.sb3_child:
        return sb3_child(args.sb3_child, args)
    pairs = {"ppo": ("ppo", "ppo"), "dqn": ("fqi", "dqn")}
    with tempfile.TemporaryDirectory() as tmp:
        for part in args.parts.split(","):
            ours, theirs = pairs[part]
            sps: dict[str, list[float]] = {f"rlrun {ours}": [], f"sb3 {theirs}": []}
            for k in range(args.rounds):
                order = [0, 1] if k % 2 == 0 else [1, 0]
                for i in order:
                    if i == 0:
                        sps[f"rlrun {ours}"].append(rlrun(ours, args, Path(tmp)))
                    else:
                        sps[f"sb3 {theirs}"].append(sb3(theirs, args))
                    print(
                        f"  round {k}: " + ", ".join(f"{n} {v[-1]:.1f}" for n, v in sps.items() if v),
                        flush=True,
                    )
            med = {name: statistics.median(v) for name, v in sps.items()}
            for name, value in med.items():
                print(f"{args.game} {name}: training steps/s {value:.1f} (median of {args.rounds})")
            print(f"ratio rlrun {ours} / sb3 {theirs}: {med[f'rlrun {ours}'] / med[f'sb3 {theirs}']:.2f}x")


if __name__ == "__main__":
    main()
