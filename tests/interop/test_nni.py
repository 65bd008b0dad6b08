"""NNI 3.0 interop (runs where the optional extra is installed; CI runs it in its own environment)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

pytestmark = pytest.mark.nni
nni = pytest.importorskip("nni")
pytest.importorskip("pytorch_lightning")

from torch import nn  # noqa: E402

from autogtkd.exceptions import SpaceError  # noqa: E402
from autogtkd.hw.costs import count_macs, count_params  # noqa: E402


def _model_space():  # type: ignore[no-untyped-def]
    from nni.nas.nn.pytorch import LayerChoice, ModelSpace, MutableConv2d, MutableLinear

    class TinyNet(ModelSpace):
        def __init__(self) -> None:
            super().__init__()
            width = nni.choice("width", [8, 16, 32])
            self.conv = MutableConv2d(3, width, 3, padding=1)
            self.act = LayerChoice([nn.ReLU(), nn.Hardswish(), nn.Identity()], label="act")
            self.pool = nn.AdaptiveAvgPool2d(1)
            self.fc = MutableLinear(width, 10)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.fc(self.pool(self.act(self.conv(x))).flatten(1))

    return TinyNet()


def test_nni_space_imports_choices_samples_builds_and_counts() -> None:
    from autogtkd.interop.nni import NNISpace

    space = NNISpace(_model_space(), input_size=16)
    assert [c.name for c in space.choices] == ["width", "act"]
    assert space.size() == 9
    arch = space.sample(np.random.default_rng(0))
    model = space.build_model(arch)
    assert model(torch.zeros(2, 3, 16, 16)).shape == (2, 10)
    w = int(arch["width"])
    assert space.flops(arch) == count_macs(model, (1, 3, 16, 16)) == 16 * 16 * 3 * w * 9 + w * 10
    assert space.params(arch) == count_params(model)


def test_nni_space_rejects_non_model_spaces() -> None:
    from autogtkd.interop.nni import NNISpace

    with pytest.raises(SpaceError, match="expected an NNI ModelSpace"):
        NNISpace(nn.Linear(2, 2))
