"""The actor-critic's hand-written hot-loop math (sample, evaluate) against torch.distributions."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch

from rlrun.nets import ActorCritic

SPACES = {
    "discrete": (gym.spaces.Box(-1, 1, (4,)), gym.spaces.Discrete(3)),
    "box": (gym.spaces.Box(-1, 1, (3,)), gym.spaces.Box(-2.0, 2.0, (2,))),
}


def make(kind: str, shared: bool = False) -> ActorCritic:
    torch.manual_seed(0)
    obs_space, act_space = SPACES[kind]
    return ActorCritic(obs_space, act_space, [16, 16], init_log_std=-0.3, shared=shared)


@pytest.mark.parametrize("shared", [False, True])
@pytest.mark.parametrize("kind", ["discrete", "box"])
def test_evaluate_matches_torch_distributions(kind: str, shared: bool):
    agent = make(kind, shared)
    obs = torch.randn(64, agent.encoder.dim)
    actions = agent.dist(obs).sample()
    logp, entropy, value = agent.evaluate(obs, actions)
    dist = agent.dist(obs)
    torch.testing.assert_close(logp, dist.log_prob(actions), rtol=0, atol=1e-5)
    torch.testing.assert_close(entropy, dist.entropy(), rtol=0, atol=1e-5)
    torch.testing.assert_close(value, agent.value(obs), rtol=0, atol=0)
    # the gradients agree too
    grads = []
    reference = dist.log_prob(actions) + dist.entropy() + agent.value(obs)
    for loss in ((logp + entropy + value).sum(), reference.sum()):
        agent.zero_grad()
        loss.backward()
        grads.append(torch.cat([p.grad.flatten() for p in agent.parameters()]))
    torch.testing.assert_close(grads[0], grads[1], rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("kind", ["discrete", "box"])
def test_sample_log_prob_belongs_to_the_sampled_action(kind: str):
    agent = make(kind)
    obs = torch.randn(32, agent.encoder.dim)
    action, logp = agent.sample(obs)
    torch.testing.assert_close(logp, agent.dist(obs).log_prob(action), rtol=0, atol=1e-5)


def test_categorical_samples_follow_the_policy():
    """Gumbel-max draws: frequencies within 5 standard errors of pi(a|s), for 200k draws."""
    agent = make("discrete")
    obs = torch.randn(1, agent.encoder.dim).expand(200_000, -1)
    probs = agent.dist(obs[:1]).probs[0].detach().numpy().astype(np.float64)
    action, _ = agent.sample(obs)
    freq = np.bincount(action.numpy(), minlength=3) / len(action)
    stderr = np.sqrt(probs * (1 - probs) / len(action))
    assert np.all(np.abs(freq - probs) < 5 * stderr), (freq, probs)


def test_gaussian_samples_follow_the_policy():
    agent = make("box")
    obs = torch.randn(1, agent.encoder.dim).expand(100_000, -1)
    with torch.no_grad():
        dist = agent.dist(obs[:1])
    action, _ = agent.sample(obs)
    n = len(action)
    stderr = dist.stddev[0].max().item() / n**0.5
    torch.testing.assert_close(action.mean(0), dist.mean[0], rtol=0, atol=5 * stderr)
    torch.testing.assert_close(action.std(0), dist.stddev[0], rtol=0.02, atol=0)


@pytest.mark.parametrize("kind", ["discrete", "box"])
def test_deterministic_action_is_the_mode(kind: str):
    agent = make(kind)
    obs = torch.randn(32, agent.encoder.dim)
    dist = agent.dist(obs)
    mode = dist.probs.argmax(-1) if kind == "discrete" else dist.mean
    torch.testing.assert_close(agent.act(obs, deterministic=True), mode)
