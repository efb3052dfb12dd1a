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
