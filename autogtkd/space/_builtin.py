"""The built-in search spaces. Their YAML forms live in ``search_spaces/`` (a test keeps them equal)."""

from __future__ import annotations

from autogtkd.space._mbv3 import MBStageConfig, MobileNetV3Config, MobileNetV3Space
from autogtkd.space._resnet import ResNetConfig, ResNetSpace, ResStageConfig

__all__ = ["mbv3_cifar", "mbv3_imagenet", "resnet_cifar", "resnet_imagenet"]

# MobileNetV3-Large stage widths, SE and activations (Howard et al. 2019; Once-for-All's elastic ranges).
_MBV3_STAGES = (
    (24, False, "relu"),
    (40, True, "relu"),
    (80, False, "hswish"),
    (112, True, "hswish"),
    (160, True, "hswish"),
)


def _mbv3_stages(strides: tuple[int, ...]) -> tuple[MBStageConfig, ...]:
    return tuple(MBStageConfig(c, s, se, act) for (c, se, act), s in zip(_MBV3_STAGES, strides, strict=True))


def mbv3_cifar(num_classes: int = 10) -> MobileNetV3Space:
    """MobileNetV3-style space for 32x32 inputs.

    Stem stride 1 and stage strides (1, 1, 2, 1, 2): stages run at 32, 32, 16, 16 and 8 pixels;
    width multiplier in {0.35, 0.5, 0.75, 1.0}; 17-539 MFLOPs (MACs), 0.57-6.4 M parameters.
    """
    return MobileNetV3Space(
        MobileNetV3Config(
            name="mbv3-cifar",
            input_size=32,
            num_classes=num_classes,
            stem_channels=16,
            stem_stride=1,
            first_channels=16,
            stages=_mbv3_stages((1, 1, 2, 1, 2)),
            final_channels=960,
            feature_channels=1280,
            width=(0.35, 0.5, 0.75, 1.0),
            dropout=0.0,
        )
    )


def mbv3_imagenet(num_classes: int = 1000) -> MobileNetV3Space:
    """Once-for-All's MobileNetV3 space at 224x224 (width multiplier 1.0)."""
    return MobileNetV3Space(
        MobileNetV3Config(
            name="mbv3-imagenet",
            input_size=224,
            num_classes=num_classes,
            stem_channels=16,
            stem_stride=2,
            first_channels=16,
            stages=_mbv3_stages((2, 2, 2, 1, 2)),
            final_channels=960,
            feature_channels=1280,
            width=(1.0,),
            dropout=0.1,
        )
    )


def resnet_cifar(num_classes: int = 10) -> ResNetSpace:
    """Bottleneck ResNet for 32x32 inputs: three stages at 32, 16 and 8 pixels."""
    return ResNetSpace(
        ResNetConfig(
            name="resnet-cifar",
            input_size=32,
            num_classes=num_classes,
            stem_channels=32,
            stages=(ResStageConfig(128, 1), ResStageConfig(256, 2), ResStageConfig(512, 2)),
        )
    )


def resnet_imagenet(num_classes: int = 1000) -> ResNetSpace:
    """Bottleneck ResNet at 224x224 (ResNet-50 widths, elastic depth 2-4 per stage)."""
    return ResNetSpace(
        ResNetConfig(
            name="resnet-imagenet",
            input_size=224,
            num_classes=num_classes,
            stem_channels=64,
            stem_kernel=7,
            stem_stride=4,
            stages=(
                ResStageConfig(256, 1, depth=(2, 3)),
                ResStageConfig(512, 2, depth=(2, 3, 4)),
                ResStageConfig(1024, 2, depth=(2, 3, 4, 5, 6)),
                ResStageConfig(2048, 2, depth=(2, 3)),
            ),
        )
    )
