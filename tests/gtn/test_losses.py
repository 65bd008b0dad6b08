from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from autogtkd.gtn import conditioning_loss, hinton_kd_loss, kd_kl


def test_kd_kl_golden_value() -> None:
    # p = softmax([0, ln 3]/1) = (1/4, 3/4); q = (1/2, 1/2); KL = 1/4 ln(1/2) + 3/4 ln(3/2)
    zt = torch.tensor([[0.0, math.log(3.0)]])
    zs = torch.zeros(1, 2)
    expected = 0.25 * math.log(0.5) + 0.75 * math.log(1.5)
    assert float(kd_kl(zs, zt, 1.0)) == pytest.approx(expected, rel=1e-6)
    # temperature T: logits divided by T, result times T^2
    zt2 = zt * 2.0
    assert float(kd_kl(zs, zt2, 2.0)) == pytest.approx(4.0 * expected, rel=1e-6)


def test_kd_kl_matches_torch_kl_div() -> None:
    g = torch.Generator().manual_seed(0)
    zs, zt = torch.randn(5, 7, generator=g), torch.randn(5, 7, generator=g)
    ref = F.kl_div(F.log_softmax(zs / 4, 1), F.log_softmax(zt / 4, 1), reduction="batchmean", log_target=True) * 16
    assert float(kd_kl(zs, zt, 4.0)) == pytest.approx(float(ref), rel=1e-5)


def test_hinton_golden_and_teacher_detached() -> None:
    zs = torch.zeros(2, 3, requires_grad=True)
    zt = torch.zeros(2, 3, requires_grad=True)
    y = torch.tensor([0, 1])
    loss = hinton_kd_loss(zs, zt, y)
    assert float(loss.detach()) == pytest.approx(0.1 * math.log(3.0), rel=1e-6)
    loss.backward()
    assert zt.grad is None and zs.grad is not None


def test_conditioning_loss_sums_branches_and_reaches_teacher() -> None:
    g = torch.Generator().manual_seed(1)
    zt = torch.randn(4, 3, generator=g, requires_grad=True)
    z1, z2 = torch.randn(4, 3, generator=g), torch.randn(4, 3, generator=g)
    y = torch.tensor([0, 1, 2, 0])
    loss = conditioning_loss([z1, z2], zt, y, temperature=4.0, kl_weight=0.5)
    expected = sum(F.cross_entropy(z, y) + 0.5 * kd_kl(z, zt, 4.0) for z in (z1, z2))
    assert float(loss.detach()) == pytest.approx(float(expected.detach()), rel=1e-6)
    loss.backward()
    assert zt.grad is not None and float(zt.grad.abs().sum()) > 0
    zt.grad = None
    z1.requires_grad_(True)
    conditioning_loss([z1], zt, y, detach_teacher=True).backward()
    assert zt.grad is None and z1.grad is not None


def test_losses_decrease_under_gradient_descent() -> None:
    g = torch.Generator().manual_seed(2)
    zt = torch.randn(8, 5, generator=g)
    y = torch.randint(0, 5, (8,), generator=g)
    zs = torch.zeros(8, 5, requires_grad=True)
    opt = torch.optim.SGD([zs], lr=0.5)
    values = []
    for _ in range(20):
        loss = hinton_kd_loss(zs, zt, y)
        assert torch.isfinite(loss)
        values.append(float(loss.detach()))
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert values[-1] < values[0] * 0.8


def test_kd_kl_reverse_direction_swaps_the_arguments() -> None:
    z_s = torch.tensor([[0.2, 1.0, -0.5], [1.5, 0.0, 0.3]])
    z_t = torch.tensor([[1.0, 0.1, 0.4], [-0.2, 0.9, 0.0]])
    rev = kd_kl(z_s, z_t, 2.0, direction="reverse")
    p_s, p_t = torch.softmax(z_s / 2, 1), torch.softmax(z_t / 2, 1)
    golden = (p_s * (p_s.log() - p_t.log())).sum(1).mean() * 4  # KL(student || teacher) * T^2
    assert float(rev) == pytest.approx(float(golden), rel=1e-5)
    assert float(rev) != pytest.approx(float(kd_kl(z_s, z_t, 2.0)), rel=1e-3)
