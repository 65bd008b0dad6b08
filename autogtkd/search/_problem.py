"""The search problem: a space, an evaluator, objectives, hard budgets and constraint-aware sampling."""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

import numpy as np

from autogtkd.budget import Budget, format_count, parse_budget
from autogtkd.evaluate import Evaluator, as_evaluator
from autogtkd.exceptions import BudgetError, ConfigError, PredictorError, SpaceError
from autogtkd.space import Arch, SearchSpace

_log = logging.getLogger("autogtkd.search")

__all__ = ["OBJECTIVES", "LatencyModel", "SearchProblem"]

#: Objective name -> whether it is maximised. Accuracy is a fraction, FLOPs are MACs, latency in ms.
OBJECTIVES: dict[str, bool] = {"accuracy": True, "flops": False, "params": False, "latency_ms": False}

CostFn = Callable[[Arch], Mapping[str, float]]


class LatencyModel(Protocol):
    """What the search needs from a latency model: a target name and batched predictions.

    :class:`autogtkd.hw.latency.LatencyPredictor` (the fitted estimator, from
    :func:`autogtkd.hw.latency.load_predictor`) is one; any object with these two members is another.
    """

    target: str

    def predict_archs(self, archs: Sequence[Arch]) -> np.ndarray:
        """Predicted latency in milliseconds, shape ``(len(archs),)``."""
        ...


class SearchProblem:
    """What to search: objectives to optimise and budgets that must hold.

    Costs (``flops`` = MACs, ``params``, ``latency_ms``) come from ``costs`` (default: the space's
    analytic :meth:`~SearchSpace.flops` / :meth:`~SearchSpace.params` and the latency predictor) and
    are known *before* an architecture is evaluated, so budgets are checked without training anything.
    Accuracy comes from the evaluator.

    Args:
        space: the search space.
        evaluator: an :class:`~autogtkd.evaluate.Evaluator` or a function ``arch -> metrics`` that
            returns at least ``accuracy`` (fraction in [0, 1]).
        objectives: any of ``accuracy`` (maximised), ``flops``, ``params``, ``latency_ms`` (minimised).
        budgets: hard upper bounds, as :class:`~autogtkd.budget.Budget` or strings (``"300MFLOPs"``).
        latency: latency predictor (needed when ``latency_ms`` is an objective or budget).
        costs: optional function ``arch -> {cost name: value}`` replacing the default costs (for
            spaces without a model, e.g. a lookup table).
        scorer: name recorded beside each accuracy (default: the evaluator's name).

    Raises:
        BudgetError: a budget is below the smallest architecture of the space (before any evaluation).
        ConfigError: unknown objectives, or a cost that no source provides.
    """

    def __init__(
        self,
        space: SearchSpace,
        evaluator: Evaluator | Callable[[Arch], Mapping[str, Any]],
        *,
        objectives: Sequence[str] = ("accuracy", "flops"),
        budgets: Sequence[Budget | str] = (),
        latency: LatencyModel | None = None,
        costs: CostFn | None = None,
        scorer: str | None = None,
    ) -> None:
        self.space = space
        self.evaluator = as_evaluator(evaluator, name=scorer)
        self.scorer = scorer or self.evaluator.name
        objectives = tuple(dict.fromkeys(objectives))
        unknown = [o for o in objectives if o not in OBJECTIVES]
        if unknown or not objectives:
            raise ConfigError(f"unknown objectives {unknown}; valid: {', '.join(OBJECTIVES)}")
        self.objectives: tuple[str, ...] = objectives
        self.budgets: tuple[Budget, ...] = tuple(parse_budget(b) if isinstance(b, str) else b for b in budgets)
        self.latency = latency
        self._cost_fn = costs
        self._cost_cache: dict[Arch, dict[str, float]] = {}
        needs_latency = "latency_ms" in objectives or any(b.metric == "latency_ms" for b in self.budgets)
        if needs_latency and latency is None and costs is None:
            raise PredictorError("a latency objective or budget needs a latency predictor (--budget 15ms@TARGET)")
        for b in self.budgets:
            if b.metric == "latency_ms" and b.target and latency is not None and latency.target != b.target:
                raise PredictorError(f"budget {b} is for target {b.target!r} but the predictor is for {latency.target!r}")
        self.cost_names: tuple[str, ...] = tuple(
            dict.fromkeys([o for o in objectives if o != "accuracy"] + [b.metric for b in self.budgets])
        )
        self.check_budgets()

    # ------------------------------------------------------------------ objectives
    @property
    def maximise(self) -> tuple[bool, ...]:
        """Per objective, whether it is maximised."""
        return tuple(OBJECTIVES[o] for o in self.objectives)

    @property
    def directions(self) -> list[str]:
        """Optuna directions, one per objective."""
        return ["maximize" if m else "minimize" for m in self.maximise]

    def values(self, metrics: Mapping[str, float]) -> list[float]:
        """Objective values of one evaluated architecture, in :attr:`objectives` order."""
        missing = [o for o in self.objectives if o not in metrics]
        if missing:
            raise ConfigError(f"objectives {missing} are neither costs nor returned by scorer {self.scorer!r}")
        return [float(metrics[o]) for o in self.objectives]

    # ------------------------------------------------------------------ costs and budgets
    def costs(self, arch: Mapping[str, Any]) -> dict[str, float]:
        """Costs of ``arch`` known without evaluating it (cached by canonical architecture)."""
        a = self.space.canonical(arch)
        if a not in self._cost_cache:
            if self._cost_fn is not None:
                out = {k: float(v) for k, v in self._cost_fn(a).items()}
            else:
                out = {}
                try:  # recorded beside every result; required only when an objective or budget uses them
                    out["flops"] = float(self.space.flops(a))
                    out["params"] = float(self.space.params(a))
                except SpaceError:
                    if any(n in ("flops", "params") for n in self.cost_names):
                        raise
                if self.latency is not None:
                    out["latency_ms"] = float(self.latency.predict_archs([a])[0])
            self._cost_cache[a] = out
        return dict(self._cost_cache[a])

    def violations(self, costs: Mapping[str, float]) -> dict[str, float]:
        """Per budget, ``(value - limit) / limit``: feasible when every value is <= 0."""
        out = {}
        for b in self.budgets:
            if b.metric not in costs:
                raise ConfigError(f"budget {b}: no cost {b.metric!r} is known before evaluation")
            out[_budget_name(b)] = (costs[b.metric] - b.limit) / b.limit
        return out

    def feasible(self, arch: Mapping[str, Any]) -> bool:
        """Whether ``arch`` meets every budget."""
        return all(v <= 0 for v in self.violations(self.costs(arch)).values())

    def check_budgets(self) -> None:
        """Raise :class:`BudgetError` when a budget is below the smallest architecture of the space;
        warn (logger ``autogtkd.search``) when one is above the largest, since it then constrains nothing."""
        if not self.budgets:
            return
        small = self.space.smallest()
        costs = self.costs(small)
        for b in self.budgets:
            if b.metric not in costs:
                raise ConfigError(f"budget {b}: no cost {b.metric!r} is known before evaluation")
            if costs[b.metric] > b.limit:
                have = f"{costs[b.metric]:.3g}ms" if b.metric == "latency_ms" else format_count(costs[b.metric])
                unit = "" if b.metric == "latency_ms" else ("FLOPs" if b.metric == "flops" else "params")
                raise BudgetError(
                    f"budget {b} is below the smallest architecture of space {self.space.name!r} "
                    f"({have}{unit}); no candidate can meet it"
                )
        large = self.costs(self.space.largest())
        for b in self.budgets:
            if large[b.metric] <= b.limit:
                _log.warning(
                    "budget %s is above the largest architecture of space %r; it constrains nothing", b, self.space.name
                )

    # ------------------------------------------------------------------ constraint-aware variation
    def repair(self, arch: Mapping[str, Any], rng: np.random.Generator) -> Arch:
        """Move ``arch`` toward the smallest architecture, one decision at a time, until it meets the
        budgets. Terminates: every step moves one decision one option closer to the smallest, which
        is feasible (checked by :meth:`check_budgets`)."""
        a = self.space.canonical(arch)
        small = self.space.smallest()
        while not self.feasible(a):
            movable = [c for c in self.space.choices if a[c.name] != small[c.name] and self.space.is_active(c.name, a)]
            if not movable:
                return small
            c = movable[int(rng.integers(len(movable)))]
            i, target = c.index(a[c.name]), c.index(small[c.name])
            a = self.space.canonical({**a, c.name: c.options[i - 1 if i > target else i + 1]})
        return a

    def sample(self, rng: np.random.Generator, *, tries: int = 20) -> Arch:
        """A feasible architecture: up to ``tries`` uniform draws (rejection), then repair the last."""
        arch = self.space.sample(rng)
        for _ in range(tries - 1):
            if self.feasible(arch):
                return arch
            arch = self.space.sample(rng)
        return self.repair(arch, rng)

    def mutate(self, arch: Mapping[str, Any], rng: np.random.Generator, *, tries: int = 10) -> Arch:
        """A feasible mutant of ``arch``: up to ``tries`` mutations, then repair the last."""
        child = self.space.mutate(arch, rng)
        for _ in range(tries - 1):
            if self.feasible(child):
                return child
            child = self.space.mutate(arch, rng)
        return self.repair(child, rng)

    # ------------------------------------------------------------------ evaluation
    def evaluate(self, arch: Mapping[str, Any]) -> dict[str, float]:
        """Costs and scorer metrics of ``arch``; the evaluator's entries take precedence."""
        a = self.space.canonical(arch)
        return {**self.costs(a), **self.evaluator(a)}

    def reference_costs(self) -> dict[str, float]:
        """Per cost objective, the scale used to normalise the hypervolume: the budget on that metric
        when there is one, else the cost of the largest architecture."""
        ref: dict[str, float] = {}
        large = None
        for name in self.objectives:
            if name == "accuracy":
                continue
            limits = [b.limit for b in self.budgets if b.metric == name]
            if limits:
                ref[name] = float(min(limits))
            else:
                large = self.costs(self.space.largest()) if large is None else large
                ref[name] = float(large.get(name, math.nan))
        return ref

    def describe(self) -> dict[str, Any]:
        """What identifies the problem (stored in the study; a resumed study must match)."""
        return {
            "space": self.space.name,
            "objectives": list(self.objectives),
            "budgets": [str(b) for b in self.budgets],
            "scorer": self.scorer,
        }


def _budget_name(b: Budget) -> str:
    return f"{b.metric}<={b}"
