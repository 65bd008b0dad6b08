"""What the latency explorations share: today's predictor fitted on each training set of
``tabular_latency.py`` (n measurements, every device of both tables), resumably.

The explorations read ``LatencyRegressor`` internals (its candidates and folds), so they are studies
of the model choice, not benchmarks of the public API.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _records import read_runs
from tabular_latency import DEFAULT_TABLES, Table, training_set

from autogtkd.hw.latency import LatencyPredictor

__all__ = ["METRICS", "SETS", "Fit", "brief", "fits", "mean_metrics"]

SETS = 10  #: training sets per device (as in tabular_latency.py's committed runs)
METRICS = ("within_10pct", "kendall_tau")  #: what the summaries average


@dataclass(frozen=True)
class Fit:
    """One training set of one device, with today's predictor fitted on it."""

    table: str
    device: str
    set: int
    y_train: np.ndarray  #: measured latency of the training rows (ms)
    y_test: np.ndarray  #: measured latency of every other row (ms)
    predictor: LatencyPredictor
    X_train: np.ndarray  #: the predictor's feature rows of the training architectures
    X_test: np.ndarray  #: ... of the test architectures

    def key(self) -> dict[str, object]:
        """The record fields that name this fit (``table``, ``device``, ``set``)."""
        return {"table": self.table, "device": self.device, "set": self.set}

    def candidate(
        self, kind: str, params: dict[str, Any], rows: Any = slice(None), X: np.ndarray | None = None
    ) -> np.ndarray:
        """Predicted latency (ms) of one of the regressor's candidates, ``(kind, params)``, refitted on
        the training rows ``rows`` (all by default), for the feature rows ``X`` (the test rows by default)."""
        reg = self.predictor.regressor_
        est, log_target, cols = reg._fit_one(kind, params, self.X_train[rows], self.y_train[rows])
        return reg._predict_one(est, log_target, cols, self.X_test if X is None else X)


def fits(runs: str | Path, n: int = 50, tables: Iterable[str | Path] = DEFAULT_TABLES) -> Iterator[Fit]:
    """Each (table, device, set) not yet recorded in ``runs``, tables in path order (FBNet first, the
    order of the committed explorations), with ``LatencyPredictor`` fitted on its ``n`` training rows."""
    done = {(r["table"], r["device"], r["set"]) for r in read_runs(runs)}
    for path in sorted(map(str, tables)):
        t = Table(path)
        space = t.space()
        for dev in sorted(t.devices):
            for s in range(SETS):
                if (t.name, dev, s) in done:
                    continue
                train, test = training_set(t, n, s)
                y = t.latency[dev]
                p = LatencyPredictor(space, target=dev, random_state=s).fit([t.archs[i] for i in train], y[train])
                X_train, X_test = (
                    p.featurizer_.transform([space.canonical(t.archs[i]) for i in rows]) for rows in (train, test)
                )
                yield Fit(t.name, dev, s, y[train], y[test], p, X_train, X_test)


def mean_metrics(
    records: Iterable[dict[str, Any]],
    arms: Iterable[str],
    get: Callable[[dict[str, Any], str], dict[str, float]] = lambda r, arm: r["result"][arm],
) -> dict[str, dict[str, dict[str, dict[str, float]]]]:
    """``{table: {device: {arm: {metric: mean over sets (4 places), "sets": count}}}}`` of the
    records, an arm's metrics of one record being ``get(record, arm)``."""
    cells: dict[str, dict[str, dict[str, dict[str, list[float]]]]] = {}
    arms = list(arms)
    for r in records:
        for arm in arms:
            cell = (
                cells.setdefault(r["table"], {}).setdefault(r["device"], {}).setdefault(arm, {m: [] for m in METRICS})
            )
            for m in METRICS:
                cell[m].append(get(r, arm)[m])
    return {
        tab: {
            dev: {
                arm: {m: round(float(np.mean(v)), 4) for m, v in c.items()} | {"sets": len(c[METRICS[0]])}
                for arm, c in by_arm.items()
            }
            for dev, by_arm in by_dev.items()
        }
        for tab, by_dev in cells.items()
    }


def brief(result: dict[str, Any], arms: Iterable[str]) -> dict[str, tuple[float, float]]:
    """Each arm's ``(within +-10 %, Kendall tau)`` of one record, to 3 places (the progress lines)."""
    return {a: (round(result[a]["within_10pct"], 3), round(result[a]["kendall_tau"], 3)) for a in arms}
