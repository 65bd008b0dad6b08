"""A plain space of independent choices (no supernet): the YAML ``family: choices`` form."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from autogtkd.exceptions import SpaceError
from autogtkd.space._base import Choice, SearchSpace

__all__ = ["ChoiceSpace"]


class ChoiceSpace(SearchSpace):
    """Independent categorical/numeric decisions; pair it with your own evaluator, or override
    :meth:`build_model` to get costs counted on a model.

    Example:
        >>> space = ChoiceSpace("toy", {"depth": [1, 2, 3], "op": ["conv", "pool"]})
        >>> space.size()
        6
    """

    family = "choices"

    def __init__(
        self, name: str, choices: Mapping[str, list[Any] | tuple[Any, ...]], *, input_size: int = 32,
        in_channels: int = 3, num_classes: int = 10,
    ) -> None:
        if not choices:
            raise SpaceError(f"search space {name!r} has no choices")
        self.name = name
        self.input_size, self.in_channels, self.num_classes = input_size, in_channels, num_classes
        self._choices = tuple(Choice(str(k), tuple(v)) for k, v in choices.items())

    @property
    def choices(self) -> tuple[Choice, ...]:
        return self._choices

    def to_dict(self) -> dict[str, Any]:
        return {"family": self.family, **super().to_dict()}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, where: str = "space") -> ChoiceSpace:
        """Build from ``{family: choices, name, choices: {decision: [options]}, ...}``."""
        allowed = {"family", "name", "choices", "input_size", "in_channels", "num_classes"}
        unknown = sorted(set(data) - allowed)
        if unknown:
            raise SpaceError(f"{where}: unknown keys {unknown}; valid keys: {sorted(allowed)}")
        choices = data.get("choices")
        if not isinstance(choices, Mapping) or not all(isinstance(v, list) for v in choices.values()):
            raise SpaceError(f"{where}: `choices` must map each decision to a list of options")
        ints = {k: data[k] for k in ("input_size", "in_channels", "num_classes") if k in data}
        for k, v in ints.items():
            if isinstance(v, bool) or not isinstance(v, int):
                raise SpaceError(f"{where}.{k}: expected an integer, got {v!r}")
        return cls(str(data.get("name", "custom")), choices, **ints)
