"""Architectures: immutable, hashable, JSON-serialisable mappings from decision name to value."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping

from autogtkd.exceptions import ArchError

__all__ = ["Arch", "Scalar"]

Scalar = bool | int | float | str
_SCALARS = (bool, int, float, str)


class Arch(Mapping[str, Scalar]):
    """One architecture of a search space: an immutable mapping ``decision name -> value``.

    Two archs are equal when they hold the same items (order does not matter); use
    :meth:`SearchSpace.canonical` to make two encodings of the same network compare equal.

    Example:
        >>> a = Arch({"width": 1.0, "s1.depth": 2})
        >>> a["s1.depth"], a == Arch.from_json(a.to_json()), len({a, Arch(dict(a))})
        (2, True, 1)
    """

    __slots__ = ("_dict", "_hash", "_items")

    def __init__(self, values: Mapping[str, Scalar] | Iterable[tuple[str, Scalar]] = ()) -> None:
        items = tuple(values.items()) if isinstance(values, Mapping) else tuple(values)
        seen: set[str] = set()
        for key, value in items:
            if not isinstance(key, str):
                raise ArchError(f"architecture keys must be strings, got {key!r}")
            if key in seen:
                raise ArchError(f"duplicate architecture key {key!r}")
            if not isinstance(value, _SCALARS):
                raise ArchError(f"architecture value of {key!r} must be a scalar, got {type(value).__name__}")
            seen.add(key)
        self._items: tuple[tuple[str, Scalar], ...] = items
        self._dict: dict[str, Scalar] = dict(items)
        self._hash = hash(frozenset(items))

    def __getitem__(self, key: str) -> Scalar:
        return self._dict[key]

    def __iter__(self) -> Iterator[str]:
        return (k for k, _ in self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __hash__(self) -> int:
        return self._hash

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Arch):
            return self._hash == other._hash and self._dict == other._dict
        if isinstance(other, Mapping):
            return self._dict == dict(other)
        return NotImplemented

    def __repr__(self) -> str:
        return f"Arch({dict(self._items)!r})"

    def __setattr__(self, name: str, value: object) -> None:
        if hasattr(self, "_hash"):
            raise AttributeError("Arch is immutable; use replace()")
        object.__setattr__(self, name, value)

    def __reduce__(self) -> tuple[type[Arch], tuple[tuple[tuple[str, Scalar], ...]]]:
        return (Arch, (self._items,))  # pickle and deepcopy rebuild through __init__

    def __copy__(self) -> Arch:
        return self  # immutable

    def __deepcopy__(self, memo: dict[int, object]) -> Arch:
        return self

    def replace(self, **changes: Scalar) -> Arch:
        """A copy with some values changed (keys must already exist)."""
        unknown = set(changes) - set(self)
        if unknown:
            raise ArchError(f"unknown architecture keys {sorted(unknown)}")
        return Arch((k, changes.get(k, v)) for k, v in self._items)

    def with_items(self, changes: Mapping[str, Scalar]) -> Arch:
        """Like :meth:`replace` but takes a mapping (keys with dots are allowed)."""
        return self.replace(**dict(changes))

    def to_dict(self) -> dict[str, Scalar]:
        """A plain ``dict`` in decision order."""
        return dict(self._dict)

    @classmethod
    def from_dict(cls, data: Mapping[str, Scalar]) -> Arch:
        """Inverse of :meth:`to_dict`."""
        if not isinstance(data, Mapping):
            raise ArchError(f"an architecture must be a JSON object, got {type(data).__name__}")
        return cls(data)

    def to_json(self) -> str:
        """Compact JSON, in decision order."""
        return json.dumps(self.to_dict(), separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> Arch:
        """Inverse of :meth:`to_json`."""
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ArchError(f"architecture is not valid JSON: {exc}") from None
        return cls.from_dict(data)

    @property
    def key(self) -> str:
        """A stable string key (JSON with sorted keys) for caches and study attributes."""
        return json.dumps(dict(sorted(self._items)), separators=(",", ":"))
