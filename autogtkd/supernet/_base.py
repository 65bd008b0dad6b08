"""The :class:`Supernet` base: active-architecture state, its context manager, and export."""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, cast

import torch
from torch import nn

from autogtkd.nn._static import StagedNet

if TYPE_CHECKING:  # annotations only: autogtkd.space is the layer above (docs/architecture.md, "Layers")
    from autogtkd.space import Arch, SearchSpace

__all__ = ["DynamicStage", "Supernet"]


class DynamicStage(nn.Module):
    """A stage of blocks of which the first ``active_depth`` run."""

    def __init__(self, blocks: Sequence[nn.Module]) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(blocks)
        self.active_depth = len(blocks)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for block in self.blocks[: self.active_depth]:
            x = block(x)
        return x


class Supernet(StagedNet):
    """A weight-sharing network holding every architecture of a search space.

    ``forward`` runs the *active* architecture. :meth:`set_active` changes it; :meth:`activated` is a
    context manager that restores the previous one in ``finally``. :meth:`export` returns a plain
    :class:`~autogtkd.nn.StagedNet` with copied weights whose eval-mode output equals the supernet's
    for that architecture.

    Subclasses build ``stem``/``stages``/``head`` from dynamic ops and implement
    :meth:`_apply_arch` (push an architecture's settings into the ops) and :meth:`_export_arch` (build the
    static parts for the active architecture).
    """

    def __init__(self, space: SearchSpace, stem: nn.Module, stages: Sequence[nn.Module], head: nn.Module) -> None:
        super().__init__(stem, stages, head)
        self.space = space
        self._active: Arch | None = None

    def _dynamic_stages(self) -> list[DynamicStage]:
        """``stages``, typed: every supernet stage is a :class:`DynamicStage`."""
        return [cast(DynamicStage, s) for s in self.stages]

    @abstractmethod
    def _apply_arch(self, arch: Arch) -> None:
        """Set the dynamic ops for ``arch`` (already canonical)."""

    @abstractmethod
    def _export_arch(self, arch: Arch) -> StagedNet:
        """Static network for ``arch`` (already active)."""

    def stage_channels(self, arch: Mapping[str, Any]) -> list[int]:
        """Output channels of each stage for ``arch`` (length ``len(self.stages)``); default: the
        space's ``stage_widths``."""
        return list(self.space.stage_widths(self.space.canonical(arch)))  # type: ignore[attr-defined]

    def stage_strides(self) -> list[int]:
        """Total downsampling (input size / feature size) at each stage's output; default: the
        space's ``stage_strides``."""
        return list(self.space.stage_strides())  # type: ignore[attr-defined]

    @property
    def active_arch(self) -> Arch:
        """The architecture ``forward`` runs (the largest until :meth:`set_active` is called)."""
        if self._active is None:
            self.set_active(self.space.largest())
        assert self._active is not None
        return self._active

    def set_active(self, arch: Mapping[str, Any]) -> None:
        """Make ``arch`` the active architecture (validated and canonicalised)."""
        a = self.space.canonical(arch)
        self._apply_arch(a)
        self._active = a

    @contextmanager
    def activated(self, arch: Mapping[str, Any]) -> Iterator[Supernet]:
        """Run ``arch`` inside the block; the previous active architecture is restored afterwards.

        Example:
            >>> with supernet.activated(arch):          # doctest: +SKIP
            ...     logits = supernet(images)
        """
        previous = self.active_arch
        self.set_active(arch)
        try:
            yield self
        finally:
            self.set_active(previous)

    def export(self, arch: Mapping[str, Any] | None = None) -> StagedNet:
        """A standalone static network for ``arch`` (default: the active one), in the supernet's
        train/eval mode, with copied weights and BatchNorm statistics."""
        with self.activated(self.active_arch if arch is None else arch) as net, torch.no_grad():
            model = self._export_arch(net.active_arch)
        model.train(self.training)
        return model
