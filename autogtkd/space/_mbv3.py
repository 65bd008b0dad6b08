"""MobileNetV3-style search spaces (``mbv3-cifar``, ``mbv3-imagenet``, and user variants).

Layout (as MobileNetV3-Large / Once-for-All): stem ``3x3 conv`` -> a fixed depthwise-separable first
block -> elastic inverted-residual stages (kernel, expand ratio per block, depth per stage;
squeeze-excite and hard-swish where MobileNetV3 has them) -> ``1x1`` final expand -> global pool ->
``1x1`` feature conv -> linear classifier. An optional global width multiplier scales every width
except the feature layer.
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
from autogtkd.supernet._mbv3 import MobileNetV3Supernet

if TYPE_CHECKING:
    from autogtkd.supernet import Supernet

__all__ = ["MBStageConfig", "MobileNetV3Config", "MobileNetV3Space"]


@dataclass(frozen=True)
class MBStageConfig:
    """One elastic stage: output ``channels`` (at width 1), first-block ``stride``, ``se`` on/off,
    activation (``relu``/``hswish``) and the options of ``depth``, ``kernel`` and ``expand``."""

    channels: int
    stride: int
    se: bool
    act: str
    depth: tuple[int, ...] = (2, 3, 4)
    kernel: tuple[int, ...] = (3, 5, 7)
    expand: tuple[int, ...] = (3, 4, 6)


@dataclass(frozen=True)
class MobileNetV3Config:
    """A MobileNetV3-style space. Widths are at width multiplier 1; resolutions in pixels."""

    name: str
    input_size: int
    num_classes: int
    stem_channels: int
    stem_stride: int
    first_channels: int
    stages: tuple[MBStageConfig, ...]
    final_channels: int
    feature_channels: int
    width: tuple[float, ...] = (1.0,)
    dropout: float = 0.0
    in_channels: int = 3

    def __post_init__(self) -> None:
        for i, s in enumerate(self.stages):
            if s.act not in ("relu", "hswish"):
                raise ValueError(f"stages[{i}].act must be relu or hswish, got {s.act!r}")
            if any(k % 2 == 0 for k in s.kernel):
                raise ValueError(f"stages[{i}].kernel options must be odd, got {s.kernel}")


class MobileNetV3Space(FamilySpace):
    """Decisions: ``width`` (when several multipliers), ``s{i}.depth``, ``s{i}.b{j}.kernel``,
    ``s{i}.b{j}.expand`` (stages and blocks numbered from 1). Blocks beyond a stage's depth are
    inactive and canonicalised to their first option."""

    config_type = MobileNetV3Config
    family = "mobilenetv3"

    # ------------------------------------------------------------------ decisions
    @cached_property
    def choices(self) -> tuple[Choice, ...]:  # type: ignore[override]
        out = []
        if len(self.config.width) > 1:
            out.append(Choice("width", self.config.width))
        for i, s in enumerate(self.config.stages, 1):
            out.append(Choice(f"s{i}.depth", s.depth))
            for j in range(1, max(s.depth) + 1):
                out.append(Choice(f"s{i}.b{j}.kernel", s.kernel))
                out.append(Choice(f"s{i}.b{j}.expand", s.expand))
        return tuple(out)

    def size(self) -> int:
        per_stage = [sum((len(s.kernel) * len(s.expand)) ** d for d in s.depth) for s in self.config.stages]
        return len(self.config.width) * math.prod(per_stage)

    def stage_widths(self, arch: Mapping[str, Any]) -> list[int]:
        """Output channels of each elastic stage (widths scaled by the ``width`` multiplier)."""
        w = self._width(arch)
        return [make_divisible(s.channels * w) for s in self.config.stages]

    def _width(self, arch: Mapping[str, Any]) -> float:
        return float(arch["width"]) if len(self.config.width) > 1 else self.config.width[0]

    # ------------------------------------------------------------------ costs
    def _layers(self, a: Mapping[str, Any]) -> list[LayerRecord]:
        """``(signature parts, flops, params, activations)`` per layer; the formulas of :meth:`layer_costs`."""
        cfg = self.config
        w = self._width(a)
        res = math.ceil(cfg.input_size / cfg.stem_stride)
        c_in = cfg.in_channels
        stem = make_divisible(cfg.stem_channels * w)
        layers = [
            (
                ("stem", c_in, stem, 3, cfg.stem_stride, cfg.input_size),
                res * res * c_in * stem * 9,
                c_in * stem * 9 + 2 * stem,
                res * res * stem,
            )
        ]
        first = make_divisible(cfg.first_channels * w)
        layers.append(_mbconv_cost(stem, stem, first, 3, 1, res, se=False, act="relu", expand=False))
        c = first
        for i, s in enumerate(cfg.stages, 1):
            out = make_divisible(s.channels * w)
            for j in range(1, int(a[f"s{i}.depth"]) + 1):
                stride = s.stride if j == 1 else 1
                k, e = int(a[f"s{i}.b{j}.kernel"]), a[f"s{i}.b{j}.expand"]
                mid = make_divisible(c * e)
                layers.append(_mbconv_cost(c, mid, out, k, stride, res, se=s.se, act=s.act, expand=True))
                res = math.ceil(res / stride)
                c = out
        final = make_divisible(cfg.final_channels * w)
        feat, n = cfg.feature_channels, cfg.num_classes
        layers.append(
            (
                ("head", c, final, feat, n, res),
                res * res * c * final + final * feat + feat * n,
                c * final + 2 * final + final * feat + feat + feat * n + n,
                n,
            )
        )
        return layers

    def build_supernet(self, *, num_classes: int | None = None) -> Supernet:
        return MobileNetV3Supernet(self, num_classes=num_classes)


def _mbconv_cost(
    c_in: int, mid: int, out: int, k: int, stride: int, res: int, *, se: bool, act: str, expand: bool
) -> tuple[tuple[Any, ...], int, int, int]:
    r_out = math.ceil(res / stride)
    flops = r_out * r_out * mid * k * k + r_out * r_out * mid * out
    params = mid * k * k + 2 * mid + mid * out + 2 * out
    if expand:
        flops += res * res * c_in * mid
        params += c_in * mid + 2 * mid
    if se:
        r = make_divisible(mid / 4)
        flops += 2 * mid * r
        params += 2 * mid * r + mid + r
    return ("mb", c_in, mid, out, k, stride, res, se, act, expand), flops, params, r_out * r_out * out
