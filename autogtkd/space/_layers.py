"""Per-layer cost records shared by analytic cost formulas and latency look-up tables."""

from __future__ import annotations

from typing import NamedTuple

__all__ = ["LayerCost"]


class LayerCost(NamedTuple):
    """Cost of one layer (or block) of a network at batch 1.

    Attributes:
        signature: what determines the layer's latency (type, widths, kernel, stride, resolution);
            equal signatures mean equal layers -- the key of a per-block latency look-up table.
        flops: multiply-accumulates of conv/linear ops.
        params: parameters (weights, biases, BatchNorm affine).
        activations: elements of the layer's output tensor (a proxy for memory traffic).
    """

    signature: str
    flops: int
    params: int
    activations: int
