"""Student branches (SFTN, generalised to a supernet): teacher stage ``k`` → adapter ``t_k`` → the
student's remaining stages and head.

For each teacher stage ``k`` with output stride ``s_k`` (input pixels per feature pixel) the branch
enters the student at stage ``j`` whose *input* stride equals ``s_k`` — the last such stage, so the
student resumes right where its processing at that resolution ends, as SFTN pairs block ``k`` of the
teacher with block ``k+1`` of the student. When no student stage reads that resolution, the first
stage reading a coarser resolution that is a multiple of it is used and the adapter average-pools by
the ratio. The adapter is ``1×1 conv + BN + ReLU`` from the teacher's channels to the student's
*largest* input width at ``j``, sliced at run time to the sampled architecture's width (dynamic ops
from :mod:`autogtkd.nn`). Only entries ``j ≥ 1`` are used (the input width of stage ``j`` is the
output width of stage ``j−1``, known from ``supernet.stage_channels(arch)``); the branch into the
head alone (from the teacher's last stage) is off unless ``include_head_only=True``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from autogtkd.nn import DynamicBatchNorm2d, DynamicConv2d
from autogtkd.space import Arch
from autogtkd.supernet import Supernet

__all__ = ["BranchSpec", "StudentBranches", "match_branches", "teacher_geometry"]


@dataclass(frozen=True)
class BranchSpec:
    """One branch: teacher stage ``teacher_stage`` (0-based) enters student stage ``student_stage``
    (0-based; ``== len(supernet.stages)`` means the head), average-pooled by ``pool`` first."""

    teacher_stage: int
    student_stage: int
    pool: int


def _list(value: Any) -> list[int]:
    return [int(v) for v in (value() if callable(value) else value)]


def teacher_geometry(teacher: nn.Module) -> tuple[list[int], list[int]]:
    """``(stage_channels, stage_strides)`` of a staged teacher (attributes or zero-argument methods)."""
    return _list(teacher.stage_channels), _list(teacher.stage_strides)  # type: ignore[arg-type]


def match_branches(
    teacher_strides: Sequence[int], student_strides: Sequence[int], *, include_head_only: bool = False
) -> list[BranchSpec]:
    """Pair each teacher stage with the student stage that reads its resolution (see module doc).

    Args:
        teacher_strides: teacher stage output strides, e.g. ``[1, 2, 4]``.
        student_strides: supernet stage output strides, e.g. ``[1, 1, 2, 2, 4]``.
    """
    n = len(student_strides)
    last = n if include_head_only else n - 1
    in_strides = {j: int(student_strides[j - 1]) for j in range(1, last + 1)}  # input stride of stage j
    specs = []
    for k, s in enumerate(teacher_strides):
        same = [j for j, t in in_strides.items() if t == s]
        if same:
            specs.append(BranchSpec(k, max(same), 1))
            continue
        coarser = [j for j, t in in_strides.items() if t > s and t % s == 0]
        if coarser:
            j = min(coarser)
            specs.append(BranchSpec(k, j, in_strides[j] // s))
    return specs


class _Adapter(nn.Module):
    """``[avgpool] → 1×1 DynamicConv2d → DynamicBatchNorm2d → ReLU``; output width set per call."""

    def __init__(self, in_channels: int, max_out: int, pool: int) -> None:
        super().__init__()
        self.pool = pool
        self.conv = DynamicConv2d(in_channels, max_out, 1)
        self.bn = DynamicBatchNorm2d(max_out)

    def forward(self, x: torch.Tensor, width: int) -> torch.Tensor:  # (N, C_T, H, W) -> (N, width, H/p, W/p)
        if self.pool > 1:
            x = F.avg_pool2d(x, self.pool, ceil_mode=True)
        self.conv.active_out = width
        return F.relu(self.bn(self.conv(x)))


class StudentBranches(nn.Module):
    """The adapters ``t_k`` of every branch and the branch forward pass.

    Args:
        teacher_channels / teacher_strides: the teacher's stage output channels and strides.
        supernet: the student supernet (its ``stage_strides()`` and ``stage_channels(largest)``).
        include_head_only: also branch into the head alone (see module doc).

    Example:
        >>> logits = branches(teacher_feats, supernet, arch)   # doctest: +SKIP
        >>> # logits: a list of (N, classes) tensors, one per branch
    """

    def __init__(
        self,
        teacher_channels: Sequence[int],
        teacher_strides: Sequence[int],
        supernet: Supernet,
        *,
        include_head_only: bool = False,
    ) -> None:
        super().__init__()
        self.specs = match_branches(teacher_strides, supernet.stage_strides(), include_head_only=include_head_only)
        max_widths = supernet.stage_channels(supernet.space.largest())
        self.adapters = nn.ModuleList(
            _Adapter(int(teacher_channels[s.teacher_stage]), int(max_widths[s.student_stage - 1]), s.pool)
            for s in self.specs
        )

    def forward(self, teacher_feats: Sequence[torch.Tensor], supernet: Supernet, arch: Arch) -> list[torch.Tensor]:
        """Logits ``z_k(arch)`` of every branch, each ``(N, classes)``; ``supernet`` is activated to
        ``arch`` for the call and restored afterwards."""
        widths = supernet.stage_channels(arch)
        out = []
        with supernet.activated(arch):
            for spec, adapter in zip(self.specs, self.adapters, strict=True):
                h = adapter(teacher_feats[spec.teacher_stage], widths[spec.student_stage - 1])
                out.append(supernet.forward_from(spec.student_stage, h))
        return out


def run_path(supernet: Supernet, arch: Arch, x: torch.Tensor) -> torch.Tensor:
    """The full student path ``arch`` on images ``x`` (N, C, H, W) → logits (N, classes)."""
    with supernet.activated(arch):
        return supernet(x)


PathFn = Callable[[Supernet, Arch, torch.Tensor], torch.Tensor]
