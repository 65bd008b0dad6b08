"""Example: a user-defined search space, loadable by path.

Two ways to bring your own space:

1. **Configure a built-in family** (this file's ``build_space``): a MobileNetV3-style space for 64x64
   images with narrower stages. It gets a weight-sharing supernet, exact export and closed-form FLOPs
   for free.
2. **Subclass SearchSpace** (``TinyConvSpace`` below): declare the decisions and ``build_model``; FLOPs
   and params are then counted on the built model (cached per architecture). Pair it with your own
   evaluator for search.

Try it:

    autogtkd spaces --space search_spaces/example_custom_space.py
    python search_spaces/example_custom_space.py
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from torch import nn

from autogtkd.space import (
    Choice,
    MBStageConfig,
    MobileNetV3Config,
    MobileNetV3Space,
    SearchSpace,
)


def build_space(num_classes: int = 200) -> MobileNetV3Space:
    """A narrow MobileNetV3-style space for 64x64 images (e.g. Tiny-ImageNet, 200 classes)."""
    return MobileNetV3Space(
        MobileNetV3Config(
            name="mbv3-tiny64",
            input_size=64,
            num_classes=num_classes,
            stem_channels=16,
            stem_stride=2,
            first_channels=16,
            stages=(
                MBStageConfig(24, 1, se=False, act="relu", depth=(1, 2), kernel=(3, 5), expand=(3, 4)),
                MBStageConfig(40, 2, se=True, act="relu", depth=(1, 2, 3), kernel=(3, 5), expand=(3, 4, 6)),
                MBStageConfig(80, 2, se=True, act="hswish", depth=(2, 3), kernel=(3, 5), expand=(3, 6)),
            ),
            final_channels=480,
            feature_channels=640,
            width=(0.75, 1.0),
        )
    )


class TinyConvSpace(SearchSpace):
    """A plain CNN space without a supernet: depth, width and kernel of a conv stack."""

    name = "tiny-conv"
    input_size = 32

    @property
    def choices(self) -> tuple[Choice, ...]:
        return (Choice("depth", (1, 2, 3)), Choice("width", (16, 32, 64)), Choice("kernel", (3, 5)))

    def build_model(self, arch: Mapping[str, Any], *, num_classes: int | None = None) -> nn.Module:
        a = self.canonical(arch)
        layers: list[nn.Module] = []
        c = self.in_channels
        for _ in range(int(a["depth"])):
            layers += [nn.Conv2d(c, int(a["width"]), int(a["kernel"]), padding=int(a["kernel"]) // 2), nn.ReLU()]
            c = int(a["width"])
        layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(c, num_classes or self.num_classes)]
        return nn.Sequential(*layers)


if __name__ == "__main__":
    rng = np.random.default_rng(0)
    space = build_space()
    arch = space.sample(rng)
    model = space.build_supernet().export(arch)  # a plain nn.Module
    print(f"{space.name}: {space.size():.3g} networks; sample has {space.flops(arch) / 1e6:.1f} MFLOPs (MACs), "
          f"{space.params(arch) / 1e6:.2f} M params, exported as {type(model).__name__}")
    tiny = TinyConvSpace()
    a = tiny.sample(rng)
    print(f"{tiny.name}: {tiny.size()} networks; {dict(a)} has {tiny.flops(a) / 1e6:.2f} MFLOPs (counted)")
