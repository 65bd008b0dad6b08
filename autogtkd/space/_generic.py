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

    ``encoding`` declares how predictors see a decision (:meth:`SearchSpace.encode`):
    ``"categorical"`` (one indicator per option, e.g. numbered op codes) or ``"ordinal"`` (the value
    for numbers, else the option's position). Default: numbers ordinal, anything else categorical.

    Example:
        >>> space = ChoiceSpace("toy", {"depth": [1, 2, 3], "op": ["conv", "pool"]})
        >>> space.size()
        6
    """

    family = "choices"

    def __init__(
        self,
        name: str,
        choices: Mapping[str, list[Any] | tuple[Any, ...]],
        *,
        input_size: int = 32,
        in_channels: int = 3,
        num_classes: int = 10,
        encoding: Mapping[str, str] | None = None,
    ) -> None:
        if not choices:
            raise SpaceError(f"search space {name!r} has no choices")
        self.name = name
        self.input_size, self.in_channels, self.num_classes = input_size, in_channels, num_classes
        self._choices = tuple(Choice(str(k), tuple(v)) for k, v in choices.items())
        self.encoding = dict(encoding or {})
        unknown = sorted(set(self.encoding) - {c.name for c in self._choices})
        bad = sorted(k for k, v in self.encoding.items() if v not in ("categorical", "ordinal"))
        if unknown or bad:
            raise SpaceError(
                f"space {name!r}: encoding of unknown decisions {unknown}"
                if unknown
                else f"space {name!r}: encoding of {bad} must be 'categorical' or 'ordinal'"
            )

    def encoding_kind(self, choice: Choice) -> str:
        return self.encoding.get(choice.name) or super().encoding_kind(choice)

    @property
    def choices(self) -> tuple[Choice, ...]:
        return self._choices

    def to_dict(self) -> dict[str, Any]:
        return {
            "family": self.family,
            **super().to_dict(),
            **({"encoding": dict(self.encoding)} if self.encoding else {}),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, where: str = "space") -> ChoiceSpace:
        """Build from ``{family: choices, name, choices: {decision: [options]}, ...}``."""
        allowed = {"family", "name", "choices", "input_size", "in_channels", "num_classes", "encoding"}
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
        encoding = data.get("encoding")
        if encoding is not None and not isinstance(encoding, Mapping):
            raise SpaceError(f"{where}: `encoding` must map decisions to 'categorical' or 'ordinal'")
        return cls(str(data.get("name", "custom")), choices, **ints, encoding=encoding)
