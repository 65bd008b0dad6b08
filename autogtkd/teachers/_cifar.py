"""CIFAR teachers after RepDistiller (Tian et al., 2020): ResNets with basic blocks and wide ResNets.

Definitions follow RepDistiller's ``models/resnet.py`` and ``models/wrn.py``: three stages at strides
1, 2, 2 (so features at 32, 16 and 8 pixels for 32x32 input); ResNet-d has ``(d - 2) / 6`` basic
blocks per stage with widths 16/32/64 (stem 16) or, for the ``x4`` variants, 64/128/256 (stem 32);
WRN-d-k has ``(d - 4) / 6`` pre-activation blocks per stage with widths 16k/32k/64k (stem 16).
The head uses adaptive average pooling so inputs other than 32x32 also work.
"""

from __future__ import annotations

import torch
from torch import nn

from autogtkd.teachers._staged import StagedTeacher

__all__ = ["BasicBlock", "WideBasicBlock", "cifar_resnet", "wide_resnet"]


class BasicBlock(nn.Module):
    """``conv3x3(stride) -> BN -> ReLU -> conv3x3 -> BN``, plus identity or ``1x1 conv + BN``, then ReLU."""

    def __init__(self, in_channels: int, out_channels: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.downsample: nn.Module | None = None
        if stride != 1 or in_channels != out_channels:
            self.downsample = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1, stride, bias=False), nn.BatchNorm2d(out_channels)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return torch.relu(out + (x if self.downsample is None else self.downsample(x)))


class WideBasicBlock(nn.Module):
    """Pre-activation wide block: ``BN -> ReLU -> conv3x3(stride) -> BN -> ReLU -> conv3x3``, plus the
    identity, or a ``1x1 conv`` of the activated input when the shape changes (RepDistiller's WRN)."""

    def __init__(self, in_channels: int, out_channels: int, stride: int) -> None:
        super().__init__()
        self.bn1 = nn.BatchNorm2d(in_channels)
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, 1, 1, bias=False)
        self.equal_in_out = in_channels == out_channels and stride == 1
        self.shortcut = None if self.equal_in_out else nn.Conv2d(in_channels, out_channels, 1, stride, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        act = torch.relu(self.bn1(x))
        out = self.conv2(torch.relu(self.bn2(self.conv1(act))))
        return out + (x if self.shortcut is None else self.shortcut(act))


def _init(model: nn.Module) -> None:
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Linear) and m.bias is not None:
            nn.init.zeros_(m.bias)


def _stage(block: type[nn.Module], in_channels: int, out_channels: int, n: int, stride: int) -> nn.Sequential:
    blocks = [block(in_channels, out_channels, stride)]
    blocks += [block(out_channels, out_channels, 1) for _ in range(n - 1)]
    return nn.Sequential(*blocks)


def cifar_resnet(
    depth: int, widths: tuple[int, int, int, int], *, num_classes: int, in_channels: int = 3
) -> StagedTeacher:
    """RepDistiller's CIFAR ResNet-``depth`` (``depth = 6n + 2``) with ``widths = (stem, s1, s2, s3)``.

    Stem: ``conv3x3 -> BN -> ReLU``; head: global average pool + linear. Stage strides 1, 2, 4.
    """
    if (depth - 2) % 6:
        raise ValueError(f"CIFAR ResNet depth must be 6n + 2, got {depth}")
    n = (depth - 2) // 6
    stem = nn.Sequential(
        nn.Conv2d(in_channels, widths[0], 3, 1, 1, bias=False), nn.BatchNorm2d(widths[0]), nn.ReLU(inplace=True)
    )
    stages = [
        _stage(BasicBlock, widths[0], widths[1], n, 1),
        _stage(BasicBlock, widths[1], widths[2], n, 2),
        _stage(BasicBlock, widths[2], widths[3], n, 2),
    ]
    head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(1), nn.Linear(widths[3], num_classes))
    model = StagedTeacher(
        stem, stages, head, input_shape=(in_channels, 32, 32), stage_channels=list(widths[1:]), stage_strides=[1, 2, 4]
    )
    _init(model)
    return model


def wide_resnet(depth: int, widen: int, *, num_classes: int, in_channels: int = 3) -> StagedTeacher:
    """RepDistiller's WRN-``depth``-``widen`` (``depth = 6n + 4``, no dropout).

    Stem: ``conv3x3`` to 16 channels; stages of pre-activation blocks (16k, 32k, 64k channels, strides
    1, 2, 4); head: ``BN -> ReLU -> global average pool -> linear``. Stage outputs are pre-activation.
    """
    if (depth - 4) % 6:
        raise ValueError(f"WRN depth must be 6n + 4, got {depth}")
    n = (depth - 4) // 6
    w = [16, 16 * widen, 32 * widen, 64 * widen]
    stem = nn.Conv2d(in_channels, w[0], 3, 1, 1, bias=False)
    stages = [
        _stage(WideBasicBlock, w[0], w[1], n, 1),
        _stage(WideBasicBlock, w[1], w[2], n, 2),
        _stage(WideBasicBlock, w[2], w[3], n, 2),
    ]
    head = nn.Sequential(
        nn.BatchNorm2d(w[3]),
        nn.ReLU(inplace=True),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(1),
        nn.Linear(w[3], num_classes),
    )
    model = StagedTeacher(
        stem, stages, head, input_shape=(in_channels, 32, 32), stage_channels=w[1:], stage_strides=[1, 2, 4]
    )
    _init(model)
    return model
