"""Behaviour cloning: maximum likelihood fits a demonstrator's actions (Categorical and Gaussian),
and a dataset that does not fit the env is refused naming algo.dataset."""

import gymnasium as gym
import numpy as np
import pytest
import torch

from rlrun.algos.bc import BCConfig, BehaviourCloning, load_demonstrations
from rlrun.errors import ConfigError
from rlrun.nets import ActorCritic


def clone(obs_space, act_space, data, epochs: int, S: int = 10) -> ActorCritic:
    torch.manual_seed(0)
    torch.set_num_threads(1)
    agent = ActorCritic(obs_space, act_space, [64, 64])
    bc = BehaviourCloning(BCConfig(dataset="-", S=S, lr=3e-3), agent, data, torch.device("cpu"))
    for _ in range(epochs):
        metrics = bc.iterate()
    assert bc.env_steps == epochs * len(data["actions"]) and np.isfinite(metrics["losses/nll"])
    return agent


def test_bc_fits_a_discrete_demonstrator():
    rng = np.random.default_rng(0)
    obs = rng.normal(size=(3000, 4)).astype(np.float32)
    actions = (obs[:, 2] + 0.5 * obs[:, 3] > 0).astype(np.int64)  # push the way the pole falls
    space = gym.spaces.Box(-np.inf, np.inf, (4,), np.float32)
    agent = clone(space, gym.spaces.Discrete(2), {"obs": obs[:2000], "actions": actions[:2000]}, 20)
    predicted = agent.act(torch.as_tensor(obs[2000:]), deterministic=True).numpy()
    assert (predicted == actions[2000:]).mean() >= 0.97


def test_bc_fits_a_gaussian_demonstrator():
    rng = np.random.default_rng(1)
    obs = rng.normal(size=(2000, 3)).astype(np.float32)
    W = np.array([[0.5], [-1.0], [0.3]], np.float32)
    actions = obs @ W + 0.1 * rng.normal(size=(2000, 1)).astype(np.float32)
    obs_space = gym.spaces.Box(-np.inf, np.inf, (3,), np.float32)
    act_space = gym.spaces.Box(-2.0, 2.0, (1,), np.float32)
    agent = clone(obs_space, act_space, {"obs": obs, "actions": actions}, 150)
    mean = agent.act(torch.as_tensor(obs[:500]), deterministic=True).numpy()
    assert np.abs(mean - obs[:500] @ W).mean() < 0.05
    assert agent.log_std.exp().item() == pytest.approx(0.1, abs=0.05)  # the demonstrator's noise


@pytest.mark.parametrize(
    "arrays, message",
    [
        ({"obs": np.zeros((5, 4), np.float32)}, "needs the arrays obs and actions"),
        ({"obs": np.zeros((5, 3), np.float32), "actions": np.zeros(5, np.int64)}, "obs has shape (5, 3)"),
        (
            {"obs": np.zeros((5, 4), np.float32), "actions": np.full(5, 2)},
            "actions must be integers in [0, 2)",
        ),
        ({"obs": np.full((5, 4), np.nan, np.float32), "actions": np.zeros(5, np.int64)}, "obs holds NaN"),
    ],
)
def test_a_dataset_that_does_not_fit_is_refused_naming_algo_dataset(arrays, message, tmp_path):
    path = tmp_path / "d.npz"
    np.savez(path, **arrays)
    space = gym.spaces.Box(-np.inf, np.inf, (4,), np.float32)
    with pytest.raises(ConfigError) as err:
        load_demonstrations(path, space, gym.spaces.Discrete(2))
    assert err.value.key == "algo.dataset" and message in str(err.value)
