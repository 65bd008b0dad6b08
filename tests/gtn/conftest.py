"""Tiny fixtures for distillation and training tests: an 8x8 MobileNetV3 space and a toy staged teacher."""

from __future__ import annotations

import pytest
import torch
from _helpers import tiny_space
from torch import nn

from autogtkd.nn import ConvBNAct, StagedNet
from autogtkd.space import MobileNetV3Space


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
    """:func:`_helpers.tiny_space` with 4 classes and a third stage (more student than teacher stages)."""
    return tiny_space(num_classes=4, stages=3)


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
