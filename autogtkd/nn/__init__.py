"""Static blocks and their dynamic (weight-sharing) counterparts, and the model utilities every
higher layer shares: BatchNorm recalibration, device placement, CPU threads, top-1 accuracy."""

from autogtkd.nn._bn import recalibrate_bn
from autogtkd.nn._dynamic import DynamicBatchNorm2d, DynamicConv2d, DynamicConvBNAct, DynamicLinear, DynamicSE
from autogtkd.nn._runtime import cpu_threads, to_device, top1
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
    "cpu_threads",
    "make_divisible",
    "recalibrate_bn",
    "to_device",
    "top1",
]
