"""ResNet-style bottleneck search spaces (``resnet-cifar``, ``resnet-imagenet``).

Layout: stem ``3x3 conv`` (or ``7x7/2`` + max-pool-free ``3x3/2`` conv at ImageNet size) -> elastic
bottleneck stages -> global pool -> linear. Per stage: depth and a width multiplier of the stage's
output channels; per block: the bottleneck expand ratio (mid = ``make_divisible(out * expand)``). The
first block of each stage has a ``1x1`` projection shortcut.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any

from autogtkd.nn._static import make_divisible
from autogtkd.space._base import Choice
from autogtkd.space._family import FamilySpace, LayerRecord
from autogtkd.supernet._resnet import ResNetSupernet

if TYPE_CHECKING:
    from autogtkd.supernet import Supernet

__all__ = ["ResNetConfig", "ResNetSpace", "ResStageConfig"]


@dataclass(frozen=True)
class ResStageConfig:
    """One elastic bottleneck stage: output ``channels`` at width 1, first-block ``stride``, options."""

    channels: int
    stride: int
    depth: tuple[int, ...] = (1, 2, 3)
    width: tuple[float, ...] = (0.5, 0.75, 1.0)
    expand: tuple[float, ...] = (0.2, 0.25, 0.35)


@dataclass(frozen=True)
class ResNetConfig:
    """A ResNet-style space. The stem is a ``stem_kernel`` conv with ``stem_stride``."""

    name: str
    input_size: int
    num_classes: int
    stem_channels: int
    stages: tuple[ResStageConfig, ...]
    stem_kernel: int = 3
    stem_stride: int = 1
    in_channels: int = 3


class ResNetSpace(FamilySpace):
    """Decisions: ``s{i}.depth``, ``s{i}.width``, ``s{i}.b{j}.expand`` (numbered from 1); blocks beyond
    a stage's depth are inactive."""

    config_type = ResNetConfig
    family = "resnet"

    @cached_property
    def choices(self) -> tuple[Choice, ...]:  # type: ignore[override]
        out = []
        for i, s in enumerate(self.config.stages, 1):
            out.append(Choice(f"s{i}.depth", s.depth))
            out.append(Choice(f"s{i}.width", s.width))
            out.extend(Choice(f"s{i}.b{j}.expand", s.expand) for j in range(1, max(s.depth) + 1))
        return tuple(out)

    def size(self) -> int:
        return math.prod(len(s.width) * sum(len(s.expand) ** d for d in s.depth) for s in self.config.stages)

    def stage_widths(self, arch: Mapping[str, Any]) -> list[int]:
        """Output channels of each stage."""
        return [make_divisible(s.channels * float(arch[f"s{i}.width"])) for i, s in enumerate(self.config.stages, 1)]

    def _layers(self, a: Mapping[str, Any]) -> list[LayerRecord]:
        """``(signature parts, flops, params, activations)`` per layer; the formulas of :meth:`layer_costs`."""
        cfg = self.config
        k, c_in, stem = cfg.stem_kernel, cfg.in_channels, cfg.stem_channels
        res = math.ceil(cfg.input_size / cfg.stem_stride)
        layers: list[LayerRecord] = [
            (
                ("stem", c_in, stem, k, cfg.stem_stride, cfg.input_size),
                res * res * c_in * stem * k * k,
                c_in * stem * k * k + 2 * stem,
                res * res * stem,
            )
        ]
        c = stem
        for i, (s, out) in enumerate(zip(cfg.stages, self.stage_widths(a), strict=True), 1):
            for j in range(1, int(a[f"s{i}.depth"]) + 1):
                stride = s.stride if j == 1 else 1
                mid = make_divisible(out * float(a[f"s{i}.b{j}.expand"]))
                r_out = math.ceil(res / stride)
                flops = res * res * c * mid + r_out * r_out * (9 * mid * mid + mid * out)
                params = c * mid + 9 * mid * mid + mid * out + 4 * mid + 2 * out
                if j == 1:
                    flops += r_out * r_out * c * out
                    params += c * out + 2 * out
                layers.append((("bottleneck", c, mid, out, stride, res, j == 1), flops, params, r_out * r_out * out))
                res, c = r_out, out
        n = cfg.num_classes
        layers.append((("head", c, n), c * n, c * n + n, n))
        return layers

    def build_supernet(self, *, num_classes: int | None = None) -> Supernet:
        return ResNetSupernet(self, num_classes=num_classes)
