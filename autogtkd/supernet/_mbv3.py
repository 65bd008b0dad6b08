"""The MobileNetV3 supernet: dynamic inverted-residual blocks over the largest widths and kernels."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, cast

import torch
from torch import nn

from autogtkd.nn._dynamic import DynamicConv2d, DynamicConvBNAct, DynamicSE
from autogtkd.nn._static import MBConv, StagedNet, make_divisible
from autogtkd.supernet._base import DynamicStage, Supernet

if TYPE_CHECKING:  # annotations only: autogtkd.space is the layer above (docs/architecture.md, "Layers")
    from autogtkd.space._arch import Arch
    from autogtkd.space._mbv3 import MobileNetV3Space

__all__ = ["DynamicMBConv", "MobileNetV3Supernet"]


class DynamicMBConv(nn.Module):
    """Inverted residual block with elastic kernel, expand ratio and widths.

    Set ``active_kernel``, ``active_expand`` (mid = ``make_divisible(in * expand)``) and
    ``active_out``; the input width is read from the input.
    """

    def __init__(
        self,
        max_in: int,
        max_out: int,
        kernels: tuple[int, ...],
        expands: tuple[float, ...],
        stride: int,
        *,
        se: bool,
        act: str,
        expand: bool = True,
    ) -> None:
        super().__init__()
        max_mid = make_divisible(max_in * max(expands)) if expand else max_in
        self.stride, self.act = stride, act
        self.expand = DynamicConvBNAct(max_in, max_mid, 1, act=act) if expand else None
        self.depthwise = DynamicConvBNAct(max_mid, max_mid, max(kernels), stride, depthwise=True, act=act)
        self.se = DynamicSE(max_mid) if se else None
        self.project = DynamicConvBNAct(max_mid, max_out, 1, act="none")
        self.active_expand: float = max(expands)

    def set_active(self, out: int, kernel: int, expand: float) -> None:
        """Set the output width, kernel size and expand ratio."""
        self.project.conv.active_out = out
        self.depthwise.conv.active_kernel = kernel
        self.active_expand = expand

    def _mid(self, in_channels: int) -> int:
        return make_divisible(in_channels * self.active_expand) if self.expand is not None else in_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x
        if self.expand is not None:
            self.expand.conv.active_out = self._mid(x.shape[1])
            h = self.expand(h)
        h = self.depthwise(h)
        if self.se is not None:
            h = self.se(h)
        h = self.project(h)
        return x + h if self.stride == 1 and x.shape[1] == h.shape[1] else h

    def export(self, in_channels: int) -> MBConv:
        """The static block for inputs with ``in_channels`` channels."""
        mid = self._mid(in_channels)
        out = self.project.conv.active_out
        se = self.se.reduced(mid) if self.se is not None else None
        block = MBConv(
            in_channels,
            mid,
            out,
            self.depthwise.conv.active_kernel,
            self.stride,
            se_channels=se,
            act=self.act,
            expand=self.expand is not None,
        )
        if self.expand is not None:
            self.expand.conv.active_out = mid
            block.expand = self.expand.export(in_channels)
        block.depthwise = self.depthwise.export(mid)
        if self.se is not None:
            block.se = self.se.export(mid)
        block.project = self.project.export(mid)
        return block


class _Head(nn.Module):
    """final 1x1 expand -> global pool -> 1x1 feature conv (bias) + hswish -> dropout -> linear."""

    def __init__(self, max_in: int, max_final: int, feature: int, num_classes: int, dropout: float) -> None:
        super().__init__()
        self.final = DynamicConvBNAct(max_in, max_final, 1, act="hswish")
        self.feature = DynamicConv2d(max_final, feature, 1, bias=True)
        self.dropout = dropout
        self.classifier = nn.Linear(feature, num_classes)
        nn.init.normal_(self.classifier.weight, 0.0, 0.01)
        nn.init.zeros_(self.classifier.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.final(x).mean((2, 3), keepdim=True)  # (N, C, 1, 1)
        h = nn.functional.hardswish(self.feature(h)).flatten(1)  # (N, feature)
        h = nn.functional.dropout(h, self.dropout, self.training)
        return self.classifier(h)

    def export(self, in_channels: int) -> nn.Sequential:
        final = self.final.export(in_channels)
        return nn.Sequential(
            final,
            nn.AdaptiveAvgPool2d(1),
            self.feature.export(cast(nn.Conv2d, final[0]).out_channels),
            nn.Hardswish(),
            nn.Flatten(1),
            nn.Dropout(self.dropout),
            copy.deepcopy(self.classifier),
        )


class MobileNetV3Supernet(Supernet):
    """Supernet of a :class:`~autogtkd.space.MobileNetV3Space`; stages are the space's elastic stages
    (the stem holds the stem conv and the fixed first block)."""

    stem: nn.Sequential
    head: _Head

    def __init__(self, space: MobileNetV3Space, *, num_classes: int | None = None) -> None:
        cfg = space.config
        wmax = max(cfg.width)
        stem_c = make_divisible(cfg.stem_channels * wmax)
        first_c = make_divisible(cfg.first_channels * wmax)
        stem = nn.Sequential(
            DynamicConvBNAct(cfg.in_channels, stem_c, 3, cfg.stem_stride, act="hswish"),
            DynamicMBConv(stem_c, first_c, (3,), (1,), 1, se=False, act="relu", expand=False),
        )
        stages: list[DynamicStage] = []
        c = first_c
        for s in cfg.stages:
            out = make_divisible(s.channels * wmax)
            blocks = [
                DynamicMBConv(
                    c if j == 0 else out, out, s.kernel, s.expand, s.stride if j == 0 else 1, se=s.se, act=s.act
                )
                for j in range(max(s.depth))
            ]
            stages.append(DynamicStage(blocks))
            c = out
        head = _Head(
            c,
            make_divisible(cfg.final_channels * wmax),
            cfg.feature_channels,
            num_classes or cfg.num_classes,
            cfg.dropout,
        )
        super().__init__(space, stem, stages, head)

    @property
    def _space(self) -> MobileNetV3Space:
        return self.space  # type: ignore[return-value]

    def _widths(self, arch: Mapping[str, Any]) -> tuple[int, int, list[int], int]:
        cfg = self._space.config
        w = self._space._width(arch)
        return (
            make_divisible(cfg.stem_channels * w),
            make_divisible(cfg.first_channels * w),
            self._space.stage_widths(arch),
            make_divisible(cfg.final_channels * w),
        )

    def _stem_parts(self) -> tuple[DynamicConvBNAct, DynamicMBConv]:
        """The stem's conv and its fixed first block."""
        return cast(DynamicConvBNAct, self.stem[0]), cast(DynamicMBConv, self.stem[1])

    def _apply_arch(self, arch: Arch) -> None:
        stem_c, first_c, stage_cs, final_c = self._widths(arch)
        stem_conv, first_block = self._stem_parts()
        stem_conv.conv.active_out = stem_c
        first_block.set_active(first_c, 3, 1)
        for i, (stage, out) in enumerate(zip(self._dynamic_stages(), stage_cs, strict=True), 1):
            stage.active_depth = int(arch[f"s{i}.depth"])
            for j, block in enumerate(stage.blocks, 1):
                cast(DynamicMBConv, block).set_active(
                    out, int(arch[f"s{i}.b{j}.kernel"]), float(arch[f"s{i}.b{j}.expand"])
                )
        self.head.final.conv.active_out = final_c

    def _export_arch(self, arch: Arch) -> StagedNet:
        stem_c, first_c, stage_cs, _ = self._widths(arch)
        stem_conv, first_block = self._stem_parts()
        stem = nn.Sequential(stem_conv.export(self._space.in_channels), first_block.export(stem_c))
        stages, c = [], first_c
        for stage, out in zip(self._dynamic_stages(), stage_cs, strict=True):
            blocks = []
            for block in stage.blocks[: stage.active_depth]:
                blocks.append(cast(DynamicMBConv, block).export(c))
                c = out
            stages.append(nn.Sequential(*blocks))
        return StagedNet(stem, stages, self.head.export(c))
