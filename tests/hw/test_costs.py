"""Closed-form FLOPs (MACs) and params against independent counters on exported subnets.

Convention: autogtkd counts multiply-accumulates of conv and linear layers only. torch's
``FlopCounterMode`` counts 2 FLOPs per MAC for the same ops (and nothing for BatchNorm, activations,
pooling, element-wise ops), so closed form == its total / 2 exactly. fvcore (optional) also counts
BatchNorm and adaptive pooling (and warns on hard-swish and element-wise ops), so it is compared on conv and
linear ops only.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from autogtkd.hw.costs import count_macs, count_params
from autogtkd.space import Choice, SearchSpace, create_space, list_spaces

N_ARCHS = 20


@pytest.mark.parametrize("name", list_spaces())
def test_closed_form_costs_equal_torch_flop_counter(name: str) -> None:
    space = create_space(name)
    net = space.build_supernet()
    rng = np.random.default_rng(0)
    shape = (1, space.in_channels, space.input_size, space.input_size)
    n = N_ARCHS if space.input_size <= 64 else 6  # ImageNet-size forwards are slow on CPU
    for arch in [space.smallest(), space.largest()] + [space.sample(rng) for _ in range(n - 2)]:
        model = net.export(arch)
        assert space.flops(arch) == count_macs(model, shape), arch
        assert space.params(arch) == count_params(model), arch


@pytest.mark.parametrize("name", ["mbv3-cifar", "resnet-cifar"])
def test_closed_form_flops_equal_fvcore_on_conv_and_linear(name: str) -> None:
    fvcore = pytest.importorskip("fvcore.nn")
    space = create_space(name)
    net = space.build_supernet().eval()
    rng = np.random.default_rng(1)
    for _ in range(5):
        arch = space.sample(rng)
        counter = fvcore.FlopCountAnalysis(net.export(arch).eval(), torch.zeros(1, 3, 32, 32))
        counter.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
        by_op = counter.by_operator()
        assert space.flops(arch) == by_op.get("conv", 0) + by_op.get("linear", 0) + by_op.get("addmm", 0)


class _CountedSpace(SearchSpace):
    name = "counted"
    input_size = 8
    builds = 0

    @property
    def choices(self) -> tuple[Choice, ...]:
        return (Choice("width", (4, 8)),)

    def build_model(self, arch, *, num_classes=None):  # type: ignore[no-untyped-def]
        type(self).builds += 1
        w = int(self.canonical(arch)["width"])
        return nn.Sequential(nn.Conv2d(3, w, 3, padding=1), nn.Flatten(), nn.Linear(w * 64, 10))


def test_custom_space_falls_back_to_counting_once_per_arch() -> None:
    space = _CountedSpace()
    arch = {"width": 8}
    expected_macs = 8 * 8 * 3 * 8 * 9 + 8 * 64 * 10
    assert space.flops(arch) == expected_macs
    assert space.params(arch) == (3 * 8 * 9 + 8) + (8 * 64 * 10 + 10)
    space.flops(arch)
    assert _CountedSpace.builds == 1
