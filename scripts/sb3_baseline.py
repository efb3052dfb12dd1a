"""Stable-Baselines3 with RL Zoo's tuned CartPole-v1 settings, trained until a deterministic
evaluation mean reaches a threshold; the baseline that scripts/bench.py runs as a whole process.

Prints one JSON line: {"algo", "env_steps", "reached", "eval_return_mean", "train_sps"}.
Usage: python scripts/sb3_baseline.py ppo|dqn [--seed 0] [--stop-return 475] [--eval-every 5000]
       [--eval-episodes 10] [--max-steps N] [--threads 1] [--device cpu]
Needs the bench extra (pip install -e ".[bench]").
"""

from __future__ import annotations

import argparse
import json
import time

import torch

# RL Zoo (rl-baselines3-zoo hyperparams/ppo.yml and dqn.yml), CartPole-v1
ZOO = {
    "ppo": dict(n_envs=8, n_timesteps=100_000, n_steps=32, batch_size=256, gae_lambda=0.8, gamma=0.98,
                n_epochs=20, ent_coef=0.0, lr=1e-3, clip=0.2),  # lr and clip annealed linearly to 0
    "dqn": dict(n_envs=1, n_timesteps=50_000, learning_rate=2.3e-3, batch_size=64, buffer_size=100_000,
                learning_starts=1000, gamma=0.99, target_update_interval=10, train_freq=256,
                gradient_steps=128, exploration_fraction=0.16, exploration_final_eps=0.04,
                policy_kwargs=dict(net_arch=[256, 256])),
}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("algo", choices=sorted(ZOO))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--stop-return", type=float, default=475.0)
    parser.add_argument("--eval-every", type=int, default=5000, help="environment steps between evaluations")
    parser.add_argument("--eval-episodes", type=int, default=10)
    parser.add_argument("--max-steps", type=int, default=None, help="default: RL Zoo's n_timesteps")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    from stable_baselines3 import DQN, PPO
    from stable_baselines3.common.callbacks import EvalCallback, StopTrainingOnRewardThreshold
    from stable_baselines3.common.env_util import make_vec_env

    zoo = dict(ZOO[args.algo])
    n_envs, total = zoo.pop("n_envs"), args.max_steps or zoo.pop("n_timesteps")
    zoo.pop("n_timesteps", None)
    envs = make_vec_env("CartPole-v1", n_envs=n_envs, seed=args.seed)
    if args.algo == "ppo":
        lr, clip = zoo.pop("lr"), zoo.pop("clip")
        model = PPO("MlpPolicy", envs, learning_rate=lambda f: lr * f, clip_range=lambda f: clip * f,
                    seed=args.seed, device=args.device, **zoo)  # fmt: skip
    else:
        model = DQN("MlpPolicy", envs, seed=args.seed, device=args.device, **zoo)
    # evaluation: the same protocol as rlrun's (deterministic, eval_episodes envs side by side)
    eval_envs = make_vec_env("CartPole-v1", n_envs=args.eval_episodes, seed=args.seed + 10_000)
    stop = StopTrainingOnRewardThreshold(reward_threshold=args.stop_return, verbose=0)

    class TimedEval(EvalCallback):  # training steps/s leave out evaluation time, as rlrun's do
        seconds = 0.0

        def _on_step(self) -> bool:
            t = time.perf_counter()
            go_on = super()._on_step()
            self.seconds += time.perf_counter() - t
            return go_on

    every = max(args.eval_every // n_envs, 1)  # SB3 counts calls, each a step of n_envs envs
    evaluator = TimedEval(eval_envs, callback_on_new_best=stop, n_eval_episodes=args.eval_episodes,
                          eval_freq=every, deterministic=True, verbose=0)  # fmt: skip
    t0 = time.perf_counter()
    model.learn(total_timesteps=total, callback=evaluator)
    train_s = time.perf_counter() - t0
    mean, steps = float(evaluator.last_mean_reward), int(model.num_timesteps)
    print(json.dumps({
        "algo": f"sb3-{args.algo}", "env_steps": steps, "reached": mean >= args.stop_return,
        "eval_return_mean": mean, "train_sps": round(steps / (train_s - evaluator.seconds), 1),
    }))  # fmt: skip


if __name__ == "__main__":
    main()
