"""A tiny MobileNetV3 supernet and random data: scorer tests run in seconds on a CPU."""

from __future__ import annotations

import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

from autogtkd.space import MBStageConfig, MobileNetV3Config, MobileNetV3Space


@pytest.fixture(autouse=True)
def _one_thread(one_thread: None) -> None:
    """Every test here runs tiny networks: one torch thread (tests/conftest.py)."""


@pytest.fixture
def tiny_space() -> MobileNetV3Space:
    return MobileNetV3Space(
        MobileNetV3Config(
            name="tiny", input_size=16, num_classes=4, stem_channels=8, stem_stride=1, first_channels=8,
            stages=(
                MBStageConfig(8, 2, False, "relu", depth=(1, 2), kernel=(3, 5), expand=(2, 3)),
                MBStageConfig(16, 2, True, "hswish", depth=(1, 2), kernel=(3, 5), expand=(2, 3)),
            ),
            final_channels=32, feature_channels=32, width=(0.5, 1.0),
        )
    )


@pytest.fixture
def loader() -> DataLoader:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(64, 3, 16, 16, generator=g)
    y = torch.randint(0, 4, (64,), generator=g)
    x[torch.arange(64), y % 3] += 2.0  # a learnable signal: the label shifts one colour channel
    return DataLoader(TensorDataset(x, y), batch_size=16)
