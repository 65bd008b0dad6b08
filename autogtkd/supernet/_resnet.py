"""The ResNet supernet: dynamic bottlenecks with elastic depth, stage width and expand ratio."""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

import torch
from torch import nn

from autogtkd.nn._dynamic import DynamicConvBNAct, DynamicLinear
from autogtkd.nn._static import Bottleneck, StagedNet, make_divisible
from autogtkd.supernet._base import DynamicStage, Supernet

if TYPE_CHECKING:  # annotations only: autogtkd.space is the layer above (docs/architecture.md, "Layers")
    from autogtkd.space._arch import Arch
    from autogtkd.space._resnet import ResNetSpace

__all__ = ["DynamicBottleneck", "ResNetSupernet"]


class DynamicBottleneck(nn.Module):
    """Bottleneck with elastic output width and expand ratio (mid = ``make_divisible(out * expand)``)."""

    def __init__(self, max_in: int, max_out: int, expands: tuple[float, ...], stride: int, *, shortcut: bool) -> None:
        super().__init__()
        max_mid = make_divisible(max_out * max(expands))
        self.stride = stride
        self.conv1 = DynamicConvBNAct(max_in, max_mid, 1, act="relu")
        self.conv2 = DynamicConvBNAct(max_mid, max_mid, 3, stride, act="relu")
        self.conv3 = DynamicConvBNAct(max_mid, max_out, 1, act="none")
        self.shortcut = DynamicConvBNAct(max_in, max_out, 1, stride, act="none") if shortcut else None

    def set_active(self, out: int, expand: float) -> None:
        """Set the output width and the expand ratio."""
        mid = make_divisible(out * expand)
        self.conv1.conv.active_out = self.conv2.conv.active_out = mid
        self.conv3.conv.active_out = out
        if self.shortcut is not None:
            self.shortcut.conv.active_out = out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv3(self.conv2(self.conv1(x)))
        return torch.relu(h + (self.shortcut(x) if self.shortcut is not None else x))

    def export(self, in_channels: int) -> Bottleneck:
        """The static block for inputs with ``in_channels`` channels."""
        mid, out = self.conv1.conv.active_out, self.conv3.conv.active_out
        block = Bottleneck(in_channels, mid, out, self.stride, shortcut=self.shortcut is not None)
        block.conv1 = self.conv1.export(in_channels)
        block.conv2 = self.conv2.export(mid)
        block.conv3 = self.conv3.export(mid)
        if self.shortcut is not None:
            block.shortcut = self.shortcut.export(in_channels)
        return block


class _Head(nn.Module):
    def __init__(self, max_in: int, num_classes: int) -> None:
        super().__init__()
        self.classifier = DynamicLinear(max_in, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(x.mean((2, 3)))  # (N, C, H, W) -> (N, C) -> (N, classes)

    def export(self, in_channels: int) -> nn.Sequential:
        return nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(1), self.classifier.export(in_channels))


class ResNetSupernet(Supernet):
    """Supernet of a :class:`~autogtkd.space.ResNetSpace`."""

    stem: DynamicConvBNAct
    head: _Head

    def __init__(self, space: ResNetSpace, *, num_classes: int | None = None) -> None:
        cfg = space.config
        stem = DynamicConvBNAct(cfg.in_channels, cfg.stem_channels, cfg.stem_kernel, cfg.stem_stride, act="relu")
        stages: list[DynamicStage] = []
        c = cfg.stem_channels
        for s in cfg.stages:
            out = make_divisible(s.channels * max(s.width))
            blocks = [
                DynamicBottleneck(c if j == 0 else out, out, s.expand, s.stride if j == 0 else 1, shortcut=j == 0)
                for j in range(max(s.depth))
            ]
            stages.append(DynamicStage(blocks))
            c = out
        super().__init__(space, stem, stages, _Head(c, num_classes or cfg.num_classes))

    @property
    def _space(self) -> ResNetSpace:
        return self.space  # type: ignore[return-value]

    def _apply_arch(self, arch: Arch) -> None:
        for i, (stage, out) in enumerate(zip(self._dynamic_stages(), self._space.stage_widths(arch), strict=True), 1):
            stage.active_depth = int(arch[f"s{i}.depth"])
            for j, block in enumerate(stage.blocks, 1):
                cast(DynamicBottleneck, block).set_active(out, float(arch[f"s{i}.b{j}.expand"]))

    def _export_arch(self, arch: Arch) -> StagedNet:
        cfg = self._space.config
        stem = self.stem.export(cfg.in_channels)
        stages, c = [], cfg.stem_channels
        for stage, out in zip(self._dynamic_stages(), self._space.stage_widths(arch), strict=True):
            blocks = []
            for block in stage.blocks[: stage.active_depth]:
                blocks.append(cast(DynamicBottleneck, block).export(c))
                c = out
            stages.append(nn.Sequential(*blocks))
        return StagedNet(stem, stages, self.head.export(c))
