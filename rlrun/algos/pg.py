"""REINFORCE, the lecture's policy gradient, with reward-to-go and a baseline:

repeat:
  1. sample {tau_i}, i = 1..N, from pi_theta(a|s)         (N whole trajectories, env.num_envs at a time)
  2. grad J(theta) ~ 1/N sum_i sum_t grad log pi_theta(a_it|s_it) (Q_hat_it - b_it)
       Q_hat_it = sum_{t'>=t} gamma^(t'-t) r_it'          reward "to go" (reward_to_go=true)
              or  sum_t' gamma^t' r_it' = r(tau_i)        the whole trajectory's return (false)
       b_it = 0 (baseline=none), the mean of Q_hat over the batch's other trajectories (mean), or
              V_hat_phi(s_it) (value)
  3. theta <- theta + alpha grad J(theta)
and with baseline=value, fit V_hat_phi by supervised regression, S gradient steps on
     L(phi) = 1/2 sum_it ||V_hat_phi(s_it) - y_it||^2,
     y_it = sum_{t'>=t} gamma^(t'-t) r_it' (value_target=mc)  or  r_it + gamma V_hat_phi(s_it+1) (bootstrap).

That sum is the estimator, as it stands, by default. Its expectation with reward-to-go is
E[sum_t grad log pi(a_t|s_t) Q^pi(s_t, a_t)], which is not the gradient of the discounted
objective J = E[sum_t gamma^t r_t] when gamma < 1 (step t lacks a factor gamma^t);
discount_weights=true weights step t by gamma^t, and then it is. A baseline never depends on
the actions of the trajectory it is subtracted from (the mean leaves that trajectory out; V_hat_phi
is fitted on earlier batches), so every baseline keeps the estimator's expectation; norm_adv only
rescales the weights (it never centres them, which would put a batch-mean baseline under any choice).

A time limit is not part of the task: where one cuts an episode, a run with a critic bootstraps
the returns from V_hat_phi(final observation); a termination ends them.
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
from rlrun.rollout import (
    Rollout,
    discounted_returns,
    episode_ids,
    gae,
    n_step_targets,
    normalize,
    steps_into_episode,
    trajectory_returns,
)
from rlrun.schema import AlgoSpec, EnvConfig, check_choice, require


def leave_one_out_mean(q_hat: torch.Tensor, valid: torch.Tensor, episode: torch.Tensor) -> torch.Tensor:
    """b_it = the mean of Q_hat over the valid steps of every trajectory but i (0 where there is no
    other). The plain batch mean would include trajectory i's own returns, which depend on its
    actions: a bias of order 1/N (about 5% at N = 16 on tests/test_pg_exact_gradient.py's MDP)."""
    ids, inverse = torch.unique(episode[valid], return_inverse=True)
    q = q_hat[valid].double()  # totals minus parts: keep the difference exact
    sums = torch.zeros(len(ids), dtype=q.dtype, device=q.device).index_add_(0, inverse, q)
    counts = torch.bincount(inverse, minlength=len(ids))
    others = counts.sum() - counts
    b = torch.where(others > 0, (sums.sum() - sums) / others.clamp(min=1), 0.0)
    out = torch.zeros_like(q_hat)
    out[valid] = b[inverse].to(q_hat.dtype)
    return out


class PG(OnPolicyAlgorithm):
    optimizers = ("actor_optimizer", "critic_optimizer")

    def __init__(
        self,
        cfg: PGConfig,
        envs: gym.vector.VectorEnv,
        agent: ActorCritic,
        device: torch.device,
        seed: int,
        value_check: ExactValueError | None = None,
    ):
        super().__init__(cfg, envs, agent, device, seed, value_check)
        self.actor_optimizer, self.critic_optimizer = agent.optimizers(cfg.lr, cfg.critic_lr)

    # ------------------------------------------------------------------ the estimator's pieces

    def sample(self) -> Rollout:
        """1. sample N trajectories from pi_theta; every simulated step counts as an env step."""
        self.agent.eval()
        batch = self.collector.collect_episodes(self.cfg.N)
        self.env_steps += batch.rewards.numel()
        return batch

    def q_hat(self, batch: Rollout) -> torch.Tensor:
        """Q_hat_it: the discounted reward-to-go, or the whole trajectory's return."""
        cfg = self.cfg
        with_critic = cfg.baseline == "value"
        bootstrap = batch.next_values if with_critic else torch.zeros_like(batch.rewards)
        returns = discounted_returns if cfg.reward_to_go else trajectory_returns
        return returns(batch.rewards, batch.terminated, batch.truncated, bootstrap, cfg.gamma)

    def advantages(self, batch: Rollout) -> torch.Tensor:
        """Q_hat_it - b_it for every step of the batch (valid or not), or GAE(lambda)'s A_hat_it.
        V_hat_phi is the critic as it was when the batch was sampled, fitted on earlier batches
        only, so the baseline does not depend on this batch's actions."""
        cfg = self.cfg
        if cfg.gae_lambda is not None:
            advantages, _ = gae(
                batch.rewards, batch.values, batch.next_values,
                batch.terminated, batch.truncated, cfg.gamma, cfg.gae_lambda,
            )  # fmt: skip
            return advantages
        q_hat = self.q_hat(batch)
        if cfg.baseline == "value":
            return q_hat - batch.values
        if cfg.baseline == "mean":
            episode = episode_ids(batch.terminated, batch.truncated)
            return q_hat - leave_one_out_mean(q_hat, batch.valid, episode)
        return q_hat

    def weights(self, batch: Rollout) -> torch.Tensor:
        """The weight of grad log pi(a_it|s_it): Q_hat_it - b_it, times gamma^t with
        discount_weights (t: the step's index in its episode), divided by the batch's RMS with
        norm_adv (scale only: centring would subtract a batch mean, whatever the baseline)."""
        weights = self.advantages(batch)
        if self.cfg.discount_weights:
            t = steps_into_episode(batch.terminated, batch.truncated)
            weights = weights * self.cfg.gamma ** t.to(weights.dtype)
        if self.cfg.norm_adv:
            weights = weights.clone()
            weights[batch.valid] = normalize(weights[batch.valid], center=False)
        return weights

    def surrogate(self, batch: Rollout, weights: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The loss whose gradient is -grad J: -1/N sum_i sum_t log pi(a_it|s_it) weight_it; and the
        mean entropy."""
        valid = batch.valid
        dist = self.agent.dist(batch.obs[valid])
        logp = dist.log_prob(batch.actions[valid])
        return -(logp * weights[valid]).sum() / self.cfg.N, dist.entropy().mean()

    def value_targets(self, batch: Rollout) -> torch.Tensor:
        """y_it for the critic's regression: Monte Carlo reward-to-go, or r + gamma V_hat_phi(s')."""
        cfg = self.cfg
        if cfg.value_target == "bootstrap":
            return n_step_targets(
                batch.rewards, batch.next_values, batch.terminated, batch.truncated, cfg.gamma, 1
            )
        return discounted_returns(
            batch.rewards, batch.terminated, batch.truncated, batch.next_values, cfg.gamma
        )

    def fit_critic(self, batch: Rollout) -> float:
        """S gradient steps of L(phi) = 1/2 mean ||V_hat_phi(s) - y||^2 over the batch's steps."""
        valid = batch.valid
        obs, targets = batch.obs[valid], self.value_targets(batch)[valid]
        loss_value = float("nan")
        for _ in range(self.cfg.S):
            loss = 0.5 * ((self.agent.value(obs) - targets) ** 2).mean()
            self.critic_optimizer.zero_grad()
            loss.backward()
            grad_norm = self.critic_optimizer.clip_grad_norm(None)
            loss_value = loss.item()
            check_finite(
                {"losses/value": loss_value, "losses/value_grad_norm": grad_norm.item()},
                f"at iteration {self.iteration} (step {self.env_steps})",
            )
            self.critic_optimizer.step()
        return loss_value

    # ------------------------------------------------------------------ the loop

    def iterate(self) -> dict[str, float]:
        cfg = self.cfg
        steps_before = self.env_steps
        # 1. sample {tau_i} from pi_theta(a|s)
        batch = self.sample()
        self.iteration += 1

        # 2. grad J(theta) ~ 1/N sum_i sum_t grad log pi(a_it|s_it) (Q_hat_it - b_it)
        self.agent.train()
        weights = self.weights(batch)
        policy_loss, entropy = self.surrogate(batch, weights)
        loss = policy_loss - cfg.ent_coef * entropy
        self.actor_optimizer.zero_grad()
        loss.backward()
        grad_norm = self.actor_optimizer.clip_grad_norm(cfg.max_grad_norm)
        metrics = {"losses/policy": policy_loss.item(), "losses/entropy": entropy.item()}
        metrics["losses/grad_norm"] = grad_norm.item()
        check_finite(metrics, f"at iteration {self.iteration} (step {self.env_steps})")
        # 3. theta <- theta + alpha grad J(theta)
        self.actor_optimizer.step()

        # fit V_hat_phi (baseline=value), S regression steps
        if cfg.baseline == "value":
            metrics["losses/value"] = self.fit_critic(batch)
            targets, values = self.value_targets(batch)[batch.valid], batch.values[batch.valid]
            metrics["diagnostics/explained_variance"] = explained_variance(values, targets)
            metrics.update(self.value_error(steps_before))  # tabular envs only
        metrics["diagnostics/valid_fraction"] = batch.valid.float().mean().item()
        return metrics

    def restart_episodes(self) -> None:
        self.collector.resets = 0  # fresh envs: seed them again


# ---------------------------------------------------------------------------- config and builder


@dataclass
class PGConfig:
    name: str = "pg"
    N: int = 16  # trajectories sampled per update
    S: int = 10  # critic gradient steps per update (baseline=value)
    lr: float = 3e-3  # Adam learning rate of the policy (alpha)
    critic_lr: float = 3e-3  # Adam learning rate of V_hat_phi
    gamma: float = 0.99
    reward_to_go: bool = True  # Q_hat_t = sum_{t'>=t} (true) or the whole-trajectory return (false)
    baseline: str = "value"  # none | mean (of the other trajectories' Q_hat) | value (a fitted V_hat_phi(s))
    value_target: str = "mc"  # the critic's regression target: mc (returns) | bootstrap (r + gamma V(s'))
    gae_lambda: float | None = None  # A_hat by GAE(lambda) instead of Q_hat - V_hat (baseline=value)
    discount_weights: bool = False  # weight step t by gamma^t: the gradient of E[sum_t gamma^t r_t]
    norm_adv: bool = False  # divide the weights of grad log pi by their RMS over each batch (no centring)
    ent_coef: float = 0.0
    max_grad_norm: float | None = None  # clip the policy gradient's norm (null: no clipping)
    normalize_obs: bool = False
    normalize_reward: bool = False
    encoder: str = "auto"  # auto (cnn for uint8 images, else mlp) | mlp | cnn (Nature DQN's)
    hidden: list[int] = field(default_factory=lambda: [64, 64])
    activation: str = "tanh"
    init_log_std: float = 0.0  # Gaussian policies only


def check(cfg: PGConfig, env: EnvConfig) -> None:
    check_actor_critic(cfg)
    check_choice(cfg, "baseline", ("none", "mean", "value"))
    check_choice(cfg, "value_target", ("mc", "bootstrap"))
    if cfg.gae_lambda is not None:
        lam = cfg.gae_lambda
        require(0 <= lam <= 1, "algo.gae_lambda", f"must be in [0, 1] or null, got {lam}")
        require(cfg.baseline == "value", "algo.gae_lambda", "needs algo.baseline=value (GAE needs V_hat)")
        require(cfg.reward_to_go, "algo.gae_lambda", "needs algo.reward_to_go=true (GAE sums from t on)")
    if cfg.discount_weights:
        require(
            cfg.reward_to_go,
            "algo.discount_weights",
            "needs algo.reward_to_go=true (the whole return r(tau) already discounts from the start)",
        )


def make(cfg: PGConfig, build: Build) -> PG:
    agent = make_agent(cfg, build.envs).to(build.device)
    with_critic = cfg.baseline == "value"  # without a critic there is nothing to check
    check = ExactValueError.for_env(build.tabular_model, build.envs, cfg.gamma) if with_critic else None
    return PG(cfg, build.envs, agent, build.device, build.seed, check)


SPEC = AlgoSpec("pg", PGConfig, check, make)
