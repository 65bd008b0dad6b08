"""Data-parallel training across processes (``torchrun``), CPU (gloo) or CUDA (nccl).

Gradients are averaged with an explicit all-reduce after ``backward`` instead of wrapping models in
``DistributedDataParallel``: a GTN step runs the weight-sharing supernet several times (one forward
per sampled path and branch) before one backward and touches a different parameter subset each
step, which DDP's reducer does not support without ``find_unused_parameters`` and static graphs.
Every rank samples the same architectures (same seed), each rank reads its own shard of the data.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn

from autogtkd.exceptions import ConfigError

__all__ = ["DistContext", "init_distributed", "resolve_device"]


def resolve_device(name: str, *, local_rank: int = 0) -> torch.device:
    """``auto`` → cuda if available, else mps, else cpu; an unavailable explicit device raises
    :class:`ConfigError`."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else ("mps" if _mps() else "cpu")
    if name == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError("--device cuda: no CUDA device is available")
        return torch.device("cuda", local_rank % max(torch.cuda.device_count(), 1))
    if name == "mps":
        if not _mps():
            raise ConfigError("--device mps: MPS is not available")
        return torch.device("mps")
    if name == "cpu":
        return torch.device("cpu")
    raise ConfigError(f"unknown device {name!r}; valid: auto, cpu, cuda, mps")


def _mps() -> bool:
    return bool(getattr(torch.backends, "mps", None) and torch.backends.mps.is_available())


@dataclass(frozen=True)
class DistContext:
    """Rank and world size of this process (``world_size == 1``: not distributed)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """Whether this process writes files and shows progress."""
        return self.rank == 0

    @classmethod
    def current(cls) -> DistContext:
        """The context of an initialised process group (or a single process)."""
        if dist.is_available() and dist.is_initialized():
            return cls(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", dist.get_rank())))
        return cls()

    def sync_grads(self, params: Iterable[nn.Parameter]) -> None:
        """Average gradients over ranks (missing gradients count as zeros), one flat all-reduce."""
        if not self.distributed:
            return
        ps = [p for p in params if p.requires_grad]
        if not ps:
            return
        grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in ps]
        flat = torch.cat([g.reshape(-1) for g in grads])
        dist.all_reduce(flat)
        flat /= self.world_size
        offset = 0
        for p in ps:
            n = p.numel()
            p.grad = flat[offset : offset + n].view_as(p).clone()
            offset += n

    def broadcast(self, module: nn.Module) -> None:
        """Copy rank 0's parameters and buffers to every rank."""
        if not self.distributed:
            return
        with torch.no_grad():
            for t in list(module.parameters()) + list(module.buffers()):
                dist.broadcast(t.data, 0)

    def mean(self, value: float, device: torch.device) -> float:
        """Mean of a scalar over ranks."""
        if not self.distributed:
            return float(value)
        t = torch.tensor([float(value)], dtype=torch.float64, device=device)
        dist.all_reduce(t)
        return float(t.item()) / self.world_size

    def barrier(self) -> None:
        if self.distributed:
            dist.barrier()


def init_distributed(device: str = "auto") -> DistContext:
    """Join the process group described by ``torchrun``'s environment (``WORLD_SIZE``, ``RANK``,
    ``MASTER_ADDR``...) if there is one and it is not initialised yet; gloo on CPU, nccl on CUDA."""
    if int(os.environ.get("WORLD_SIZE", "1")) > 1 and dist.is_available() and not dist.is_initialized():
        use_cuda = device == "cuda" or (device == "auto" and torch.cuda.is_available())
        dist.init_process_group("nccl" if use_cuda else "gloo")
    return DistContext.current()
