"""Cost counting on real modules: multiply-accumulates (MACs) and parameters.

autogtkd's "FLOPs" are MACs. ``torch.utils.flop_counter`` counts 2 FLOPs per MAC for convolutions
and matrix products (and nothing for BatchNorm, activations, pooling or element-wise ops), so
``count_macs`` halves its total. This is the counter behind custom spaces without closed-form costs
and the independent check of the built-in spaces' analytic formulas.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

__all__ = ["count_macs", "count_params"]


def count_macs(model: nn.Module, input_shape: tuple[int, ...]) -> int:
    """MACs of one forward pass of ``model`` on a zero tensor of ``input_shape`` (e.g. ``(1, 3, 32, 32)``)."""
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            model(torch.zeros(input_shape))
    finally:
        model.train(was_training)
    return int(counter.get_total_flops()) // 2


def count_params(model: nn.Module) -> int:
    """Number of parameters (trainable or not; buffers excluded)."""
    return sum(p.numel() for p in model.parameters())
