"""The reward PPO optimises in the RLHF case study, put in place of the env's reward before GAE:

    r_t = R(s_t, a_t) - beta (log pi_theta(a_t|s_t) - log pi_ref(a_t|s_t))

R is the env's reward (reward=env) or a learned r_psi (reward=model, reward=preferences); the KL
term (Ziegler et al. 2019) keeps the policy near a reference policy pi_ref (algo.reference, e.g. a
bc run), from which the policy also starts. With algo.reference_kl, beta follows a proportional
controller toward that per-step KL:  beta <- beta (1 + clip(KL / target - 1, -0.2, 0.2) N / horizon).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from rlrun.nets import ActorCritic
from rlrun.rewards.model import RewardModel


def kl_penalized(
    rewards: torch.Tensor, logp: torch.Tensor, logp_ref: torch.Tensor, beta: float
) -> torch.Tensor:
    """r - beta (log pi(a|s) - log pi_ref(a|s)), step by step."""
    return rewards - beta * (logp - logp_ref)


def adapt_beta(beta: float, kl: float, target: float, batch: int, horizon: int) -> float:
    """Ziegler et al.'s proportional controller: raise beta when the KL is above its target,
    lower it when below; the error is clipped to +-20% and weighed by batch / horizon."""
    error = min(max(kl / target - 1.0, -0.2), 0.2)
    return beta * (1.0 + error * batch / horizon)


class RewardShaping:
    """Replaces a rollout's rewards by the learned and/or KL-penalised reward; keeps beta, the
    learned return of the episodes in progress, and (reward=preferences) the preference learner."""

    def __init__(
        self,
        model: RewardModel | None,
        reference: ActorCritic | None,
        beta: float,
        reference_kl: float | None,
        kl_horizon: int,
        learner: Any = None,
    ):
        self.model, self.reference, self.beta = model, reference, beta
        self.reference_kl, self.kl_horizon, self.learner = reference_kl, kl_horizon, learner
        self.running: torch.Tensor | None = None  # learned return of each env's current episode
        self.learned_returns: list[float] = []
        self.last_kl = float("nan")

    def __call__(self, batch: Any, env_steps: int) -> tuple[torch.Tensor, dict[str, float]]:
        """The rewards to train on for a rollout [T, E], and what to log."""
        metrics: dict[str, float] = {}
        rewards = batch.rewards
        if self.learner is not None:  # reward=preferences: label, refit
            metrics |= self.learner.update(batch, env_steps)
        with torch.no_grad():
            return self.shape(batch, rewards, metrics)

    def shape(
        self, batch: Any, rewards: torch.Tensor, metrics: dict[str, float]
    ) -> tuple[torch.Tensor, dict[str, float]]:
        if self.model is not None:
            rewards = self.model(batch.obs.flatten(0, 1), batch.actions.flatten(0, 1)).view_as(rewards)
            metrics |= self.track_learned_return(rewards, batch.terminated | batch.truncated)
        if self.reference is not None:
            logp_ref, _, _ = self.reference.evaluate(batch.obs.flatten(0, 1), batch.actions.flatten(0, 1))
            logp_ref = logp_ref.view_as(rewards)
            rewards = kl_penalized(rewards, batch.logprobs, logp_ref, self.beta)
            self.last_kl = (batch.logprobs - logp_ref).mean().item()
            metrics["rlhf/kl"] = self.last_kl
            metrics["rlhf/beta"] = self.beta
            if self.reference_kl is not None:
                self.beta = adapt_beta(
                    self.beta, self.last_kl, self.reference_kl, rewards.numel(), self.kl_horizon
                )
        return rewards, metrics

    def track_learned_return(self, rewards: torch.Tensor, done: torch.Tensor) -> dict[str, float]:
        """rlhf/learned_return: the mean learned return of the episodes that ended in this rollout."""
        if self.running is None:
            self.running = torch.zeros_like(rewards[0])
        ended = []
        for t in range(len(rewards)):
            self.running += rewards[t]
            ended.append(self.running[done[t]].clone())
            self.running[done[t]] = 0.0
        finished = torch.cat(ended).tolist()
        self.learned_returns = (self.learned_returns + finished)[-100:]
        return {"rlhf/learned_return": sum(finished) / len(finished)} if finished else {}

    def state_dict(self) -> dict[str, Any]:
        return {
            "beta": self.beta,
            "running": self.running,
            "learned_returns": self.learned_returns,
            "last_kl": self.last_kl,
            "learner": None if self.learner is None else self.learner.state_dict(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.beta, self.running = state["beta"], state["running"]
        self.learned_returns, self.last_kl = state["learned_returns"], state["last_kl"]
        if self.learner is not None:
            self.learner.load_state_dict(state["learner"])

    def finish(self, run_dir: Path) -> dict[str, Any]:
        """summary.json's fields (the learned return and the final KL under their own names), and
        the learner's files."""
        summary: dict[str, Any] = {}
        if self.model is not None and self.learned_returns:
            summary["learned_return_mean"] = sum(self.learned_returns) / len(self.learned_returns)
        if self.reference is not None:
            summary["kl_final"] = self.last_kl
            summary["kl_coef_final"] = self.beta
        if self.learner is not None:
            summary |= self.learner.finish(run_dir)
        return summary
