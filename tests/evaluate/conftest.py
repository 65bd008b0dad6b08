"""A tiny MobileNetV3 supernet and random data: scorer tests run in seconds on a CPU."""

from __future__ import annotations

import _helpers
import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

from autogtkd.space import MobileNetV3Space


@pytest.fixture(autouse=True)
def _one_thread(one_thread: None) -> None:
    """Every test here runs tiny networks: one torch thread (tests/conftest.py)."""


@pytest.fixture
def tiny_space() -> MobileNetV3Space:
    """:func:`_helpers.tiny_space` at 16x16 with 4 classes."""
    return _helpers.tiny_space(num_classes=4, input_size=16)


@pytest.fixture
def loader() -> DataLoader:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(64, 3, 16, 16, generator=g)
    y = torch.randint(0, 4, (64,), generator=g)
    x[torch.arange(64), y % 3] += 2.0  # a learnable signal: the label shifts one colour channel
    return DataLoader(TensorDataset(x, y), batch_size=16)
