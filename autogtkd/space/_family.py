"""The shared base of the configurable built-in families (MobileNetV3, ResNet).

A family space is built from a frozen config dataclass (its YAML form), has per-stage ``depth``
decisions that gate per-block decisions (``s{i}.b{j}.*`` is active iff ``j <= s{i}.depth``), and
closed-form per-layer costs from :meth:`_layers`.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Mapping
from functools import cached_property
from typing import Any, ClassVar

from autogtkd._config import from_dict, to_dict
from autogtkd.space._base import SearchSpace
from autogtkd.space._layers import LayerCost

__all__ = ["FamilySpace", "LayerRecord"]

# (signature parts, flops, params, activations) of one layer
LayerRecord = tuple[tuple[Any, ...], int, int, int]


class FamilySpace(SearchSpace):
    """Base of :class:`MobileNetV3Space` and :class:`ResNetSpace`: config, depth gating, costs, data form."""

    family: ClassVar[str]
    config_type: ClassVar[type]

    def __init__(self, config: Any) -> None:
        self.config = config
        self.name = config.name
        self.input_size = config.input_size
        self.in_channels = config.in_channels
        self.num_classes = config.num_classes

    @property
    def has_conditions(self) -> bool:
        return True

    @cached_property
    def _gates(self) -> dict[str, tuple[str, int]]:
        """Per-block decision -> (its stage's depth decision, block number): active iff number <= depth."""
        return {
            c.name: (f"{c.name.split('.')[0]}.depth", int(c.name.split(".")[1][1:]))
            for c in self.choices
            if c.name.count(".") == 2
        }

    def is_active(self, name: str, arch: Mapping[str, Any]) -> bool:
        gate = self._gates.get(name)
        return gate is None or gate[1] <= int(arch[gate[0]])

    @abstractmethod
    def stage_widths(self, arch: Mapping[str, Any]) -> list[int]:
        """Output channels of each elastic stage for ``arch``."""

    def stage_strides(self) -> list[int]:
        """Total downsampling (input size / feature size) at each stage's output."""
        total, out = self.config.stem_stride, []
        for s in self.config.stages:
            total *= s.stride
            out.append(total)
        return out

    # ------------------------------------------------------------------ costs
    @abstractmethod
    def _layers(self, a: Mapping[str, Any]) -> list[LayerRecord]:
        """The closed-form cost records of a canonical ``a``, in forward order."""

    def layer_costs(self, arch: Mapping[str, Any]) -> list[LayerCost]:
        """Per-layer costs of ``arch`` in forward order (stem, blocks, head)."""
        return [LayerCost(":".join(map(str, key)), *rest) for key, *rest in self._layers(self.canonical(arch))]

    def flops(self, arch: Mapping[str, Any]) -> int:
        """Multiply-accumulates of conv and linear layers at batch 1 (closed form)."""
        return sum(layer[1] for layer in self._layers(self.canonical(arch)))

    def params(self, arch: Mapping[str, Any]) -> int:
        """Parameters of the exported model (closed form, BatchNorm affine included)."""
        return sum(layer[2] for layer in self._layers(self.canonical(arch)))

    # ------------------------------------------------------------------ data form
    def to_dict(self) -> dict[str, Any]:
        return {"family": self.family, **to_dict(self.config)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, where: str = "space") -> FamilySpace:
        """Build from :meth:`to_dict` output (the YAML form); unknown keys are refused."""
        body = {k: v for k, v in data.items() if k != "family"}
        return cls(from_dict(cls.config_type, body, where=where))


