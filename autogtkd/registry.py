"""One registry class; one instance per kind of extension (spaces, teachers, strategies, ...).

Each registry offers the ``register / list / create`` triple (as timm's ``register_model`` /
``list_models`` / ``create_model``). Unknown names raise :class:`UnknownNameError` listing the valid
names.

Example:
    >>> from autogtkd.registry import Registry
    >>> shapes = Registry[object]("shape")
    >>> @shapes.register("square")
    ... def make_square(side: int = 1) -> object:
    ...     return ("square", side)
    >>> shapes.create("square", side=2)
    ('square', 2)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic, TypeVar

from autogtkd.exceptions import UnknownNameError

T = TypeVar("T")

__all__ = ["Registry"]


class Registry(Generic[T]):
    """A named collection of factories of one kind.

    Args:
        kind: what the registry holds, used in error messages (e.g. ``"search space"``).
    """

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._factories: dict[str, Callable[..., T]] = {}

    def register(
        self, name: str, factory: Callable[..., T] | None = None, *, overwrite: bool = False
    ) -> Any:
        """Register ``factory`` under ``name``; usable as a decorator when ``factory`` is omitted."""

        def _add(f: Callable[..., T]) -> Callable[..., T]:
            if name in self._factories and not overwrite:
                raise ValueError(f"{self.kind} {name!r} is already registered")
            self._factories[name] = f
            return f

        return _add if factory is None else _add(factory)

    def unregister(self, name: str) -> None:
        """Remove ``name`` (no error when absent)."""
        self._factories.pop(name, None)

    def list(self) -> list[str]:
        """The registered names, sorted."""
        return sorted(self._factories)

    def __contains__(self, name: object) -> bool:
        return name in self._factories

    def get(self, name: str) -> Callable[..., T]:
        """The factory registered as ``name``; raises :class:`UnknownNameError` if unknown."""
        try:
            return self._factories[name]
        except KeyError:
            valid = ", ".join(self.list()) or "(none registered)"
            raise UnknownNameError(f"unknown {self.kind} {name!r}; valid: {valid}") from None

    def create(self, name: str, **kwargs: Any) -> T:
        """Call the factory registered as ``name`` with ``kwargs``."""
        return self.get(name)(**kwargs)
