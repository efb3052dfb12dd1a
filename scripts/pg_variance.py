"""The variance of pg's gradient estimate, per option, from one fixed policy on a small tabular MDP.

The lecture claims that a baseline lowers the variance of the policy gradient estimator and that
reward-to-go lowers it against the whole trajectory's return. This script samples batches of N
trajectories with pg's own collector, all from the same fixed policy, and computes on each batch
the estimate 1/N sum_i sum_t grad log pi(a_it|s_it) (Q_hat_it - b_it) of every option (reward-to-go
or whole return; baseline none, mean, value) on the same batches; then it prints the trace of the
covariance of the estimate across batches (the sum of its per-coordinate variances) and its ratio
to baseline=none, and to the lecture's first estimator (whole return, no baseline).

baseline=value uses pg's critic, fitted by pg's own regression (algo.S steps at algo.critic_lr
on each of --fit-batches batches, the policy held fixed); the row "value (exact V^pi)" uses the exact V^pi of
the env's model instead (a linear critic only: algo.hidden=[]; gamma < 1 only).

    python scripts/pg_variance.py                                  # RandomMDP, 20 states, gamma 0.9
    python scripts/pg_variance.py env=FrozenLake algo.gamma=0.99   # any rlrun override
    python scripts/pg_variance.py --reward-offset 5                # returns with a common offset
    python scripts/pg_variance.py --batches 400 --logit-scale 2
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import math
import time

import gymnasium as gym
import torch

from rlrun import bellman
from rlrun.algos.pg import PG
from rlrun.collect import compose_run
from rlrun.envs import make_vector_env
from rlrun.envs.tabular import tabular_model
from rlrun.nets import ActorCritic, make_agent
from rlrun.rollout import Rollout

DEFAULTS = ["algo=pg", "env.num_envs=16", "algo.N=16", "algo.hidden=[]", "algo.gamma=0.9", "device=cpu"]
DEFAULT_ENV = ["env=RandomMDP", "env.states=20"]  # unless an env= override chooses another


def with_critic(batch: Rollout, agent: ActorCritic) -> Rollout:
    """The batch with V(s) and V(s') from another critic (0 after a termination, as collected)."""
    with torch.no_grad():
        values = agent.value(batch.obs.flatten(0, 1)).view_as(batch.rewards)
        next_values = agent.value(batch.next_obs.flatten(0, 1)).view_as(batch.rewards)
    return dataclasses.replace(
        batch, values=values, next_values=torch.where(batch.terminated, 0.0, next_values)
    )


def gradient(algo: PG, batch: Rollout) -> torch.Tensor:
    """pg's estimate of grad J on the batch, as one flat vector (the actor's parameters)."""
    loss, _ = algo.surrogate(batch, algo.weights(batch))  # -1/N sum_i sum_t log pi(a|s) weight
    params = list(algo.agent.actor.parameters())
    return -torch.cat([g.flatten() for g in torch.autograd.grad(loss, params)]).double()


def trace_and_se(estimates: torch.Tensor) -> tuple[float, float]:
    """trace Cov = E||g - E g||^2 across batches, and the standard error of that estimate."""
    squared = ((estimates - estimates.mean(0)) ** 2).sum(1) * len(estimates) / (len(estimates) - 1)
    return squared.mean().item(), squared.std().item() / math.sqrt(len(estimates))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "overrides",
        nargs="*",
        help="rlrun overrides, after the defaults: " + " ".join(DEFAULTS + DEFAULT_ENV),
    )
    parser.add_argument("--batches", type=int, default=200, help="batches of N trajectories to measure on")
    parser.add_argument("--fit-batches", type=int, default=200, help="batches to fit the critic on first")
    parser.add_argument(
        "--logit-scale", type=float, default=1.0, help="std of the fixed policy's random logits"
    )
    parser.add_argument(
        "--reward-offset", type=float, default=0.0,
        help="add this to every reward (RandomMDP: every episode lasts its time limit, so the gradient "
        "is unchanged and only the variance grows, which is what a baseline is for)",
    )  # fmt: skip
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    chosen = any(o.startswith("env=") for o in args.overrides)
    run = compose_run([*DEFAULTS, *([] if chosen else DEFAULT_ENV), *args.overrides])
    torch.manual_seed(args.seed)
    torch.set_num_threads(1)
    device = torch.device("cpu")
    envs = make_vector_env(run.env, run.env.num_envs)
    if args.reward_offset:
        envs = gym.wrappers.vector.TransformReward(envs, lambda r: r + args.reward_offset)
    agent = make_agent(run.algo, envs)
    with torch.no_grad():  # a fixed policy with something to learn: random logits
        last = agent.actor[-1]
        last.weight.normal_(0.0, args.logit_scale)
        last.bias.zero_()
    base = dataclasses.replace(run.algo, norm_adv=False, discount_weights=False, gae_lambda=None)
    # Q_hat: reward-to-go; reward-to-go with discount_weights (at gamma < 1: then the same target,
    # the discounted objective's gradient, as the whole return); the whole trajectory's return
    kinds = {"reward-to-go": (True, False), "to-go x gamma^t": (True, True), "whole return": (False, False)}
    if base.gamma == 1:
        del kinds["to-go x gamma^t"]

    def pg(kind: str, baseline: str, on: ActorCritic) -> PG:
        rtg, discount = kinds[kind]
        cfg = dataclasses.replace(base, reward_to_go=rtg, discount_weights=discount, baseline=baseline)
        return PG(cfg, envs, on, device, args.seed)

    algos = {(kind, b): pg(kind, b, agent) for kind in kinds for b in ("none", "mean", "value")}
    # made last: each pg re-points the agent's parameters into its optimizers' own flat buffer
    sampler = pg("reward-to-go", "value", agent)

    # the critic V_hat_phi by pg's own regression, the policy held fixed
    for _ in range(args.fit_batches):
        sampler.fit_critic(sampler.sample())

    # the exact V^pi from the model, for a linear critic (one-hot states)
    exact_agent, value_error, V_size = None, float("nan"), float("nan")
    # (at gamma = 1 the time limit makes the value depend on the step: no V^pi(s) to compare with)
    if isinstance(envs.single_observation_space, gym.spaces.Discrete) and base.gamma < 1:
        model = tabular_model(run.env, device)
        model.R += args.reward_offset
        states = torch.arange(model.num_states)
        with torch.no_grad():
            probs = agent.dist(states).probs.double()
            try:
                V_pi = bellman.evaluate_policy(model.P, model.R, probs, base.gamma)
                d = bellman.discounted_visitation(model.P, model.start, probs, base.gamma)
            except torch.linalg.LinAlgError:  # gamma = 1 and episodes that need not end
                V_pi = None
            if V_pi is not None:
                V_hat = agent.value(states).double()
                value_error = torch.sqrt((d * (V_hat - V_pi) ** 2).sum()).item()
                V_size = torch.sqrt((d * V_pi**2).sum()).item()
        if V_pi is not None and not run.algo.hidden:
            exact_agent = copy.deepcopy(agent)
            with torch.no_grad():
                exact_agent.critic[0].weight.copy_(V_pi.float()[None])
                exact_agent.critic[0].bias.zero_()
            for kind in kinds:
                algos[(kind, "value (exact V^pi)")] = pg(kind, "value", exact_agent)

    start = time.perf_counter()
    grads: dict[tuple[str, str], list[torch.Tensor]] = {key: [] for key in algos}
    steps = 0
    for _ in range(args.batches):
        batch = sampler.sample()
        steps += int(batch.valid.sum())
        exact_batch = with_critic(batch, exact_agent) if exact_agent is not None else None
        for key, algo in algos.items():
            grads[key].append(gradient(algo, exact_batch if "exact" in key[1] else batch))
    wall = time.perf_counter() - start

    print(
        f"pg's gradient estimate across {args.batches} batches of N={base.N} trajectories from one fixed "
        f"policy (logits ~ N(0, {args.logit_scale}^2)): {run.env.id}, gamma {base.gamma}, "
        f"reward offset {args.reward_offset:g}, "
        f"{steps / (args.batches * base.N):.1f} steps per trajectory, "
        f"{sum(p.numel() for p in agent.actor.parameters())} policy parameters ({wall:.0f} s)"
    )
    print(
        f"critic fitted on {args.fit_batches} batches: RMS error against V^pi {value_error:.3f}, "
        f"RMS of V^pi {V_size:.3f} (weighted by the discounted state distribution)"
    )
    header = (
        f"{'Q_hat':16s} {'baseline':19s} {'trace Cov':>10s} {'+- se':>8s} {'/ none':>7s} "
        f"{'/ whole,none':>12s} {'|mean|':>8s} {'trace/|mean|^2':>14s}"
    )
    print(header)
    print("-" * len(header))
    stacked = {key: torch.stack(values) for key, values in grads.items()}
    first = trace_and_se(stacked[("whole return", "none")])[0]
    for (kind, baseline), g in stacked.items():
        trace, se = trace_and_se(g)
        none = trace_and_se(stacked[(kind, "none")])[0]
        size = g.mean(0).norm().item()
        print(
            f"{kind:16s} {baseline:19s} {trace:10.4g} {se:8.2g} {trace / none:7.3f} {trace / first:12.3f} "
            f"{size:8.4f} {trace / size**2:14.3f}"
        )
    envs.close()


if __name__ == "__main__":
    main()
