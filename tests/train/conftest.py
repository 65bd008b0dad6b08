"""Tiny training fixtures (tests/_helpers.py): digits at 8x8, an 8x8 MobileNetV3 space, 2 steps per epoch."""

from __future__ import annotations

import pytest
from _helpers import SPEC, tiny_space

from autogtkd.data import load_data
from autogtkd.space import MobileNetV3Space


@pytest.fixture(scope="session")
def digits8():
    return load_data(
        SPEC.name, image_size=SPEC.image_size, val_fraction=SPEC.val_fraction, seed=SPEC.seed, subset=SPEC.subset
    )


@pytest.fixture
def space() -> MobileNetV3Space:
    return tiny_space()


@pytest.fixture(autouse=True)
def _one_thread(one_thread: None) -> None:
    """Every test here runs with one intra-op thread (see ``one_thread`` in tests/conftest.py)."""
