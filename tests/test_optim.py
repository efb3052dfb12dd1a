"""FlatAdam against torch.optim.Adam(fused=True), and the flat buffers the actor-critic's optimizers share."""

import copy

import gymnasium as gym
import pytest
import torch
from torch import nn

from rlrun.nets import ActorCritic
from rlrun.optim import FlatAdam, FlatParameters


def train(net: nn.Module, step, steps: int = 30) -> None:
    x = torch.randn(64, 4, generator=torch.Generator().manual_seed(1))
    for _ in range(steps):
        loss = (net(x) ** 2).mean() + net(x).sum() * 0.01
        step(loss)


def make_net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(4, 32), nn.Tanh(), nn.Linear(32, 2))


def test_flat_adam_is_torch_fused_adam_to_the_last_bit():
    ours, ref = make_net(), make_net()
    flat_adam = FlatAdam(FlatParameters(ours), lr=1e-2, eps=1e-5)
    torch_adam = torch.optim.Adam(ref.parameters(), lr=1e-2, eps=1e-5, fused=True)
    for opt, net in ((flat_adam, ours), (torch_adam, ref)):

        def step(loss, opt=opt):
            opt.zero_grad()
            loss.backward()
            opt.step()

        train(net, step)
    for a, b in zip(ours.parameters(), ref.parameters(), strict=True):
        assert torch.equal(a, b)


@pytest.mark.parametrize("clip", [None, 0.05])
@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_a_step_with_a_non_finite_gradient_is_skipped(bad, clip):
    """One bad entry skips the whole step: parameters, moments and the step count stay as they
    were, and the next finite step goes on as if the bad one had not come."""
    ours, twin = make_net(), make_net()
    opts = [FlatAdam(FlatParameters(net), lr=1e-2) for net in (ours, twin)]
    for opt, net in zip(opts, (ours, twin), strict=True):
        train(net, lambda loss, opt=opt: (opt.zero_grad(), loss.backward(), opt.step()), steps=3)
    before = [p.detach().clone() for p in ours.parameters()], opts[0].exp_avg.clone()
    opts[0].zero_grad()
    opts[0].grad.normal_()
    opts[0].grad[7] = bad
    assert not opts[0].clip_grad_norm(clip).isfinite()
    opts[0].step()
    assert all(torch.equal(a, b) for a, b in zip(ours.parameters(), before[0], strict=True))
    assert torch.equal(opts[0].exp_avg, before[1]) and opts[0].steps == 3
    for opt, net in zip(opts, (ours, twin), strict=True):
        train(net, lambda loss, opt=opt: (opt.zero_grad(), loss.backward(), opt.step()), steps=2)
    for a, b in zip(ours.parameters(), twin.parameters(), strict=True):
        assert torch.equal(a, b) and a.isfinite().all()
    assert torch.equal(opts[0].exp_avg_sq, opts[1].exp_avg_sq) and opts[0].steps == opts[1].steps == 5


def test_gradient_clipping_matches_torch_and_grads_stay_in_the_buffer():
    ours, ref = make_net(), make_net()
    flat = FlatParameters(ours)
    flat_adam = FlatAdam(flat, lr=1e-2)
    torch_adam = torch.optim.Adam(ref.parameters(), lr=1e-2, fused=True)
    norms = {}

    def ours_step(loss):
        flat_adam.zero_grad()
        loss.backward()
        norms["ours"] = flat_adam.clip_grad_norm(0.05)
        flat_adam.step()

    def ref_step(loss):
        torch_adam.zero_grad()
        loss.backward()
        norms["ref"] = nn.utils.clip_grad_norm_(ref.parameters(), 0.05)
        torch_adam.step()

    train(ours, ours_step)
    train(ref, ref_step)
    # the norm is summed in another order than torch's norm of norms: equal up to rounding
    assert norms["ours"].item() == pytest.approx(norms["ref"].item(), rel=1e-4)
    for a, b in zip(ours.parameters(), ref.parameters(), strict=True):
        assert torch.allclose(a, b, atol=1e-5)
    # parameters and gradients are still views of the two flat buffers after backward
    for p in ours.parameters():
        assert p.data_ptr() - flat.data.data_ptr() in range(0, flat.data.numel() * 4)
        assert p.grad.data_ptr() - flat.grad.data_ptr() in range(0, flat.grad.numel() * 4)
    assert torch.linalg.vector_norm(flat.grad) <= 0.05 + 1e-6


@pytest.mark.parametrize("shared", [False, True])
@pytest.mark.parametrize("action_space", [gym.spaces.Discrete(3), gym.spaces.Box(-2, 2, (2,))])
def test_actor_and_critic_optimizers_move_only_their_parameters(shared, action_space):
    agent = ActorCritic(gym.spaces.Box(-1, 1, (4,)), action_space, [16, 16], shared=shared)
    actor_opt, critic_opt = agent.optimizers(lr=1e-2, critic_lr=1e-2)
    before = copy.deepcopy(agent.state_dict())
    obs = torch.randn(8, 4)
    critic_opt.zero_grad()
    agent.value(obs).pow(2).mean().backward()
    critic_opt.step()
    after = agent.state_dict()
    for name in before:
        moved = not torch.equal(before[name], after[name])
        critic_side = name.startswith("critic.") or name.startswith("body.")
        assert moved == critic_side or name.startswith("encoder."), name


def test_state_dict_round_trip_continues_identically():
    a, b = make_net(), make_net()
    opt_a = FlatAdam(FlatParameters(a), lr=1e-2)
    x = torch.randn(16, 4)
    for _ in range(3):
        opt_a.zero_grad()
        a(x).pow(2).mean().backward()
        opt_a.step()
    b.load_state_dict(a.state_dict())
    opt_b = FlatAdam(FlatParameters(b), lr=0.5)
    opt_b.load_state_dict(copy.deepcopy(opt_a.state_dict()))
    for net, opt in ((a, opt_a), (b, opt_b)):
        opt.zero_grad()
        net(x).pow(2).mean().backward()
        opt.step()
    for p, q in zip(a.parameters(), b.parameters(), strict=True):
        assert torch.equal(p, q)
