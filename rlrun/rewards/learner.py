"""Learning the reward from preferences alongside the policy (Christiano et al. 2017):

every `reward.every` env steps, while the labelling schedule has comparisons left to ask:
  1. cut segment pairs from the current policy's recent rollouts
  2. have them labelled (the synthetic labeler, from the true return)
  3. refit the reward model on every comparison so far
and the policy keeps training on the refitted reward. A share `reward.initial` of the budget is
labelled at the first iteration, the rest evenly until `reward.label_until` of total_steps.
With reward.labels=FILE the comparisons are a person's, read once, fitted once.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gymnasium as gym
import torch

from rlrun.checkpoint import save_checkpoint
from rlrun.rewards.model import Pairs, RewardModel, fit_reward_model, reward_model_state
from rlrun.rewards.preferences import LABELS_FILE, load_labels, sample_segments, save_labels, synthetic_labels
from rlrun.rewards.schema import RewardConfig

REWARD_MODEL_FILE = "reward_model.pt"
STEP_KEYS = ("obs", "actions", "rewards", "terminated", "truncated")


class PreferenceLearner:
    def __init__(
        self,
        cfg: RewardConfig,
        model: RewardModel,
        spaces: tuple[gym.Space, gym.Space],
        total_steps: int,
        device: torch.device,
        seed: int,
    ):
        self.cfg, self.model, self.spaces, self.total_steps = cfg, model, spaces, total_steps
        self.generator = torch.Generator(device=device).manual_seed(seed + 20_000)
        self.pairs: Pairs | None = load_labels(cfg.labels, device) if cfg.labels else None
        self.returns: torch.Tensor | None = None  # [M, 2] true returns (synthetic labels only)
        self.history: list[dict[str, torch.Tensor]] = []  # the last rollouts, consecutive in time
        self.next_round = 0  # env steps at which the next labelling round is due
        self.fitted = False

    def due(self, env_steps: int) -> int:
        """Comparisons the schedule has asked for by env_steps, in all."""
        share = self.cfg.initial + (1 - self.cfg.initial) * env_steps / (
            self.cfg.label_until * self.total_steps
        )
        return round(self.cfg.comparisons * min(1.0, share))

    def labelled(self) -> int:
        return 0 if self.pairs is None else len(self.pairs)

    def update(self, batch: Any, env_steps: int) -> dict[str, float]:
        """Remember the rollout; when a round is due, label and refit. What to log."""
        if self.cfg.labels:  # a person's comparisons: one fit
            return {} if self.fitted else self.refit()
        self.history = [*self.history, {k: getattr(batch, k) for k in STEP_KEYS}]
        while (
            len(self.history) > 1 and sum(len(h["rewards"]) for h in self.history[1:]) >= 4 * self.cfg.segment
        ):
            self.history.pop(0)  # enough steps for segments of L without the oldest rollout
        due = self.due(env_steps)
        new = due - self.labelled()
        last = due == self.cfg.comparisons  # the schedule's end: label the rest now
        if new <= 0 or (env_steps < self.next_round and not last):
            return {}
        self.next_round = env_steps + self.cfg.every
        steps = {k: torch.cat([h[k] for h in self.history]) for k in STEP_KEYS}
        # 1. segment pairs from the current policy
        segments = sample_segments(steps, self.cfg.segment, 2 * new, self.generator)
        if segments is None:
            return {}
        obs, actions, alive, returns = segments
        # 2. labels from the true returns
        label = synthetic_labels(
            returns[:new], returns[new:], self.cfg.temperature, self.cfg.error, self.generator
        )
        pair = Pairs(*(torch.stack([x[:new], x[new:]], 1) for x in (obs, actions, alive)), label)
        self.pairs = pair if self.pairs is None else Pairs.cat([self.pairs, pair])
        pair_returns = torch.stack([returns[:new], returns[new:]], 1)
        self.returns = pair_returns if self.returns is None else torch.cat([self.returns, pair_returns])
        # 3. refit on every comparison so far
        return self.refit()

    def refit(self) -> dict[str, float]:
        k = torch.arange(self.labelled())
        heldout = (torch.floor((k + 1) * self.cfg.holdout) > torch.floor(k * self.cfg.holdout)).to(
            self.pairs.label.device
        )
        cfg = self.cfg
        metrics = fit_reward_model(
            self.model, self.pairs, heldout, cfg.epochs, cfg.batch, cfg.lr, self.generator, cfg.weight_decay
        )
        self.fitted = True
        return {**metrics, "rlhf/comparisons": float(self.labelled())}

    def state_dict(self) -> dict[str, Any]:
        pairs = None if self.pairs is None else vars(self.pairs)
        return {
            "model": self.model.state_dict(),
            "pairs": pairs,
            "returns": self.returns,
            "history": self.history,
            "next_round": self.next_round,
            "fitted": self.fitted,
            "generator": self.generator.get_state(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.model.load_state_dict(state["model"])
        self.pairs = None if state["pairs"] is None else Pairs(**state["pairs"])
        self.returns, self.history = state["returns"], state["history"]
        self.next_round, self.fitted = state["next_round"], state["fitted"]
        self.generator.set_state(state["generator"].cpu())

    def finish(self, run_dir: Path) -> dict[str, Any]:
        """RUN_DIR/labels.npz (the comparisons, in the labels format) and RUN_DIR/reward_model.pt."""
        if self.pairs is not None:
            save_labels(run_dir / LABELS_FILE, self.pairs, self.returns)
        model = {"algo_name": "reward_model", **reward_model_state(self.model)}
        save_checkpoint(run_dir, model, REWARD_MODEL_FILE)
        return {"comparisons": self.labelled()}
