"""The lecture's online actor-critic, in env.num_envs parallel environments:

repeat:
  1. take action a ~ pi_theta(a|s), get (s, a, s', r)       (N transitions: N / num_envs steps per env)
  2. update V_hat_phi using target y = r + gamma V_hat_phi(s')                        (S critic steps)
  3. evaluate A_hat(s, a) = r(s, a) + gamma V_hat_phi(s') - V_hat_phi(s)
  4. grad J(theta) ~ grad log pi_theta(a|s) A_hat(s, a)        (averaged over the N transitions)
  5. theta <- theta + alpha grad J(theta)

With n_steps = n > 1 the targets look further ahead inside the batch:
y_t = r_t + ... + gamma^(k-1) r_t+k-1 + gamma^k V_hat_phi(s_t+k), k <= n. A termination adds no
V_hat after it; a truncation (a time limit) bootstraps from V_hat of the true final observation.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import gymnasium as gym
import torch

from rlrun.algos.base import Build
from rlrun.algos.on_policy import OnPolicyAlgorithm, check_actor_critic, explained_variance
from rlrun.diagnostics import ExactValueError
from rlrun.errors import check_finite
from rlrun.nets import ActorCritic, make_agent
from rlrun.optim import FlatAdam
from rlrun.rollout import n_step_targets, normalize
from rlrun.schema import AlgoSpec, EnvConfig, check_batch_per_env, require


class AC(OnPolicyAlgorithm):
    optimizers = ("actor_optimizer", "critic_optimizer")

    def __init__(
        self,
        cfg: ACConfig,
        envs: gym.vector.VectorEnv,
        agent: ActorCritic,
        device: torch.device,
        seed: int,
        value_check: ExactValueError | None = None,
    ):
        super().__init__(cfg, envs, agent, device, seed, value_check)
        self.actor_optimizer, self.critic_optimizer = agent.optimizers(cfg.lr, cfg.critic_lr)
        self.steps_per_env = cfg.N // envs.num_envs

    def targets(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """y = r + gamma V_hat_phi(s') (n-step), with the critic as it is now."""
        next_values = self.agent.value(batch["next_obs"].flatten(0, 1)).reshape(batch["rewards"].shape)
        return n_step_targets(
            batch["rewards"],
            next_values,
            batch["terminated"],
            batch["truncated"],
            self.cfg.gamma,
            self.cfg.n_steps,
        )

    def clip(self, optimizer: FlatAdam) -> float:
        return optimizer.clip_grad_norm(self.cfg.max_grad_norm).item()

    def iterate(self) -> dict[str, float]:
        cfg = self.cfg
        where = f"at iteration {self.iteration + 1} (step {self.env_steps + cfg.N})"
        steps_before = self.env_steps

        # 1. take action a ~ pi(a|s) in each env, get (s, a, s', r)
        self.agent.eval()
        rollout = self.collector.collect(self.steps_per_env)
        self.env_steps += cfg.N
        self.iteration += 1
        batch = {
            "obs": rollout.obs, "actions": rollout.actions, "next_obs": rollout.next_obs,
            "rewards": rollout.rewards, "terminated": rollout.terminated, "truncated": rollout.truncated,
        }  # fmt: skip
        obs, actions = batch["obs"].flatten(0, 1), batch["actions"].flatten(0, 1)

        # 2. update V_hat_phi using the target r + gamma V_hat_phi(s'), S steps
        self.agent.train()
        for _ in range(cfg.S):
            with torch.no_grad():
                y = self.targets(batch).flatten()
            value_loss = 0.5 * ((self.agent.value(obs) - y) ** 2).mean()
            self.critic_optimizer.zero_grad()
            value_loss.backward()
            value_grad_norm = self.clip(self.critic_optimizer)
            check_finite(
                {"losses/value": value_loss.item(), "losses/value_grad_norm": value_grad_norm}, where
            )
            self.critic_optimizer.step()

        # 3. evaluate A_hat(s, a) = r + gamma V_hat_phi(s') - V_hat_phi(s), with the updated critic
        with torch.no_grad():
            y = self.targets(batch).flatten()
            values = self.agent.value(obs)
            advantages = y - values
            if cfg.norm_adv:
                advantages = normalize(advantages)

        # 4. grad J(theta) ~ grad log pi(a|s) A_hat(s, a)
        dist = self.agent.dist(obs)
        policy_loss = -(dist.log_prob(actions) * advantages).mean()
        entropy = dist.entropy().mean()
        self.actor_optimizer.zero_grad()
        (policy_loss - cfg.ent_coef * entropy).backward()
        grad_norm = self.clip(self.actor_optimizer)
        metrics = {
            "losses/policy": policy_loss.item(),
            "losses/value": value_loss.item(),
            "losses/entropy": entropy.item(),
            "losses/grad_norm": grad_norm,
        }
        check_finite(metrics, where)
        # 5. theta <- theta + alpha grad J(theta)
        self.actor_optimizer.step()

        metrics["diagnostics/explained_variance"] = explained_variance(values, y)
        metrics.update(self.value_error(steps_before))  # tabular envs only
        return metrics


# ---------------------------------------------------------------------------- config and builder


@dataclass
class ACConfig:
    name: str = "ac"
    N: int = 40  # transitions per update (= env.num_envs x steps per env)
    n_steps: int = 5  # targets look n steps ahead (1: the lecture's r + gamma V(s')); <= N / num_envs
    S: int = 1  # critic gradient steps per update
    lr: float = 7e-4  # Adam learning rate of the policy (alpha)
    critic_lr: float = 7e-4  # Adam learning rate of V_hat_phi
    gamma: float = 0.99
    ent_coef: float = 0.0  # weight of the entropy bonus in the policy step
    norm_adv: bool = False  # normalise A_hat over each batch
    max_grad_norm: float | None = 0.5  # clip both gradients' norms (null: no clipping)
    shared: bool = False  # one MLP body under the policy and value heads
    normalize_obs: bool = False
    normalize_reward: bool = False
    encoder: str = "auto"  # auto (cnn for uint8 images, else mlp) | mlp | cnn (Nature DQN's)
    hidden: list[int] = field(default_factory=lambda: [64, 64])
    activation: str = "tanh"
    init_log_std: float = 0.0  # Gaussian policies only


def check(cfg: ACConfig, env: EnvConfig) -> None:
    check_actor_critic(cfg)
    check_batch_per_env(cfg.N, env)
    steps = cfg.N // env.num_envs
    require(
        1 <= cfg.n_steps <= steps,
        "algo.n_steps",
        f"must be in [1, algo.N/env.num_envs={steps}] (targets look ahead within a batch), got {cfg.n_steps}",
    )


def make(cfg: ACConfig, build: Build) -> AC:
    agent = make_agent(cfg, build.envs).to(build.device)
    check = ExactValueError.for_env(build.tabular_model, build.envs, cfg.gamma)
    return AC(cfg, build.envs, agent, build.device, build.seed, check)


SPEC = AlgoSpec("ac", ACConfig, check, make)
