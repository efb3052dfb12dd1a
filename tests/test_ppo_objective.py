"""The clipped surrogate and value losses on a hand-made batch."""

import math

import pytest
import torch

from rlrun.algos.ppo import clipped_surrogate, value_loss

RATIOS = [1.5, 0.5, 1.1, 0.7]
ADVANTAGES = torch.tensor([1.0, 1.0, -1.0, -1.0])


def batch():
    logp_old = torch.log(torch.full((4,), 0.5))
    logp = (logp_old + torch.log(torch.tensor(RATIOS))).requires_grad_()
    return logp, logp_old


def test_clipped_surrogate_value_kl_and_clip_fraction():
    logp, logp_old = batch()
    loss, approx_kl, clipfrac = clipped_surrogate(logp, logp_old, ADVANTAGES, clip=0.2)
    # r*A = [1.5, .5, -1.1, -.7];  clip(r)*A = [1.2, .8, -1.1, -.8];  min = [1.2, .5, -1.1, -.8]
    assert loss.item() == pytest.approx(-(1.2 + 0.5 - 1.1 - 0.8) / 4)
    # |r - 1| > .2 for 1.5, 0.5 and 0.7
    assert clipfrac.item() == pytest.approx(0.75)
    expected_kl = sum((r - 1) - math.log(r) for r in RATIOS) / 4
    assert approx_kl.item() == pytest.approx(expected_kl)


def test_clipped_samples_get_no_gradient():
    logp, logp_old = batch()
    loss, _, _ = clipped_surrogate(logp, logp_old, ADVANTAGES, clip=0.2)
    loss.backward()
    # d/dlogp of -r*A/4 is -r*A/4 where the unclipped term is the minimum, else 0
    assert logp.grad.tolist() == pytest.approx([0.0, -0.5 / 4, 1.1 / 4, 0.0])


def test_value_loss_plain_and_clipped():
    values = torch.tensor([1.0, 3.0])
    returns = torch.tensor([2.0, 2.0])
    old = torch.tensor([0.0, 2.0])
    assert value_loss(values, returns, old, None).item() == pytest.approx(0.5 * (1 + 1) / 2)
    # clipped to old +- .5: [.5, 2.5] -> errors^2 [2.25, .25]; max with [1, 1] -> [2.25, 1]
    assert value_loss(values, returns, old, 0.5).item() == pytest.approx(0.5 * (2.25 + 1) / 2)


@pytest.mark.parametrize("anneal_clip", [True, False])
def test_clip_and_lr_decay_linearly_over_the_run_when_annealed(anneal_clip):
    import gymnasium as gym

    from rlrun.algos.ppo import PPO, PPOConfig
    from rlrun.envs.torch_envs import make_torch_env
    from rlrun.nets import ActorCritic

    envs = make_torch_env("CartPole-v1", 4, "cpu")
    cfg = PPOConfig(N=16, K=1, S=1, lr=1e-3, clip=0.2, anneal_clip=anneal_clip)
    agent = ActorCritic(envs.single_observation_space, gym.spaces.Discrete(2), [8])
    ppo = PPO(cfg, envs, agent, torch.device("cpu"), total_steps=4 * 16, seed=0)
    metrics = [ppo.iterate() for _ in range(4)]
    # the fraction of the run left before each iteration: 1, 3/4, 1/2, 1/4 (SB3's schedules read
    # it after the iteration's collection, N / total_steps lower)
    remaining = [1.0, 0.75, 0.5, 0.25]
    assert [m["charts/learning_rate"] for m in metrics] == pytest.approx([1e-3 * r for r in remaining])
    expected_clip = [0.2 * r for r in remaining] if anneal_clip else [0.2] * 4
    assert [m["charts/clip"] for m in metrics] == pytest.approx(expected_clip)


@pytest.mark.parametrize("env_id", ["CartPole-v1", "Pendulum-v1"])
def test_first_minibatch_ratio_is_exactly_one_with_observation_normalisation(env_id, monkeypatch):
    # Before any step, theta = theta_old: the update's log pi(a|s) must be the collector's, bit for
    # bit, although the normalisation statistics move from batch to batch.
    from rlrun.algos import ppo as ppo_module
    from rlrun.algos.ppo import PPO, PPOConfig
    from rlrun.envs import make_vector_env
    from rlrun.nets import ActorCritic
    from rlrun.schema import EnvConfig

    torch.manual_seed(0)
    envs = make_vector_env(EnvConfig(id=env_id), num_envs=4)
    cfg = PPOConfig(N=64, K=2, S=4, normalize_obs=True)
    agent = ActorCritic(envs.single_observation_space, envs.single_action_space, [16], normalize_obs=True)
    ppo = PPO(cfg, envs, agent, torch.device("cpu"), total_steps=64 * 3, seed=0)
    calls = []

    def surrogate(logp, logp_old, advantages, clip):
        result = clipped_surrogate(logp, logp_old, advantages, clip)
        calls.append((logp.detach().clone(), logp_old.clone(), result[1].item()))
        return result

    monkeypatch.setattr(ppo_module, "clipped_surrogate", surrogate)
    for iteration in range(3):
        calls.clear()
        ppo.iterate()
        logp, logp_old, approx_kl = calls[0]
        assert torch.equal(logp, logp_old), iteration
        assert approx_kl == 0.0
        assert len(calls) == cfg.K * cfg.S and not torch.equal(*calls[-1][:2])  # later ones moved
    assert float(agent.encoder.count) > 64  # the statistics did move between batches
    envs.close()
