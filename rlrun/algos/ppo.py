"""Proximal policy optimisation (Schulman et al. 2017), as in the lecture:

repeat:
  1. collect N transitions with pi_theta_old (env.num_envs environments, N / num_envs steps)
  2. estimate advantages A_hat with GAE(lambda), bootstrapping at truncations
  3. K epochs, each of S minibatches: maximise the clipped surrogate
     L = E[min(r_t A_t, clip(r_t, 1-eps, 1+eps) A_t)],   r_t = pi_theta(a|s) / pi_theta_old(a|s)
     minus vf_coef * value loss, plus ent_coef * entropy

RLHF (reward=model|preferences, algo.reference): between 1 and 2 the env's reward is replaced by
r_psi(s, a) - beta (log pi_theta(a|s) - log pi_ref(a|s)) (rlrun/rewards/shaping.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gymnasium as gym
import torch

from rlrun.algos.base import Build
from rlrun.algos.on_policy import OnPolicyAlgorithm, explained_variance
from rlrun.errors import check_finite_rows
from rlrun.nets import ENCODERS, ActorCritic, make_agent
from rlrun.optim import FlatAdam, FlatParameters, linear_decay
from rlrun.rewards.build import make_shaping
from rlrun.rewards.shaping import RewardShaping
from rlrun.rollout import gae, normalize
from rlrun.schema import (
    AlgoSpec,
    EnvConfig,
    check_batch_per_env,
    check_choice,
    check_finite,
    check_gamma,
    check_network,
    check_optional_positive,
    check_positive,
    check_unit_interval,
    require,
)


def clipped_surrogate(
    logp: torch.Tensor, logp_old: torch.Tensor, advantages: torch.Tensor, clip: float
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The PPO policy loss -E[min(r A, clip(r, 1-eps, 1+eps) A)]; also approx-KL and clip fraction."""
    log_ratio = logp - logp_old
    ratio = log_ratio.exp()
    unclipped = ratio * advantages
    clipped = ratio.clamp(1 - clip, 1 + clip) * advantages
    loss = -torch.min(unclipped, clipped).mean()
    with torch.no_grad():
        approx_kl = ((ratio - 1) - log_ratio).mean()  # low-variance KL(old || new) estimator
        clipfrac = ((ratio - 1).abs() > clip).float().mean()
    return loss, approx_kl, clipfrac


def value_loss(
    values: torch.Tensor, returns: torch.Tensor, values_old: torch.Tensor, clip: float | None
) -> torch.Tensor:
    """1/2 E[(V - R)^2]; with `clip`, the pessimistic max over the update clipped around V_old."""
    if clip is None:
        return 0.5 * torch.nn.functional.mse_loss(values, returns)
    clipped = values_old + (values - values_old).clamp(-clip, clip)
    return 0.5 * torch.max((values - returns) ** 2, (clipped - returns) ** 2).mean()


class PPO(OnPolicyAlgorithm):
    optimizers = ("optimizer",)

    def __init__(
        self,
        cfg: PPOConfig,
        envs: gym.vector.VectorEnv,
        agent: ActorCritic,
        device: torch.device,
        total_steps: int,
        seed: int,
        shaping: RewardShaping | None = None,
    ):
        super().__init__(cfg, envs, agent, device, seed)
        self.shaping = shaping
        self.optimizer = FlatAdam(FlatParameters(agent), lr=cfg.lr, eps=1e-5)
        self.steps_per_env = cfg.N // envs.num_envs
        self.num_iterations = -(-total_steps // cfg.N)  # ceil: the last batch may pass total_steps

    def iterate(self) -> dict[str, float]:
        cfg = self.cfg
        done = self.iteration / self.num_iterations  # of the run's iterations, before this one
        if cfg.anneal_lr:
            self.optimizer.lr = linear_decay(cfg.lr, done)
        clip = linear_decay(cfg.clip, done) if cfg.anneal_clip else cfg.clip

        # 1. collect N transitions with the current policy
        self.agent.eval()
        batch = self.collector.collect(self.steps_per_env)
        self.env_steps += cfg.N
        self.iteration += 1
        rlhf: dict[str, float] = {}
        if self.shaping is not None:  # RLHF: the learned reward, less beta times the KL to pi_ref
            batch.rewards, rlhf = self.shaping(batch, self.env_steps)

        # 2. advantages by GAE(lambda); returns are the value targets
        advantages, returns = gae(
            batch.rewards, batch.values, batch.next_values,
            batch.terminated, batch.truncated, cfg.gamma, cfg.gae_lambda,
        )  # fmt: skip
        flat = {
            "obs": batch.obs.flatten(0, 1),
            "actions": batch.actions.flatten(0, 1),
            "logprobs": batch.logprobs.flatten(0, 1),
            "values": batch.values.flatten(0, 1),
            "advantages": advantages.flatten(0, 1),
            "returns": returns.flatten(0, 1),
        }

        # 3. K epochs of S minibatches on the clipped objective
        self.agent.train()
        minibatch = cfg.N // cfg.S
        tags = [f"losses/{k}" for k in ("policy", "value", "entropy", "approx_kl", "clipfrac", "grad_norm")]
        stats: list[torch.Tensor] = []
        if cfg.norm_adv and cfg.S == 1:  # the minibatch is the whole batch: normalise once
            flat["advantages"] = normalize(flat["advantages"])
        for _epoch in range(cfg.K):
            order = torch.randperm(cfg.N, device=self.device) if cfg.S > 1 else None
            for start in range(0, cfg.N, minibatch):
                rows = None if order is None else order[start : start + minibatch]
                mb = flat if rows is None else {k: v[rows] for k, v in flat.items()}
                approx_kl, row = self.minibatch_step(mb, clip)
                stats.append(row)
            if cfg.target_kl is not None and approx_kl > cfg.target_kl:
                break  # the policy moved far enough from pi_old for this batch

        # checked once per iteration, not per minibatch: one host sync (this matters on a GPU)
        stats = check_finite_rows(stats, tags, f"at iteration {self.iteration} (step {self.env_steps})")
        metrics = dict(zip(tags, stats.mean(0).tolist(), strict=True))
        metrics["charts/learning_rate"] = self.optimizer.lr
        metrics["charts/clip"] = clip
        metrics["diagnostics/explained_variance"] = explained_variance(flat["values"], flat["returns"])
        return metrics | rlhf

    def minibatch_step(self, mb: dict[str, torch.Tensor], clip: float) -> tuple[torch.Tensor, torch.Tensor]:
        """One gradient step on the clipped objective of a minibatch; its approx-KL and its
        statistics (policy, value and entropy losses, approx-KL, clip fraction, gradient norm)."""
        cfg = self.cfg
        adv = normalize(mb["advantages"]) if cfg.norm_adv and cfg.S > 1 else mb["advantages"]
        logp, entropy, values = self.agent.evaluate(mb["obs"], mb["actions"])
        policy_loss, approx_kl, clipfrac = clipped_surrogate(logp, mb["logprobs"], adv, clip)
        v_loss = value_loss(values, mb["returns"], mb["values"], clip if cfg.clip_vloss else None)
        entropy = entropy.mean()
        loss = policy_loss + cfg.vf_coef * v_loss
        if cfg.ent_coef:  # (with 0, backward need not run through the entropy)
            loss = loss - cfg.ent_coef * entropy

        self.optimizer.zero_grad()
        loss.backward()
        grad_norm = self.optimizer.clip_grad_norm(cfg.max_grad_norm)
        self.optimizer.step()
        return approx_kl, torch.stack([policy_loss, v_loss, entropy, approx_kl, clipfrac, grad_norm]).detach()

    def state_dict(self) -> dict[str, Any]:
        return super().state_dict() | ({"shaping": self.shaping.state_dict()} if self.shaping else {})

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        if self.shaping is not None:
            self.shaping.load_state_dict(state["shaping"])

    def finish(self, run_dir: Path) -> dict[str, Any]:
        return {} if self.shaping is None else self.shaping.finish(run_dir)


# ---------------------------------------------------------------------------- config and builder


@dataclass
class PPOConfig:
    name: str = "ppo"
    N: int = 2048  # transitions collected per iteration (= env.num_envs x steps per env)
    K: int = 10  # epochs over each batch
    S: int = 32  # minibatches per epoch
    lr: float = 3e-4
    anneal_lr: bool = True  # linear decay of lr to 0 over total_steps
    gamma: float = 0.99
    gae_lambda: float = 0.95
    clip: float = 0.2  # epsilon of the clipped surrogate
    anneal_clip: bool = False  # linear decay of clip to 0 over total_steps (RL Zoo's lin_0.2)
    clip_vloss: bool = False
    vf_coef: float = 0.5
    ent_coef: float = 0.0
    max_grad_norm: float = 0.5
    target_kl: float | None = None  # stop an iteration's epochs early once approx-KL exceeds it
    norm_adv: bool = True
    normalize_obs: bool = False
    clip_obs: float = 10.0  # normalised observations clipped to [-clip_obs, clip_obs]
    normalize_reward: bool = False
    clip_reward: float | None = 10.0  # normalised rewards clipped to [-clip_reward, clip_reward] (null: not)
    encoder: str = "auto"  # auto (cnn for uint8 images, else mlp) | mlp | cnn (Nature DQN's)
    hidden: list[int] = field(default_factory=lambda: [64, 64])
    activation: str = "tanh"
    init_log_std: float = 0.0  # Gaussian policies only
    # RLHF: start from a run dir's policy and penalise the KL to it, r - kl_coef (log pi - log pi_ref)
    reference: str | None = None
    kl_coef: float = 0.0  # beta
    reference_kl: float | None = None  # a per-step KL to steer beta toward (null: beta fixed)
    kl_horizon: int = 10000  # the controller's horizon in env steps (Ziegler et al.: 10000)


def check(cfg: PPOConfig, env: EnvConfig) -> None:
    check_finite(cfg, "algo.")
    check_positive(cfg, "N", "K", "S", "lr", "max_grad_norm")
    check_gamma(cfg)
    check_unit_interval(cfg, "gae_lambda")
    require(0 < cfg.clip < 1, "algo.clip", f"must be in (0, 1), got {cfg.clip}")
    require(cfg.vf_coef >= 0, "algo.vf_coef", f"must be >= 0, got {cfg.vf_coef}")
    require(cfg.ent_coef >= 0, "algo.ent_coef", f"must be >= 0, got {cfg.ent_coef}")
    check_optional_positive(cfg, "target_kl", "reference_kl")
    check_positive(cfg, "kl_horizon")
    require(cfg.kl_coef >= 0, "algo.kl_coef", f"must be >= 0, got {cfg.kl_coef}")
    if cfg.reference_kl is not None or cfg.kl_coef > 0:
        key = "algo.reference_kl" if cfg.reference_kl is not None else "algo.kl_coef"
        require(bool(cfg.reference), key, "needs algo.reference=RUN_DIR (the policy to stay near)")
    check_network(cfg)
    check_choice(cfg, "encoder", ENCODERS)
    check_positive(cfg, "clip_obs")
    check_optional_positive(cfg, "clip_reward")
    check_batch_per_env(cfg.N, env)
    require(cfg.N % cfg.S == 0, "algo.S", f"must divide algo.N={cfg.N} into equal minibatches, got {cfg.S}")


def make(cfg: PPOConfig, build: Build) -> PPO:
    agent = make_agent(cfg, build.envs).to(build.device)
    shaping = make_shaping(build.reward, cfg, agent, build)  # RLHF; None: the env's reward
    return PPO(cfg, build.envs, agent, build.device, build.total_steps, build.seed, shaping)


SPEC = AlgoSpec("ppo", PPOConfig, check, make)
