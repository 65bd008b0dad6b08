"""Static (plain PyTorch) building blocks: what a supernet exports to.

Every module here is ordinary ``nn.Conv2d`` / ``nn.BatchNorm2d`` / ``nn.Linear`` code with fixed
shapes; nothing refers back to a supernet.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

__all__ = [
    "Bottleneck",
    "ConvBNAct",
    "MBConv",
    "SqueezeExcite",
    "StagedNet",
    "build_activation",
    "make_divisible",
]


def make_divisible(value: float, divisor: int = 8, min_value: int | None = None) -> int:
    """Round ``value`` to the nearest multiple of ``divisor`` not below 90 % of it (MobileNet rule)."""
    min_value = divisor if min_value is None else min_value
    new = max(min_value, int(value + divisor / 2) // divisor * divisor)
    if new < 0.9 * value:
        new += divisor
    return new


def build_activation(name: str) -> nn.Module:
    """``"relu"``, ``"hswish"``, ``"hsigmoid"`` or ``"none"``."""
    acts = {"relu": nn.ReLU, "hswish": nn.Hardswish, "hsigmoid": nn.Hardsigmoid, "none": nn.Identity}
    if name not in acts:
        raise ValueError(f"unknown activation {name!r}; valid: {', '.join(acts)}")
    return acts[name]()


class ConvBNAct(nn.Sequential):
    """``Conv2d(bias=False) -> BatchNorm2d -> activation`` with 'same' padding."""

    def __init__(
        self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1, *, groups: int = 1, act: str = "relu"
    ) -> None:
        super().__init__(
            nn.Conv2d(in_channels, out_channels, kernel_size, stride, kernel_size // 2, groups=groups, bias=False),
            nn.BatchNorm2d(out_channels),
            build_activation(act),
        )


class SqueezeExcite(nn.Module):
    """MobileNetV3 squeeze-and-excite: ``x * hsigmoid(W2 relu(W1 avgpool(x)))``, 1x1 convs with bias."""

    def __init__(self, channels: int, reduced: int) -> None:
        super().__init__()
        self.reduce = nn.Conv2d(channels, reduced, 1, bias=True)
        self.expand = nn.Conv2d(reduced, channels, 1, bias=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # x: (N, C, H, W)
        s = x.mean((2, 3), keepdim=True)  # (N, C, 1, 1)
        s = self.expand(torch.relu(self.reduce(s)))
        return x * nn.functional.hardsigmoid(s)


class MBConv(nn.Module):
    """Inverted residual block: [1x1 expand] -> kxk depthwise -> [SE] -> 1x1 project (+ identity).

    The identity shortcut is used when ``stride == 1`` and ``in_channels == out_channels``.
    """

    def __init__(
        self,
        in_channels: int,
        mid_channels: int,
        out_channels: int,
        kernel_size: int,
        stride: int,
        *,
        se_channels: int | None,
        act: str,
        expand: bool = True,
    ) -> None:
        super().__init__()
        self.expand = ConvBNAct(in_channels, mid_channels, 1, act=act) if expand else None
        self.depthwise = ConvBNAct(mid_channels, mid_channels, kernel_size, stride, groups=mid_channels, act=act)
        self.se = SqueezeExcite(mid_channels, se_channels) if se_channels else None
        self.project = ConvBNAct(mid_channels, out_channels, 1, act="none")
        self.residual = stride == 1 and in_channels == out_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.expand(x) if self.expand is not None else x
        h = self.depthwise(h)
        if self.se is not None:
            h = self.se(h)
        h = self.project(h)
        return x + h if self.residual else h


class Bottleneck(nn.Module):
    """ResNet bottleneck: 1x1 -> 3x3 (stride) -> 1x1, plus identity or 1x1-conv shortcut, then ReLU."""

    def __init__(self, in_channels: int, mid_channels: int, out_channels: int, stride: int, *, shortcut: bool) -> None:
        super().__init__()
        self.conv1 = ConvBNAct(in_channels, mid_channels, 1, act="relu")
        self.conv2 = ConvBNAct(mid_channels, mid_channels, 3, stride, act="relu")
        self.conv3 = ConvBNAct(mid_channels, out_channels, 1, act="none")
        self.shortcut = ConvBNAct(in_channels, out_channels, 1, stride, act="none") if shortcut else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv3(self.conv2(self.conv1(x)))
        return torch.relu(h + (self.shortcut(x) if self.shortcut is not None else x))


class StagedNet(nn.Module):
    """A network as ``stem -> stages[0] -> ... -> stages[K-1] -> head``.

    Both supernets and their exported students have this shape, so knowledge-distillation branches
    can enter any stage (:meth:`forward_from`) and read any stage's output (:meth:`forward_stages`).
    """

    def __init__(self, stem: nn.Module, stages: Sequence[nn.Module], head: nn.Module) -> None:
        super().__init__()
        self.stem = stem
        self.stages = nn.ModuleList(stages)
        self.head = head

    def forward_stages(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Outputs of every stage (the stem's output is not included)."""
        feats = []
        h = self.stem(x)
        for stage in self.stages:
            h = stage(h)
            feats.append(h)
        return feats

    def forward_from(self, stage: int, h: torch.Tensor) -> torch.Tensor:
        """Run stages ``stage, stage+1, ...`` and the head on ``h`` (the input of stage ``stage``)."""
        for s in self.stages[stage:]:
            h = s(h)
        return self.head(h)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (N, C, H, W) -> (N, classes)
        return self.forward_from(0, self.stem(x))
