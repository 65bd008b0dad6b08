"""Dynamic (weight-sharing) ops: they hold the largest weights and slice them at run time.

Input channels are read from the input tensor (first-k channels of the weight); output channels and
kernel sizes are set by the owning supernet (``active_out``, ``active_kernel``). Kernels are
centre-cropped. ``export(in_channels)`` returns the static counterpart from :mod:`autogtkd.nn._static`
with copied weights.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from autogtkd.nn._static import ConvBNAct, SqueezeExcite, build_activation, make_divisible

__all__ = ["DynamicBatchNorm2d", "DynamicConv2d", "DynamicConvBNAct", "DynamicLinear", "DynamicSE"]


class DynamicConv2d(nn.Module):
    """A convolution whose output channels and kernel size can shrink (first-k channels, centre crop).

    Args:
        max_in: largest input channels; max_out: largest output channels.
        max_kernel: largest (odd) kernel size; stride: stride.
        depthwise: one filter per input channel (``groups = channels``, ``out = in``).
        bias: whether the conv has a bias.
    """

    def __init__(
        self, max_in: int, max_out: int, max_kernel: int = 1, stride: int = 1, *, depthwise: bool = False, bias: bool = False
    ) -> None:
        super().__init__()
        self.max_in, self.max_out, self.max_kernel = max_in, max_out, max_kernel
        self.stride, self.depthwise = stride, depthwise
        in_per_group = 1 if depthwise else max_in
        self.weight = nn.Parameter(torch.empty(max_out, in_per_group, max_kernel, max_kernel))
        self.bias = nn.Parameter(torch.zeros(max_out)) if bias else None
        nn.init.kaiming_normal_(self.weight, mode="fan_out")
        self.active_out = max_out
        self.active_kernel = max_kernel

    def _weight(self, in_channels: int) -> torch.Tensor:
        k = self.active_kernel
        s = (self.max_kernel - k) // 2
        if self.depthwise:
            return self.weight[:in_channels, :, s : s + k, s : s + k]
        return self.weight[: self.active_out, :in_channels, s : s + k, s : s + k]

    def out_channels(self, in_channels: int) -> int:
        """Output channels for a given input width."""
        return in_channels if self.depthwise else self.active_out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        c = x.shape[1]
        bias = None if self.bias is None else self.bias[: self.out_channels(c)]
        groups = c if self.depthwise else 1
        return F.conv2d(x, self._weight(c), bias, self.stride, self.active_kernel // 2, 1, groups)

    def export(self, in_channels: int) -> nn.Conv2d:
        """A static ``nn.Conv2d`` equal to this op for inputs with ``in_channels`` channels."""
        out = self.out_channels(in_channels)
        k = self.active_kernel
        conv = nn.Conv2d(
            in_channels, out, k, self.stride, k // 2, groups=in_channels if self.depthwise else 1, bias=self.bias is not None
        )
        with torch.no_grad():
            conv.weight.copy_(self._weight(in_channels))
            if self.bias is not None and conv.bias is not None:
                conv.bias.copy_(self.bias[:out])
        return conv


class DynamicBatchNorm2d(nn.BatchNorm2d):
    """BatchNorm over the first ``C`` channels of the largest layer (``C`` read from the input)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        c = x.shape[1]
        if c == self.num_features:
            return super().forward(x)
        training = self.training or not self.track_running_stats
        mean, var, seen = self.running_mean, self.running_var, self.num_batches_tracked  # None without statistics
        if self.training and seen is not None:
            seen.add_(1)
        return F.batch_norm(
            x,
            None if mean is None else mean[:c],
            None if var is None else var[:c],
            self.weight[:c],
            self.bias[:c],
            training,
            self.momentum if self.momentum is not None else 0.0,
            self.eps,
        )

    def export(self, channels: int) -> nn.BatchNorm2d:
        """A static ``nn.BatchNorm2d`` over ``channels`` channels with copied parameters and statistics."""
        bn = nn.BatchNorm2d(channels, eps=self.eps, momentum=self.momentum)
        mean, var, seen = self.running_mean, self.running_var, self.num_batches_tracked
        if mean is None or var is None or seen is None:
            raise ValueError("export needs a BatchNorm that tracks running statistics")
        with torch.no_grad():
            bn.weight.copy_(self.weight[:channels])
            bn.bias.copy_(self.bias[:channels])
        bn.running_mean, bn.running_var = mean[:channels].clone(), var[:channels].clone()
        bn.num_batches_tracked = seen.clone()
        return bn


class DynamicLinear(nn.Module):
    """A linear layer over the first ``in`` input features (read from the input)."""

    def __init__(self, max_in: int, out_features: int) -> None:
        super().__init__()
        self.max_in, self.out_features = max_in, out_features
        self.weight = nn.Parameter(torch.empty(out_features, max_in))
        self.bias = nn.Parameter(torch.zeros(out_features))
        nn.init.normal_(self.weight, 0.0, 0.01)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.weight[:, : x.shape[1]], self.bias)

    def export(self, in_features: int) -> nn.Linear:
        """A static ``nn.Linear`` with ``in_features`` inputs."""
        lin = nn.Linear(in_features, self.out_features)
        with torch.no_grad():
            lin.weight.copy_(self.weight[:, :in_features])
            lin.bias.copy_(self.bias)
        return lin


class DynamicConvBNAct(nn.Module):
    """Dynamic ``conv -> BN -> activation``; static form :class:`ConvBNAct`."""

    def __init__(
        self, max_in: int, max_out: int, max_kernel: int = 1, stride: int = 1, *, depthwise: bool = False, act: str = "relu"
    ) -> None:
        super().__init__()
        self.conv = DynamicConv2d(max_in, max_out, max_kernel, stride, depthwise=depthwise)
        self.bn = DynamicBatchNorm2d(max_out)
        self.act = build_activation(act)
        self.act_name = act

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.bn(self.conv(x)))

    def export(self, in_channels: int) -> ConvBNAct:
        """The static block for inputs with ``in_channels`` channels."""
        conv = self.conv
        out = conv.out_channels(in_channels)
        block = ConvBNAct(
            in_channels, out, conv.active_kernel, conv.stride, groups=in_channels if conv.depthwise else 1, act=self.act_name
        )
        block[0] = conv.export(in_channels)
        block[1] = self.bn.export(out)
        return block


class DynamicSE(nn.Module):
    """Squeeze-excite whose width follows its input; reduced width ``make_divisible(C / 4)``."""

    def __init__(self, max_channels: int, reduction: int = 4) -> None:
        super().__init__()
        self.reduction = reduction
        self.reduce = DynamicConv2d(max_channels, self.reduced(max_channels), bias=True)
        self.expand = DynamicConv2d(self.reduced(max_channels), max_channels, bias=True)

    def reduced(self, channels: int) -> int:
        """Hidden width for ``channels`` input channels."""
        return make_divisible(channels / self.reduction, 8)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        c = x.shape[1]
        self.reduce.active_out = self.reduced(c)
        self.expand.active_out = c
        s = self.expand(torch.relu(self.reduce(x.mean((2, 3), keepdim=True))))
        return x * F.hardsigmoid(s)

    def export(self, channels: int) -> SqueezeExcite:
        """The static block for ``channels`` channels."""
        self.reduce.active_out = r = self.reduced(channels)
        self.expand.active_out = channels
        se = SqueezeExcite(channels, r)
        se.reduce = self.reduce.export(channels)
        se.expand = self.expand.export(r)
        return se
