"""Teachers split into stages: RepDistiller's CIFAR ResNets / WRNs and a bring-your-own wrapper.

Example:
    >>> import torch
    >>> from autogtkd.teachers import create_teacher, list_teachers
    >>> teacher = create_teacher("resnet20", num_classes=10)
    >>> teacher.stage_channels, teacher.stage_strides
    ([16, 32, 64], [1, 2, 4])
    >>> [tuple(f.shape) for f in teacher.forward_stages(torch.zeros(1, 3, 32, 32))]
    [(1, 16, 32, 32), (1, 32, 16, 16), (1, 64, 8, 8)]
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from autogtkd.registry import Registry
from autogtkd.teachers._cifar import BasicBlock, WideBasicBlock, cifar_resnet, wide_resnet
from autogtkd.teachers._staged import StagedTeacher

__all__ = [
    "TEACHERS",
    "BasicBlock",
    "StagedTeacher",
    "WideBasicBlock",
    "cifar_resnet",
    "create_teacher",
    "list_teachers",
    "register_teacher",
    "wide_resnet",
]

#: Teacher factories ``f(*, num_classes, in_channels=3) -> StagedTeacher``.
TEACHERS: Registry[StagedTeacher] = Registry("teacher")

_SMALL = (16, 16, 32, 64)
_X4 = (32, 64, 128, 256)
for _name, _depth, _widths in (
    ("resnet8", 8, _SMALL),
    ("resnet14", 14, _SMALL),
    ("resnet20", 20, _SMALL),
    ("resnet32", 32, _SMALL),
    ("resnet44", 44, _SMALL),
    ("resnet56", 56, _SMALL),
    ("resnet110", 110, _SMALL),
    ("resnet8x4", 8, _X4),
    ("resnet32x4", 32, _X4),
):
    TEACHERS.register(_name, partial(cifar_resnet, _depth, _widths))
for _name, _depth, _widen in (("wrn-16-1", 16, 1), ("wrn-16-2", 16, 2), ("wrn-40-1", 40, 1), ("wrn-40-2", 40, 2)):
    TEACHERS.register(_name, partial(wide_resnet, _depth, _widen))


def register_teacher(name: str, factory: Callable[..., StagedTeacher], *, overwrite: bool = False) -> None:
    """Register ``factory(*, num_classes, in_channels=3) -> StagedTeacher`` as ``name``."""
    TEACHERS.register(name, factory, overwrite=overwrite)


def list_teachers() -> list[str]:
    """Names of the registered teachers."""
    return TEACHERS.list()


def create_teacher(name: str, *, num_classes: int, in_channels: int = 3) -> StagedTeacher:
    """A randomly initialised registered teacher, e.g. ``create_teacher("resnet32x4", num_classes=100)``."""
    return TEACHERS.create(name, num_classes=num_classes, in_channels=in_channels)
