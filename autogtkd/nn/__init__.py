"""Static blocks and their dynamic (weight-sharing) counterparts."""

from autogtkd.nn._dynamic import DynamicBatchNorm2d, DynamicConv2d, DynamicConvBNAct, DynamicLinear, DynamicSE
from autogtkd.nn._static import (
    Bottleneck,
    ConvBNAct,
    MBConv,
    SqueezeExcite,
    StagedNet,
    build_activation,
    make_divisible,
)

__all__ = [
    "Bottleneck",
    "ConvBNAct",
    "DynamicBatchNorm2d",
    "DynamicConv2d",
    "DynamicConvBNAct",
    "DynamicLinear",
    "DynamicSE",
    "MBConv",
    "SqueezeExcite",
    "StagedNet",
    "build_activation",
    "make_divisible",
]
