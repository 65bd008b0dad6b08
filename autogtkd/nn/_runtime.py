"""Running a model: device placement, CPU threads and top-1 accuracy.

Shared by training, evaluation and export, so it lives here, below all of them
(docs/architecture.md, "Layers").
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import torch
from torch import nn

__all__ = ["cpu_threads", "to_device", "top1"]


def to_device(module: nn.Module, device: torch.device, *, channels_last: bool = False) -> nn.Module:
    """``module.to(device)``; with ``channels_last`` its 4-D parameters also take that memory format."""
    if channels_last:
        return module.to(device, memory_format=torch.channels_last)  # type: ignore[call-overload]
    return module.to(device)


@contextlib.contextmanager
def cpu_threads(threads: int | None) -> Iterator[None]:
    """Set torch's intra-op threads inside the block and restore them afterwards (None: unchanged)."""
    if threads is None:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@torch.no_grad()
def top1(model: nn.Module, loader: Any, device: torch.device, max_batches: int | None = None) -> float:
    """Top-1 accuracy (fraction in [0, 1]) of ``model`` in eval mode over ``loader`` (restores the mode).

    ``loader`` yields ``(images (N, C, H, W), labels (N,))``; at most ``max_batches`` batches are read
    (None: all).
    """
    was = model.training
    model.eval()
    correct = total = 0
    try:
        for b, (x, y) in enumerate(loader):
            if max_batches is not None and b >= max_batches:
                break
            pred = model(x.to(device)).argmax(1).cpu()
            correct += int((pred == y).sum())
            total += int(y.numel())
    finally:
        model.train(was)
    return correct / max(total, 1)
