"""Tiny fixtures for distillation and training tests: an 8x8 MobileNetV3 space and a toy staged teacher."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from autogtkd.nn import ConvBNAct, StagedNet
from autogtkd.space import MBStageConfig, MobileNetV3Config, MobileNetV3Space


def tiny_space(num_classes: int = 4, input_size: int = 8, in_channels: int = 3) -> MobileNetV3Space:
    """Two elastic stages (strides 1 and 2), widths 0.5/1.0: a handful of small networks."""
    return MobileNetV3Space(
        MobileNetV3Config(
            name="tiny",
            input_size=input_size,
            num_classes=num_classes,
            stem_channels=8,
            stem_stride=1,
            first_channels=8,
            stages=(
                MBStageConfig(8, 1, False, "relu", depth=(1, 2), kernel=(3,), expand=(2, 3)),
                MBStageConfig(16, 2, True, "hswish", depth=(1, 2), kernel=(3, 5), expand=(2,)),
                MBStageConfig(16, 1, False, "relu", depth=(1,), kernel=(3,), expand=(2,)),
            ),
            final_channels=32,
            feature_channels=32,
            width=(0.5, 1.0),
            in_channels=in_channels,
        )
    )


class ToyTeacher(StagedNet):
    """stem -> stage (stride 1, 8 ch) -> stage (stride 2, 16 ch) -> pool + linear."""

    stage_channels = (8, 16)
    stage_strides = (1, 2)

    def __init__(self, num_classes: int = 4, in_channels: int = 3) -> None:
        super().__init__(
            ConvBNAct(in_channels, 8, 3),
            [ConvBNAct(8, 8, 3), ConvBNAct(8, 16, 3, 2)],
            nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(1), nn.Linear(16, num_classes)),
        )


@pytest.fixture
def space() -> MobileNetV3Space:
    return tiny_space()


@pytest.fixture
def teacher() -> ToyTeacher:
    torch.manual_seed(0)
    return ToyTeacher()


@pytest.fixture
def batch() -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    y = torch.arange(16) % 4
    x = torch.randn(16, 3, 8, 8, generator=g) + y.view(-1, 1, 1, 1).float()  # learnable signal
    return x, y


@pytest.fixture(autouse=True)
def _one_thread(one_thread: None) -> None:
    """Every test here runs with one intra-op thread (see ``one_thread`` in tests/conftest.py)."""
