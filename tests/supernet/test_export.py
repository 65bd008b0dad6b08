"""The test every weight-sharing codebase needs: supernet-active output == exported subnet output."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from autogtkd.nn import DynamicBatchNorm2d, DynamicConv2d, DynamicConvBNAct, DynamicLinear, DynamicSE, StagedNet
from autogtkd.space import create_space, list_spaces

N_ARCHS = 20


def _randomise_bn(net: nn.Module, seed: int) -> None:
    g = torch.Generator().manual_seed(seed)
    for m in net.modules():
        if isinstance(m, nn.BatchNorm2d):
            n = m.num_features
            m.running_mean.copy_(torch.randn(n, generator=g) * 0.1)
            m.running_var.copy_(torch.rand(n, generator=g) + 0.5)
            m.weight.data.copy_(torch.rand(n, generator=g) + 0.5)
            m.bias.data.copy_(torch.randn(n, generator=g) * 0.1)


@pytest.mark.parametrize("name", list_spaces())
def test_export_equals_active_supernet(name: str) -> None:
    space = create_space(name, num_classes=10)
    torch.manual_seed(0)
    net = space.build_supernet()
    _randomise_bn(net, 0)
    net.eval()
    rng = np.random.default_rng(0)
    size = space.input_size if space.input_size <= 64 else 96  # ImageNet spaces: smaller test images
    x = torch.randn(2, space.in_channels, size, size)
    archs = [space.smallest(), space.largest()] + [space.sample(rng) for _ in range(N_ARCHS - 2)]
    for arch in archs:
        model = net.export(arch)
        with torch.no_grad(), net.activated(arch):
            expected = net(x)
        got = model(x)
        assert got.shape == (2, 10)
        assert (got - expected).abs().max().item() <= 1e-5, arch
        assert not any(
            isinstance(m, (DynamicConv2d, DynamicBatchNorm2d, DynamicLinear, DynamicConvBNAct, DynamicSE))
            for m in model.modules()
        )
        assert type(model) is StagedNet


def test_export_copies_weights() -> None:
    space = create_space("resnet-cifar")
    net = space.build_supernet().eval()
    model = net.export(space.smallest())
    with torch.no_grad():
        for p in model.parameters():
            p.add_(1.0)
    x = torch.randn(1, 3, 32, 32)
    with net.activated(space.smallest()), torch.no_grad():
        assert not torch.allclose(net(x), model(x))


def test_activated_restores_previous_arch_even_on_error() -> None:
    space = create_space("mbv3-cifar")
    net = space.build_supernet()
    small, rng = space.smallest(), np.random.default_rng(1)
    net.set_active(small)
    with pytest.raises(RuntimeError), net.activated(space.sample(rng)):
        raise RuntimeError("boom")
    assert net.active_arch == small


def test_export_keeps_train_mode_and_bn_statistics_are_shared() -> None:
    space = create_space("mbv3-cifar")
    net = space.build_supernet().train()
    arch = space.smallest()
    with net.activated(arch):
        net(torch.randn(4, 3, 32, 32))  # updates the first channels' running stats in place
    model = net.export(arch)
    assert model.training
    bn_super = net.stem[0].bn
    bn_static = model.stem[0][1]
    c = bn_static.num_features
    assert torch.equal(bn_super.running_mean[:c], bn_static.running_mean)
    assert bn_super.running_mean[:c].abs().sum() > 0
