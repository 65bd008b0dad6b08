"""Function-preserving ("grow from the smallest") initialisation of a weight-sharing supernet.

Every option beyond a reference architecture (normally the space's smallest) starts as a no-op, so
that at initialisation every subnet computes the same logits as the reference, and a larger subnet
is not worse than the smallest merely because its extra weights were rarely or never trained:

* extra **channels** (width multiplier, expand ratio, squeeze-excite width): every channel-mixing
  layer (a non-depthwise :class:`~autogtkd.nn.DynamicConv2d`, a :class:`~autogtkd.nn.DynamicLinear`)
  gets zero weights on the input channels the reference does not have. The extra channels are still
  computed (and stay channel-wise through depthwise convolutions, BN and residual additions), but
  nothing reads them, so the reference channels and the logits are unchanged;
* extra **kernel** taps: the outer ring of a depthwise kernel beyond the reference size is 0;
* extra **blocks** (depth): the BN scale ``γ`` of the last BatchNorm of a residual block that the
  reference does not run is 0 (``β`` is 0 already), so the block is the identity (BigNAS's
  zero-initialised residual, restricted to the new blocks).

Every zeroed number is an ordinary parameter with a non-zero gradient once a path using it is
trained (the inputs of a zeroed column are normal activations; a zeroed BN scale multiplies a
normalised, non-constant input), so no unit is dead; weight decay leaves parameters without a
gradient untouched, so options that are never sampled stay no-ops. Blocks are recognised by their
attributes (``project`` of an inverted-residual block, ``conv3`` of a bottleneck without shortcut),
layers by the :mod:`autogtkd.nn` dynamic ops; any other module keeps its initialisation.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import nn

from autogtkd.nn import DynamicBatchNorm2d, DynamicConv2d, DynamicLinear

__all__ = ["grow_init"]


def _residual_last_bns(modules: Sequence[nn.Module]) -> set[int]:
    """Ids of the last BN of each residual block (zeroed when the reference does not run the block)."""
    out: set[int] = set()
    for root in modules:
        for m in root.modules():
            block: Any = m  # duck-typed block
            if hasattr(block, "project") and hasattr(block, "depthwise"):  # inverted residual
                out.add(id(block.project.bn))
            elif hasattr(block, "conv3") and getattr(block, "shortcut", None) is None:  # bottleneck
                out.add(id(block.conv3.bn))
    return out


@torch.no_grad()
def grow_init(modules: Sequence[nn.Module], reference_forward: Callable[[], Any]) -> dict[str, int]:
    """Zero the parameters of every option beyond the reference architecture (see module doc).

    Args:
        modules: the modules to initialise (the supernet).
        reference_forward: runs the reference architecture once through ``modules`` (e.g. the smallest
            subnet on a ``(2, C, H, W)`` dummy batch); only the input widths and kernel sizes it uses
            are recorded. ``modules`` are in eval mode for the call (BN statistics do not change).

    Returns:
        counts of what was zeroed: ``input_columns`` (input channels zeroed per mixing layer, summed),
        ``kernel_taps`` (depthwise channels × taps) and ``blocks``.

    Example:
        >>> sn = space.build_supernet()                                         # doctest: +SKIP
        >>> def ref():
        ...     with sn.activated(space.smallest()):
        ...         sn(torch.zeros(2, 3, 32, 32))
        >>> grow_init([sn], ref)                                                # doctest: +SKIP
    """
    seen_in: dict[int, int] = {}
    seen_k: dict[int, int] = {}
    seen_bn: set[int] = set()
    all_mods = [m for root in modules for m in root.modules()]
    hooks = []
    for m in all_mods:
        if isinstance(m, DynamicConv2d) and m.depthwise:
            hooks.append(
                m.register_forward_pre_hook(lambda mod, a: seen_k.__setitem__(id(mod), int(mod.active_kernel)))
            )
        elif isinstance(m, (DynamicConv2d, DynamicLinear)):
            hooks.append(m.register_forward_pre_hook(lambda mod, a: seen_in.__setitem__(id(mod), int(a[0].shape[1]))))
        elif isinstance(m, DynamicBatchNorm2d):
            hooks.append(m.register_forward_pre_hook(lambda mod, a: seen_bn.add(id(mod))))
    modes = {m: m.training for m in all_mods}
    try:
        for root in modules:
            root.eval()
        reference_forward()
    finally:
        for h in hooks:
            h.remove()
        for m, was in modes.items():
            m.train(was)
    last = _residual_last_bns(modules)
    counts = {"input_columns": 0, "kernel_taps": 0, "blocks": 0}
    for m in all_mods:
        if isinstance(m, (DynamicConv2d, DynamicLinear)) and id(m) in seen_in:
            w: torch.Tensor = m.weight  # (out, in[, k, k])
            c = seen_in[id(m)]
            if c < w.shape[1]:
                w[:, c:].zero_()  # the inputs the reference lacks
                counts["input_columns"] += int(w.shape[1]) - c
        elif isinstance(m, DynamicConv2d) and id(m) in seen_k:
            w = m.weight  # (C, 1, K, K)
            k, big = seen_k[id(m)], int(m.max_kernel)
            if k < big:
                s = (big - k) // 2
                ring = torch.ones(big, big, dtype=torch.bool, device=w.device)
                ring[s : s + k, s : s + k] = False
                w[:, :, ring] = 0.0
                counts["kernel_taps"] += int(ring.sum()) * int(w.shape[0])
        elif isinstance(m, DynamicBatchNorm2d) and id(m) in last and id(m) not in seen_bn:
            m.weight.zero_()
            counts["blocks"] += 1
    return counts
