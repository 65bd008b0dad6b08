"""Parse budgets such as ``300MFLOPs`` or ``15ms@pixel7`` into :class:`Budget` values.

"FLOPs" in autogtkd means **multiply-accumulates** (MACs), as in fvcore, Once-for-All and NAS papers
(MobileNetV3-Large: "219 MFLOPs" = 219 M MACs). ``MMACs`` is accepted as a synonym of ``MFLOPs``.

Accepted forms (case of the unit prefix matters: ``M`` = 1e6, ``G`` = 1e9, ``K`` = 1e3):

* ``300MFLOPs``, ``0.3GFLOPs``, ``300MMACs``, ``5e8FLOPs`` -- a FLOPs (MACs) budget;
* ``2.5Mparams``, ``800Kparams`` -- a parameter-count budget;
* ``12ms`` -- a latency budget on the default target; ``12ms@pixel7`` -- on target ``pixel7``.

Example:
    >>> parse_budget("300MFLOPs")
    Budget(metric='flops', limit=300000000.0, target=None)
    >>> parse_budget("12ms@cpu-ort").target
    'cpu-ort'
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from autogtkd.exceptions import BudgetError

__all__ = ["ACCEPTED_FORMS", "Budget", "format_count", "parse_budget"]

ACCEPTED_FORMS = "300MFLOPs, 0.3GFLOPs, 300MMACs, 2.5Mparams, 12ms, 12ms@TARGET"

_PREFIX = {"": 1.0, "K": 1e3, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12}
_NUMBER = r"(?P<num>[0-9]*\.?[0-9]+(?:[eE][+-]?[0-9]+)?)"
_COUNT_RE = re.compile(rf"^{_NUMBER}\s*(?P<prefix>[KkMGT]?)(?P<unit>FLOPs|FLOPS|flops|MACs|MACS|macs|params|Params)$")
_LATENCY_RE = re.compile(rf"^{_NUMBER}\s*ms(?:@(?P<target>[A-Za-z0-9_.\-]+))?$")


@dataclass(frozen=True)
class Budget:
    """A hard upper bound on one cost.

    Attributes:
        metric: ``"flops"`` (multiply-accumulates), ``"params"`` (count) or ``"latency_ms"``.
        limit: the bound, in MACs, parameters or milliseconds.
        target: hardware target of a latency budget (``None``: the default target).
    """

    metric: str
    limit: float
    target: str | None = None

    def __str__(self) -> str:
        if self.metric == "latency_ms":
            return f"{self.limit:g}ms" + (f"@{self.target}" if self.target else "")
        unit = "FLOPs" if self.metric == "flops" else "params"
        return format_count(self.limit) + unit

    def allows(self, value: float) -> bool:
        """Whether ``value`` (same unit as :attr:`limit`) is within the budget."""
        return value <= self.limit


def format_count(value: float) -> str:
    """Format a count with an SI prefix: ``300000000 -> '300M'``."""
    for prefix, scale in (("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if abs(value) >= scale:
            return f"{value / scale:.4g}{prefix}"
    return f"{value:.4g}"


def parse_budget(text: str) -> Budget:
    """Parse a budget string; raise :class:`BudgetError` naming the accepted forms otherwise."""
    s = text.strip() if isinstance(text, str) else ""
    m = _COUNT_RE.match(s)
    if m:
        value = float(m["num"]) * _PREFIX[m["prefix"]]
        metric = "params" if m["unit"].lower() == "params" else "flops"
        return _checked(Budget(metric, value), text)
    m = _LATENCY_RE.match(s)
    if m:
        return _checked(Budget("latency_ms", float(m["num"]), m["target"]), text)
    raise BudgetError(f"cannot parse budget {text!r}; accepted forms: {ACCEPTED_FORMS}")


def _checked(budget: Budget, text: str) -> Budget:
    if not math.isfinite(budget.limit) or budget.limit <= 0:
        raise BudgetError(f"budget {text!r} must be a positive finite number; accepted forms: {ACCEPTED_FORMS}")
    return budget
