"""The evaluator extension point: architecture -> metrics (``accuracy`` as a fraction, plus extras).

An evaluator's :attr:`~Evaluator.name` is the *scorer* recorded beside every accuracy it produces
(``inherit``, ``finetune``, ``predictor`` or a user's name), so numbers from different scorers are
never mixed up silently.
"""

from __future__ import annotations

import json
import math
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from autogtkd._io import atomic_write_json
from autogtkd.exceptions import RunError
from autogtkd.space import Arch

__all__ = ["CachedEvaluator", "Evaluator", "FunctionEvaluator", "as_evaluator", "check_metrics"]

Metrics = dict[str, float]


class Evaluator(ABC):
    """Scores one architecture.

    Subclasses set :attr:`name` and implement :meth:`evaluate`, which returns at least
    ``{"accuracy": fraction in [0, 1]}``; other numeric entries (``loss``, ``flops``, ...) are kept
    beside it.
    """

    name: str = "evaluator"

    @abstractmethod
    def evaluate(self, arch: Arch) -> Metrics:
        """Metrics of ``arch`` (canonical). Must contain ``"accuracy"`` in [0, 1]."""

    def __call__(self, arch: Arch) -> Metrics:
        return check_metrics(self.evaluate(arch), where=f"scorer {self.name!r}")


class FunctionEvaluator(Evaluator):
    """Wrap a user function ``arch -> metrics dict`` (a lookup table, your own training, ...).

    Example:
        >>> ev = FunctionEvaluator(lambda a: {"accuracy": 0.5}, name="table")
        >>> ev(Arch({"d": 1}))
        {'accuracy': 0.5}
    """

    def __init__(self, fn: Callable[[Arch], Mapping[str, Any]], *, name: str | None = None) -> None:
        self.fn = fn
        label = str(name or getattr(fn, "__name__", "user"))
        self.name = "user" if label == "<lambda>" else label

    def evaluate(self, arch: Arch) -> Metrics:
        return self.fn(arch)  # type: ignore[return-value]  # validated by check_metrics in __call__


class CachedEvaluator(Evaluator):
    """Cache another evaluator's metrics by canonical architecture (optionally in a JSON file).

    A duplicate architecture is never evaluated twice: the second call returns the stored metrics.
    ``calls`` counts real evaluations.

    Args:
        evaluator: the evaluator to cache.
        path: JSON file ``{scorer: {arch.key: metrics}}``; read if present, rewritten after each new
            result (atomically). ``None``: memory only.
    """

    def __init__(self, evaluator: Evaluator, *, path: str | Path | None = None) -> None:
        self.evaluator = evaluator
        self.name = evaluator.name
        self.path = Path(path) if path is not None else None
        self.calls = 0
        self._all: dict[str, dict[str, Metrics]] = {}
        if self.path is not None and self.path.is_file():
            try:
                self._all = json.loads(self.path.read_text(encoding="utf-8"))
            except (OSError, json.JSONDecodeError) as exc:
                raise RunError(f"score cache {self.path} is unreadable: {exc}") from None
        self._cache = self._all.setdefault(self.name, {})

    def __contains__(self, arch: Arch) -> bool:
        return arch.key in self._cache

    def evaluate(self, arch: Arch) -> Metrics:
        key = arch.key
        if key not in self._cache:
            self._cache[key] = self.evaluator(arch)
            self.calls += 1
            self._save()
        return dict(self._cache[key])

    def _save(self) -> None:
        if self.path is not None:
            atomic_write_json(self.path, self._all, indent=None)


def as_evaluator(obj: Evaluator | Callable[[Arch], Mapping[str, Any]], *, name: str | None = None) -> Evaluator:
    """An :class:`Evaluator` from an evaluator or a plain function ``arch -> metrics``."""
    if isinstance(obj, Evaluator):
        return obj
    if callable(obj):
        return FunctionEvaluator(obj, name=name)
    raise TypeError(f"expected an Evaluator or a callable, got {type(obj).__name__}")


def check_metrics(metrics: Mapping[str, Any], *, where: str = "evaluator") -> Metrics:
    """Validate a metrics mapping: numeric finite values, ``accuracy`` present and in [0, 1]."""
    if not isinstance(metrics, Mapping):
        raise RunError(f"{where} must return a dict of metrics, got {type(metrics).__name__}")
    out: Metrics = {}
    for k, v in metrics.items():
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(float(v)):
            raise RunError(f"{where} returned a non-numeric or non-finite {k}={v!r}")
        out[str(k)] = float(v)
    if "accuracy" not in out:
        raise RunError(f"{where} must return 'accuracy' (a fraction in [0, 1]); got keys {sorted(out)}")
    if not 0.0 <= out["accuracy"] <= 1.0:
        raise RunError(f"{where} returned accuracy={out['accuracy']}; accuracy is a fraction in [0, 1]")
    return out
