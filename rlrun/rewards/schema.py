"""The `reward` config group (stdlib only): which reward the algorithm trains on.

- reward=env: the environment's reward (the default).
- reward=model: a fitted reward model r_psi(s, a), read from a run dir (reward.model=RUN_DIR).
- reward=preferences: the whole loop of Christiano et al. (2017) from comparisons only: segments
  from the current policy, labels (synthetic, from the true return, or a labels file), a reward
  model refitted as labels come in, the policy trained on it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from rlrun.schema import check_finite, require

REWARDS = ("env", "model", "preferences")


@dataclass
class RewardConfig:
    name: str = "env"  # env | model | preferences
    model: str | None = None  # reward=model: a run dir holding reward_model.pt
    comparisons: int = 1000  # the labelling budget: segment pairs labelled over the whole run
    segment: int = 25  # L: steps per segment
    initial: float = 0.25  # share of the budget labelled from the first policy, before any training
    label_until: float = 0.5  # the rest is labelled evenly until this share of total_steps
    every: int = 10000  # env steps between labelling rounds (each refits the reward model)
    labels: str | None = None  # a labels .npz (rlrun/rewards/preferences.py) used instead of the labeler
    temperature: float = 0.0  # the synthetic labeler's rationality: P(1>2) = sigmoid((R1-R2)/T); 0: exact
    error: float = 0.1  # the synthetic labeler answers at random this often (Christiano: 10%)
    ensemble: int = 3  # reward models fitted on bootstrap resamples, averaged
    hidden: list[int] = field(default_factory=lambda: [64, 64])
    lr: float = 0.001
    weight_decay: float = 0.01  # L2 penalty on the reward model's weights (Christiano et al. use one)
    epochs: int = 20  # passes over the comparisons at each refit
    batch: int = 64  # comparisons per gradient step
    holdout: float = 0.2  # share of comparisons kept out of fitting to measure accuracy


def check_reward(cfg: RewardConfig) -> None:
    check_finite(cfg, "reward.")
    names = ", ".join(REWARDS)
    require(cfg.name in REWARDS, "reward.name", f"must be one of {names}, got {cfg.name!r}")
    if cfg.name == "model":
        require(bool(cfg.model), "reward.model", "reward=model needs a run dir holding reward_model.pt")
    for key in ("comparisons", "segment", "every", "ensemble", "epochs", "batch"):
        value = getattr(cfg, key)
        require(value > 0, f"reward.{key}", f"must be an integer > 0, got {value}")
    require(0 < cfg.initial <= 1, "reward.initial", f"must be in (0, 1], got {cfg.initial}")
    require(0 < cfg.label_until <= 1, "reward.label_until", f"must be in (0, 1], got {cfg.label_until}")
    require(cfg.temperature >= 0, "reward.temperature", f"must be >= 0, got {cfg.temperature}")
    require(0 <= cfg.error <= 1, "reward.error", f"must be in [0, 1], got {cfg.error}")
    require(cfg.lr > 0, "reward.lr", f"must be > 0, got {cfg.lr}")
    require(cfg.weight_decay >= 0, "reward.weight_decay", f"must be >= 0, got {cfg.weight_decay}")
    require(0 <= cfg.holdout < 1, "reward.holdout", f"must be in [0, 1), got {cfg.holdout}")
    require(all(h > 0 for h in cfg.hidden), "reward.hidden", f"sizes must be > 0, got {cfg.hidden}")


def check_reward_run(reward: RewardConfig, algo: object) -> None:
    """Only ppo trains on a learned reward; a reward normaliser would hide the true return."""
    if reward.name == "env":
        return
    name = getattr(algo, "name", "?")
    require(name == "ppo", "reward", f"reward={reward.name} trains with algo=ppo only, got algo={name}")
    require(
        not getattr(algo, "normalize_reward", False),
        "algo.normalize_reward",
        f"must be false with reward={reward.name} (the learned reward is already scaled)",
    )
