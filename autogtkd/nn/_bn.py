"""BatchNorm recalibration: re-estimate a network's BatchNorm statistics on calibration batches.

Used by training (per-epoch validation of subnets), final KD (``init="inherit"``) and the search's
scorers, so it lives here, below all of them (docs/architecture.md, "Layers").
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator

import torch
from torch import nn

__all__ = ["recalibrate_bn"]

Batches = Iterable[tuple[torch.Tensor, torch.Tensor]]


@contextlib.contextmanager
def _bn_only_training(model: nn.Module) -> Iterator[list[nn.modules.batchnorm._BatchNorm]]:
    """BatchNorm layers in train mode with cumulative averaging, everything else in eval mode;
    modes and momenta are restored in ``finally``."""
    modes = {m: m.training for m in model.modules()}
    bns = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    momenta = [bn.momentum for bn in bns]
    model.eval()
    try:
        for bn in bns:
            bn.train()
            bn.momentum = None  # cumulative moving average = exact mean over the calibration batches
        yield bns
    finally:
        for bn, mom in zip(bns, momenta):
            bn.momentum = mom
        for m, was in modes.items():
            m.train(was)


@torch.no_grad()
def recalibrate_bn(
    model: nn.Module, batches: Batches, *, num_batches: int | None = None, device: str | torch.device = "cpu"
) -> int:
    """Re-estimate every BatchNorm's running mean/variance of ``model`` on ``batches``.

    Weight-sharing subnets inherit statistics accumulated over *other* architectures; recomputing
    them on a calibration split (OFA, BigNAS) is what makes inherited weights usable. Statistics
    are reset, then averaged over the batches (momentum ``None``). Only BatchNorm is in train mode
    (dropout stays off); modes are restored afterwards.

    Args:
        model: the network (modified in place: its BN buffers).
        batches: ``(images (N, C, H, W), labels (N,))`` pairs; labels are ignored.
        num_batches: use at most this many batches (``None``: all).
        device: where ``model`` is; each batch's images are moved there.

    Returns:
        the number of images used.
    """
    seen = 0
    with _bn_only_training(model) as bns:
        if not bns:
            return 0
        for bn in bns:
            bn.reset_running_stats()
        for b, (x, _) in enumerate(batches):
            if num_batches is not None and b >= num_batches:
                break
            model(x.to(device))
            seen += int(x.shape[0])
    return seen
