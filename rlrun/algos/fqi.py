"""Fitted Q-iteration, as in the lecture (DQN is its online special case):

repeat:
  1. collect N transitions {(s_i, a_i, s'_i, r_i)} with the collection policy (random, or
     epsilon-greedy in Q) and add them to the replay store (off-policy: old data is reused)
  K times:
  2. set y_i <- r_i + gamma * max_a' Q_phi'(s'_i, a'), with phi' a frozen copy of phi
     (the target network); no bootstrap past a termination, bootstrap past a truncation
  3. set phi <- argmin_phi 1/2 sum_i ||Q_phi(s_i, a_i) - y_i||^2: S gradient steps on minibatches
The result is the greedy policy argmax_a Q_phi(s, a), ties broken uniformly at random.

With a table for Q (Discrete observations), step 3 is solved exactly: the least-squares fit of a
table is the mean of y_i over the samples of each (s, a), so each of the K rounds is one value
iteration step on the empirical model of the replay store (kept in float64, so it reaches that
model's Q* to rounding). Offline (`algo.dataset`), step 1 is skipped and the store is the dataset.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from torch import nn

from rlrun.algos.base import Algorithm, Build
from rlrun.errors import ConfigError, check_finite, check_finite_rows
from rlrun.frame_replay import FrameReplayBuffer
from rlrun.nets import ENCODERS, QFunction, QNetwork, QTable, choose_encoder
from rlrun.optim import FlatAdam, FlatParameters, linear_decay
from rlrun.replay import ReplayBuffer, load_dataset, save_dataset
from rlrun.rollout import TransitionCollector
from rlrun.schema import (
    ACTIVATIONS,
    AlgoSpec,
    EnvConfig,
    check_batch_per_env,
    check_choice,
    check_gamma,
    check_network,
    check_optional_positive,
    check_positive,
    check_unit_interval,
    require,
)
from rlrun.schema import check_finite as check_finite_config

DATASET_FILE = "dataset.npz"
EVAL_TIE_SEED = 10_000  # the evaluation's tie-breaks are seeded with seed + this (its envs are too)


BLOCK_BYTES = 32 << 20  # the most a block's next observations take as floats


def td_targets(
    q_target: QFunction,
    rewards: torch.Tensor,
    next_obs: torch.Tensor,
    terminated: torch.Tensor,
    gamma: float,
    q_online: QFunction | None = None,
) -> torch.Tensor:
    """y = r + gamma * (1 - terminated) * max_a' Q_target(s', a'). With `q_online` (double Q), the
    online network chooses a' and the target network values it."""
    with torch.no_grad():
        next_q = q_target.q_values(next_obs)
        if q_online is None:
            best = next_q.max(-1).values
        else:
            best = next_q.gather(-1, q_online.q_values(next_obs).argmax(-1, keepdim=True)).squeeze(-1)
        # the mask in Q's dtype: a float32 one would round gamma to float32 in a float64 table
        return rewards + gamma * (~terminated).to(best.dtype) * best


class Greedy:
    """The policy argmax_a Q(s, a), with ties broken uniformly at random. Always taking the first
    of tied actions, an untrained table (all zeros) is one fixed deterministic policy: on
    FrozenLake it walks into the left wall, and epsilon-greedy collection around it may never
    reach the goal (seed 12 did not, in 100k steps). The draws come from `generator`: collection
    has one of its own (seeded by the run's seed, saved with the checkpoint), so the rest of the
    run's random stream is what it was without ties; evaluation gets one seeded afresh each time,
    so evaluating one Q twice plays the same actions."""

    def __init__(self, q: QFunction, generator: torch.Generator):
        self.q, self.generator = q, generator

    def eval(self) -> Greedy:
        self.q.eval()
        return self

    @torch.no_grad()
    def act(self, obs: torch.Tensor, deterministic: bool = True) -> torch.Tensor:
        q = self.q.q_values(obs)
        tied = q == q.max(-1, keepdim=True).values
        draw = torch.rand(q.shape, generator=self.generator, device=q.device)
        return torch.where(tied, draw, -1.0).argmax(-1)

    def to_env(self, action: torch.Tensor) -> torch.Tensor:
        return action

    def state_dict(self) -> dict[str, torch.Tensor]:
        """The policy's weights: Q's (best.pt keeps them)."""
        return self.q.state_dict()

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        self.q.load_state_dict(state)


def epsilon(cfg: FQIConfig, step: int, total_steps: int) -> float:
    """Linear decay from eps_start to eps_end over the first eps_fraction of training."""
    return linear_decay(cfg.eps_start, step / max(cfg.eps_fraction * total_steps, 1), cfg.eps_end)


class FQI(Algorithm):
    def __init__(
        self,
        cfg: FQIConfig,
        envs: gym.vector.VectorEnv,
        q: QFunction,
        buffer: ReplayBuffer,
        device: torch.device,
        total_steps: int,
        seed: int,
    ):
        self.cfg, self.envs, self.q, self.buffer, self.device = cfg, envs, q, buffer, device
        self.total_steps, self.seed = total_steps, seed
        self.num_actions = int(envs.single_action_space.n)
        self.tabular = isinstance(q, QTable)
        self.offline = cfg.dataset is not None
        self.optimizer = None if self.tabular else FlatAdam(FlatParameters(q), lr=cfg.lr)
        self.num_iterations = -(-total_steps // cfg.N)
        self.collector = TransitionCollector(envs, device, seed)
        self.greedy = Greedy(q, torch.Generator(device=device).manual_seed(seed))  # collection's
        self.iteration = 0
        self.env_steps = 0  # offline: N per round, the data an online round would have collected

    # ------------------------------------------------------------------ 2. targets, 3. fit

    def targets(self, q_target: QFunction, data: dict[str, torch.Tensor]) -> torch.Tensor:
        """y_i = r_i + gamma max_a' Q_phi'(s'_i, a'), and r_i alone past a termination."""
        return td_targets(q_target, data["rewards"], data["next_obs"], data["terminated"], self.cfg.gamma)

    def fit_table(self, data: dict[str, torch.Tensor], y: torch.Tensor) -> tuple[float, float]:
        """The exact least-squares fit of a table: Q(s, a) <- the mean of the y_i of its samples,
        summed in float64 (tens of thousands of float32 additions per cell drifted up to 5e-4)."""
        with torch.no_grad():
            table = self.q.table.view(-1)
            cells = data["obs"] * self.num_actions + data["actions"]
            sums = torch.zeros(table.numel(), dtype=torch.float64, device=self.device)
            sums.index_add_(0, cells, y.to(torch.float64))
            counts = torch.bincount(cells, minlength=table.numel())
            seen = counts > 0
            before = table[cells]
            table[seen] = (sums[seen] / counts[seen]).to(table.dtype)
            loss = 0.5 * ((before - y) ** 2).mean()
            q_mean = table[cells].mean()
        return float(loss), float(q_mean)

    def blocks(self) -> Iterator[dict[str, torch.Tensor]]:
        """A round's S minibatches of batch_size transitions, sampled a block of up to 65536
        transitions at a time, so that their targets come from q_target in one pass per block
        (fewer, larger operations: ~2x faster on CartPole). Images make smaller blocks: a pass
        over 8000 Atari stacks (0.9 GB as floats) is slower than passes that stay in memory."""
        cfg = self.cfg
        obs_bytes = 4 * math.prod(self.envs.single_observation_space.shape)  # as the network's input
        per_block = max(1, min(65536, BLOCK_BYTES // obs_bytes) // cfg.batch_size)
        for start in range(0, cfg.S, per_block):
            yield self.buffer.sample(cfg.batch_size * min(per_block, cfg.S - start))

    def gradient_steps(
        self, block: dict[str, torch.Tensor], y: torch.Tensor | None, q_target: QFunction
    ) -> list[torch.Tensor]:
        """One gradient step on 1/2 ||Q_phi(s_i, a_i) - y_i||^2 per minibatch of the block; y None:
        double Q, where the online Q, which moves every step, chooses a' for each minibatch's y."""
        cfg = self.cfg
        parts = {key: value.split(cfg.batch_size) for key, value in block.items()}
        targets = [None] * len(parts["actions"]) if y is None else list(y.split(cfg.batch_size))
        stats = []
        for i, y_i in enumerate(targets):
            mb = {key: value[i] for key, value in parts.items()}
            if y_i is None:
                y_i = td_targets(q_target, mb["rewards"], mb["next_obs"], mb["terminated"], cfg.gamma, self.q)
            q = self.q.q_values(mb["obs"]).gather(-1, mb["actions"][:, None]).squeeze(-1)
            if cfg.loss == "huber":
                loss = nn.functional.smooth_l1_loss(q, y_i)
            else:
                loss = 0.5 * nn.functional.mse_loss(q, y_i)
            self.optimizer.zero_grad()
            loss.backward()
            grad_norm = self.optimizer.clip_grad_norm(cfg.max_grad_norm)
            self.optimizer.step()
            stats.append(torch.stack([loss.detach(), q.detach().mean(), grad_norm]))
        return stats

    def iterate(self) -> dict[str, float]:
        cfg = self.cfg
        metrics: dict[str, float] = {}
        # 1. collect N transitions {(s_i, a_i, s'_i, r_i)} into the replay store (offline: the store
        #    is the dataset)
        if not self.offline:
            eps = 1.0 if cfg.collect == "random" else epsilon(cfg, self.env_steps, self.total_steps)
            if self.buffer.size < cfg.learning_starts:
                eps = 1.0  # fill the store with random actions first
            self.buffer.add(self.collector.collect(self.greedy, cfg.N // self.envs.num_envs, eps))
            metrics["charts/epsilon"] = eps
        self.env_steps += cfg.N
        self.iteration += 1
        if not self.offline and self.buffer.size < max(cfg.learning_starts, 1):
            return metrics
        if cfg.normalize_obs and not self.tabular and float(self.q.encoder.count) < 1:
            # once, at the first fit (a resumed run keeps them in Q's state): statistics that moved
            # later would shift the frozen targets' inputs under them
            self.q.encoder.set_statistics(self.buffer.all()["obs"])
        if self.optimizer is not None and cfg.anneal_lr:
            self.optimizer.lr = linear_decay(cfg.lr, (self.iteration - 1) / self.num_iterations)

        where = f"at iteration {self.iteration} (step {self.env_steps})"
        stats = []
        for _ in range(cfg.K):
            if self.tabular:
                data = self.buffer.all()
                # 2. set y_i <- r_i + gamma max_a' Q_phi(s'_i, a'), for every stored transition
                y = self.targets(self.q, data)
                # 3. set phi <- argmin_phi 1/2 sum_i ||Q_phi(s_i, a_i) - y_i||^2: exact, the mean per (s, a)
                loss, q_mean = self.fit_table(data, y)
                check_finite({"losses/q": loss, "charts/q_mean": q_mean}, where)
                stats.append((loss, q_mean))
                continue
            q_target = copy.deepcopy(self.q)  # phi' <- phi, frozen for this round (the target network)
            rows = []
            for block in self.blocks():
                # 2. set y_i <- r_i + gamma max_a' Q_phi'(s'_i, a')  (double Q: per minibatch, below)
                y = None if cfg.double_q else self.targets(q_target, block)
                # 3. set phi <- argmin_phi 1/2 sum_i ||Q_phi(s_i, a_i) - y_i||^2: a step per minibatch
                rows += self.gradient_steps(block, y, q_target)
            names = ["losses/q", "charts/q_mean", "losses/grad_norm"]
            stats.append(check_finite_rows(rows, names, where).mean(0).tolist())
        means = np.mean(stats, axis=0)
        metrics["losses/q"], metrics["charts/q_mean"] = float(means[0]), float(means[1])
        if not self.tabular:
            metrics["losses/grad_norm"] = float(means[2])
            metrics["charts/learning_rate"] = self.optimizer.lr
        return metrics

    # ------------------------------------------------------------------ the loop's interface

    def policy(self) -> Greedy:
        """argmax_a Q(s, a), ties broken by a generator seeded afresh: reproducible evaluations."""
        generator = torch.Generator(device=self.device).manual_seed(self.seed + EVAL_TIE_SEED)
        return Greedy(self.q, generator)

    def pop_episodes(self) -> list[tuple[float, int]]:
        return self.collector.pop_episodes()

    def restart_episodes(self) -> None:
        self.collector.obs = None

    def state_dict(self) -> dict[str, Any]:
        return {
            "q": self.q.state_dict(),
            "optimizer": None if self.optimizer is None else self.optimizer.state_dict(),
            # offline, the store is the dataset file, read again on resume
            "buffer": None if self.offline else self.buffer.state_dict(),
            "collector": self.collector.state_dict(),
            "greedy_rng": self.greedy.generator.get_state(),
            "iteration": self.iteration,
            "env_steps": self.env_steps,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.q.load_state_dict(state["q"])
        if self.optimizer is not None:
            self.optimizer.load_state_dict(state["optimizer"])
        if state["buffer"] is not None:
            self.buffer.load_state_dict(state["buffer"])
        self.collector.load_state_dict(state["collector"])
        if "greedy_rng" in state:  # (checkpoints from before ties were broken at random lack it)
            self.greedy.generator.set_state(state["greedy_rng"].cpu())
        self.iteration, self.env_steps = state["iteration"], state["env_steps"]

    def finish(self, run_dir: Path) -> dict[str, Any]:
        extra: dict[str, Any] = {"offline": self.offline, "replay_size": self.buffer.size}
        if self.cfg.save_dataset:
            extra["dataset"] = str(save_dataset(run_dir / DATASET_FILE, self.buffer.all()))
        if self.tabular:  # like vi and pi: V(s) = max_a Q(s, a) and the greedy policy (as evaluated)
            table = self.q.table.detach()
            states = torch.arange(table.shape[0], device=table.device)
            np.save(run_dir / "values.npy", table.max(-1).values.cpu().numpy())
            np.save(run_dir / "policy.npy", self.policy().act(states).cpu().numpy())
        return extra


def make_q_function(cfg: FQIConfig, obs_space: gym.Space, num_actions: int) -> QFunction:
    kind = cfg.q_function
    if kind == "auto":
        kind = "table" if isinstance(obs_space, gym.spaces.Discrete) else "mlp"
    if kind == "table":
        if not isinstance(obs_space, gym.spaces.Discrete):
            raise ConfigError(
                "algo.q_function", f"table needs Discrete observations; this env has {obs_space}"
            )
        return QTable(int(obs_space.n), num_actions).to(torch.float64)  # exact fits, see fit_table
    encoder = choose_encoder(cfg.encoder, obs_space)
    if encoder == "cnn" and cfg.normalize_obs:
        raise ConfigError("algo.normalize_obs", "images are scaled by 1/255 in the CNN: set it false")
    return QNetwork(obs_space, num_actions, list(cfg.hidden), cfg.activation, cfg.normalize_obs, encoder)


def stacked_frames(envs: gym.vector.VectorEnv) -> bool:
    """Observations that are stacks of uint8 frames, consecutive ones sharing all but one (an
    Atari env with frame_stack > 1 says so in its metadata)."""
    space = envs.single_observation_space
    return envs.metadata.get("frame_stack", 1) > 1 and space.dtype == np.uint8


def make(cfg: FQIConfig, build: Build) -> FQI:
    envs, device = build.envs, build.device
    obs_space, act_space = envs.single_observation_space, envs.single_action_space
    q = make_q_function(cfg, obs_space, int(act_space.n)).to(device)
    if cfg.dataset is not None:
        data = load_dataset(cfg.dataset, obs_space, act_space)
        buffer = ReplayBuffer.for_space(len(data["actions"]), obs_space, device)
        buffer.add(data)
    elif stacked_frames(envs):  # each frame once, stacked at sampling (rlrun/frame_replay.py)
        buffer = FrameReplayBuffer(cfg.buffer_size, tuple(obs_space.shape), envs.num_envs, device)
    else:
        buffer = ReplayBuffer.for_space(cfg.buffer_size, obs_space, device)
    return FQI(cfg, envs, q, buffer, device, build.total_steps, build.seed)


# ---------------------------------------------------------------------------- config


@dataclass
class FQIConfig:
    name: str = "fqi"
    N: int = 256  # transitions collected per round (= env.num_envs x steps per env)
    K: int = 1  # target computations per round (each freezes phi for its targets)
    S: int = 128  # gradient steps per target computation (a table is fitted exactly instead)
    batch_size: int = 64
    buffer_size: int = 100_000
    learning_starts: int = 1000  # transitions collected with random actions before the first fit
    lr: float = 1e-3
    anneal_lr: bool = False
    gamma: float = 0.99
    loss: str = "mse"  # mse | huber
    double_q: bool = False
    collect: str = "epsilon_greedy"  # random | epsilon_greedy
    eps_start: float = 1.0
    eps_end: float = 0.05
    eps_fraction: float = 0.1  # of total_steps, over which epsilon decays linearly
    max_grad_norm: float | None = 10.0
    q_function: str = "auto"  # auto | mlp | table
    hidden: list[int] = field(default_factory=lambda: [256, 256])
    activation: str = "relu"
    encoder: str = "auto"  # auto (cnn for uint8 images, else mlp) | mlp | cnn (Nature DQN's)
    normalize_obs: bool = False  # standardise Q's inputs by the store's mean/std, fixed at the first fit
    dataset: str | None = None  # offline: train from this .npz and never step the env
    save_dataset: bool = False  # write the replay store to RUN_DIR/dataset.npz at the end


def check(cfg: FQIConfig, env: EnvConfig) -> None:
    check_finite_config(cfg, "algo.")
    check_positive(cfg, "N", "K", "S", "batch_size", "buffer_size")
    require(cfg.learning_starts >= 0, "algo.learning_starts", f"must be >= 0, got {cfg.learning_starts}")
    check_positive(cfg, "lr")
    check_gamma(cfg)
    check_unit_interval(cfg, "eps_start", "eps_end")
    require(0 < cfg.eps_fraction <= 1, "algo.eps_fraction", f"must be in (0, 1], got {cfg.eps_fraction}")
    check_optional_positive(cfg, "max_grad_norm")
    check_choice(cfg, "loss", ("mse", "huber"))
    check_choice(cfg, "collect", ("random", "epsilon_greedy"))
    check_choice(cfg, "q_function", ("auto", "mlp", "table"))
    check_choice(cfg, "encoder", ENCODERS)
    check_choice(cfg, "activation", ACTIVATIONS)
    check_network(cfg)
    if cfg.dataset is None:
        check_batch_per_env(cfg.N, env)


SPEC = AlgoSpec("fqi", FQIConfig, check, make)
