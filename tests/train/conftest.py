"""Tiny training fixtures: digits at 8x8, an 8x8 MobileNetV3 space, 2 steps per epoch."""

from __future__ import annotations

import pytest

from autogtkd.data import load_data
from autogtkd.space import MBStageConfig, MobileNetV3Config, MobileNetV3Space
from autogtkd.train import DatasetSpec, TrainConfig

SPEC = DatasetSpec(name="digits", image_size=8, val_fraction=0.2, seed=0, subset=240)


def tiny_space(num_classes: int = 10) -> MobileNetV3Space:
    return MobileNetV3Space(
        MobileNetV3Config(
            name="tiny",
            input_size=8,
            num_classes=num_classes,
            stem_channels=8,
            stem_stride=1,
            first_channels=8,
            stages=(
                MBStageConfig(8, 1, False, "relu", depth=(1, 2), kernel=(3,), expand=(2, 3)),
                MBStageConfig(16, 2, True, "hswish", depth=(1, 2), kernel=(3, 5), expand=(2,)),
            ),
            final_channels=32,
            feature_channels=32,
            width=(0.5, 1.0),
        )
    )


def tiny_config(**kw: object) -> TrainConfig:
    base: dict = {"epochs": 2, "batch_size": 16, "max_steps_per_epoch": 2, "eval_batches": 1, "device": "cpu"}
    base.update(kw)
    return TrainConfig(**base)  # type: ignore[arg-type]


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
