"""Collecting transitions from vector envs, and the shared return math (GAE, discounted returns).

Arrays are time-major, shape [T, E] (T steps of E environments). Each step keeps
`terminated` and `truncated` apart: a terminated episode has no value after its last step; a
truncated one (a time limit) continues in principle, so we bootstrap from V(final obs).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np
import torch

from rlrun.nets import ActorCritic


def gae(
    rewards: torch.Tensor,
    values: torch.Tensor,
    next_values: torch.Tensor,
    terminated: torch.Tensor,
    truncated: torch.Tensor,
    gamma: float,
    lam: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Generalised advantage estimation; returns (advantages, lambda-returns).

    next_values[t] is V of the observation that followed step t: the true final observation
    where the episode ended there, otherwise the next step's observation.
        delta_t = r_t + gamma * V(s_{t+1}) * (1 - terminated_t) - V(s_t)
        A_t     = delta_t + gamma * lam * (1 - done_t) * A_{t+1},   done = terminated or truncated
    """
    not_terminated = 1.0 - terminated.float()
    not_done = 1.0 - (terminated | truncated).float()
    deltas = rewards + gamma * next_values * not_terminated - values
    advantages = torch.zeros_like(rewards)
    running = torch.zeros_like(rewards[0])
    for t in reversed(range(rewards.shape[0])):
        running = deltas[t] + gamma * lam * not_done[t] * running
        advantages[t] = running
    return advantages, advantages + values


def discounted_returns(
    rewards: torch.Tensor,
    terminated: torch.Tensor,
    truncated: torch.Tensor,
    bootstrap: torch.Tensor,
    gamma: float,
) -> torch.Tensor:
    """Reward-to-go sum_{t'>=t} gamma^(t'-t) r_t', cut at episode ends, plus gamma^k V where an
    episode was truncated (or the batch ended) k steps later. bootstrap[t] is that V for step t
    (read only at truncations and at the last step). This is GAE with lambda = 1 and V = 0."""
    zeros = torch.zeros_like(rewards)
    _, returns = gae(rewards, zeros, bootstrap, terminated, truncated, gamma, lam=1.0)
    return returns


@dataclass
class Rollout:
    """T steps of E environments, as tensors on the training device."""

    obs: torch.Tensor
    actions: torch.Tensor
    logprobs: torch.Tensor
    values: torch.Tensor
    rewards: torch.Tensor
    terminated: torch.Tensor
    truncated: torch.Tensor
    next_values: torch.Tensor  # V of the observation after each step (the true final one at ends)


class Collector:
    """Steps a vector env with the current policy; remembers the observation between calls and
    the episodes that finished (undiscounted, unnormalised returns)."""

    def __init__(self, envs: gym.vector.VectorEnv, agent: ActorCritic, device: torch.device, seed: int):
        self.envs, self.agent, self.device, self.seed = envs, agent, device, seed
        self.obs: np.ndarray | None = None  # reset on first use, unless restored from a checkpoint
        self.finished: list[tuple[float, int]] = []  # (return, length) since the last pop

    def state_dict(self) -> dict:
        return {"obs": self.obs}

    def load_state_dict(self, state: dict) -> None:
        self.obs = state["obs"]

    def tensor(self, array: np.ndarray) -> torch.Tensor:
        return torch.as_tensor(array, device=self.device)

    def pop_episodes(self) -> list[tuple[float, int]]:
        finished, self.finished = self.finished, []
        return finished

    @torch.no_grad()
    def collect(self, num_steps: int) -> Rollout:
        if self.obs is None:
            self.obs, _ = self.envs.reset(seed=self.seed)
        E = self.envs.num_envs
        steps: dict[str, list[torch.Tensor]] = {k: [] for k in Rollout.__dataclass_fields__}
        for _ in range(num_steps):
            obs = self.tensor(self.obs)
            self.agent.encoder.update(obs)
            dist = self.agent.dist(obs)
            action = dist.sample()
            self.obs, reward, terminated, truncated, info = self.envs.step(self.agent.to_env(action))
            # V(final obs) where a time limit cut the episode; zero where it terminated.
            final_value = torch.zeros(E, device=self.device)
            if truncated.any():
                idx = np.flatnonzero(truncated)
                final_obs = np.stack(info["final_obs"][idx])
                final_value[idx] = self.agent.value(self.tensor(final_obs)).float()
            if "episode" in info:
                for i in np.flatnonzero(info["_episode"]):
                    self.finished.append((float(info["episode"]["r"][i]), int(info["episode"]["l"][i])))
            for key, value in (
                ("obs", obs),
                ("actions", action),
                ("logprobs", dist.log_prob(action)),
                ("values", self.agent.value(obs)),
                ("rewards", self.tensor(reward).float()),
                ("terminated", self.tensor(terminated)),
                ("truncated", self.tensor(truncated)),
                ("next_values", final_value),
            ):
                steps[key].append(value)
        batch = Rollout(**{k: torch.stack(v) for k, v in steps.items()})
        # Where an episode went on, the next value is the next step's value.
        following = torch.cat([batch.values[1:], self.agent.value(self.tensor(self.obs))[None]])
        done = batch.terminated | batch.truncated
        batch.next_values = torch.where(done, batch.next_values, following)
        return batch


class TransitionCollector:
    """Steps a vector env with Discrete actions, epsilon-greedy around a policy, and returns the
    transitions (s, a, r, s', terminated, truncated) as numpy arrays, s' being the true final
    observation where an episode ended. Used by fqi and by `rlrun collect`."""

    def __init__(self, envs: gym.vector.VectorEnv, device: torch.device, seed: int):
        self.envs, self.device, self.seed = envs, device, seed
        self.num_actions = int(envs.single_action_space.n)
        self.obs: np.ndarray | None = None  # reset on first use, unless restored from a checkpoint
        self.finished: list[tuple[float, int]] = []  # (return, length) since the last pop

    def state_dict(self) -> dict:
        return {"obs": self.obs}

    def load_state_dict(self, state: dict) -> None:
        self.obs = state["obs"]

    def pop_episodes(self) -> list[tuple[float, int]]:
        finished, self.finished = self.finished, []
        return finished

    @torch.no_grad()
    def collect(self, policy: Any, num_steps: int, epsilon: float) -> dict[str, np.ndarray]:
        """num_steps steps of every env: with probability epsilon a uniformly random action, else
        the policy's greedy one (policy None: always random)."""
        if self.obs is None:
            self.obs, _ = self.envs.reset(seed=self.seed)
        E = self.envs.num_envs
        steps: dict[str, list[np.ndarray]] = {k: [] for k in TRANSITION_FIELDS}
        for _ in range(num_steps):
            actions = torch.randint(self.num_actions, (E,), device=self.device)
            if policy is not None and epsilon < 1:
                greedy = policy.act(torch.as_tensor(self.obs, device=self.device), deterministic=True)
                explore = torch.rand(E, device=self.device) < epsilon
                actions = torch.where(explore, actions, greedy)
            actions = actions.cpu().numpy()
            next_obs, rewards, terminated, truncated, info = self.envs.step(actions)
            final = np.array(next_obs, copy=True)
            if "final_obs" in info:
                for i in np.flatnonzero(info["_final_obs"]):
                    final[i] = info["final_obs"][i]
            if "episode" in info:
                for i in np.flatnonzero(info["_episode"]):
                    self.finished.append((float(info["episode"]["r"][i]), int(info["episode"]["l"][i])))
            for key, value in zip(
                TRANSITION_FIELDS, (self.obs, actions, rewards, final, terminated, truncated), strict=True
            ):
                steps[key].append(np.asarray(value))
            self.obs = next_obs
        return {key: np.concatenate(values) for key, values in steps.items()}


TRANSITION_FIELDS = ("obs", "actions", "rewards", "next_obs", "terminated", "truncated")
