"""Search results: the Pareto front of feasible, truly scored candidates, with files and plots."""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from autogtkd._io import atomic_open, atomic_write_json
from autogtkd.budget import Budget, parse_budget
from autogtkd.exceptions import ConfigError, RunError
from autogtkd.search._pareto import hypervolume, knee_index, nondominated_ranks, pareto_mask, to_minimisation
from autogtkd.space import Arch

__all__ = ["COLUMNS", "Candidate", "SearchResult", "read_result_files"]

#: Columns of pareto.csv / trials.csv (accuracy is a fraction; flops are MACs).
COLUMNS = ("trial", "accuracy", "flops", "params", "latency_ms", "scorer", "arch")
_MAXIMISE = {"accuracy": True, "flops": False, "params": False, "latency_ms": False}


@dataclass(frozen=True)
class Candidate:
    """One scored architecture.

    Attributes:
        arch: canonical architecture.
        accuracy: top-1 as a fraction in [0, 1], by :attr:`scorer`.
        flops: multiply-accumulates at batch 1 (``None`` when unknown).
        params: parameter count (``None`` when unknown).
        latency_ms: predicted latency in ms (``None`` without a latency predictor).
        scorer: what produced :attr:`accuracy` (``inherit``, ``finetune``, a user's name, ...).
        trial: Optuna trial number.
        metrics: every metric recorded for the trial.
    """

    arch: Arch
    accuracy: float
    flops: float | None
    params: float | None
    latency_ms: float | None
    scorer: str
    trial: int = -1
    metrics: Mapping[str, float] = field(default_factory=dict)

    def get(self, name: str) -> float | None:
        """The value of objective/metric ``name`` (``None`` when absent)."""
        if name in ("accuracy", "flops", "params", "latency_ms"):
            return getattr(self, name)
        return self.metrics.get(name)

    def to_dict(self) -> dict[str, Any]:
        """JSON form: ``arch``, ``accuracy``, ``flops``, ``params``, ``latency_ms``, ``scorer``, ``trial``,
        and ``search_accuracy`` for a re-scored candidate."""
        d = {
            "arch": self.arch.to_dict(),
            "accuracy": self.accuracy,
            "flops": _int_or_none(self.flops),
            "params": _int_or_none(self.params),
            "latency_ms": self.latency_ms,
            "scorer": self.scorer,
            "trial": self.trial,
        }
        if "search_accuracy" in self.metrics:
            d["search_accuracy"] = self.metrics["search_accuracy"]
        return d

    @classmethod
    def from_metrics(cls, arch: Arch, metrics: Mapping[str, float], *, scorer: str, trial: int = -1) -> Candidate:
        """Build from a metrics dict (``accuracy`` required; costs optional)."""
        return cls(
            arch, float(metrics["accuracy"]), metrics.get("flops"), metrics.get("params"),
            metrics.get("latency_ms"), scorer, trial, dict(metrics),
        )

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Candidate:
        try:
            searched = {"search_accuracy": float(data["search_accuracy"])} if "search_accuracy" in data else {}
            return cls(
                Arch.from_dict(data["arch"]), float(data["accuracy"]), data.get("flops"), data.get("params"),
                data.get("latency_ms"), str(data["scorer"]), int(data.get("trial", -1)), searched,
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ConfigError(f"not a candidate record: {exc}") from None


def _int_or_none(v: float | None) -> int | None:
    return None if v is None else round(v)


class SearchResult:
    """The outcome of a search.

    Args:
        trials: every truly scored candidate (feasible or not, all scorers but the predictor).
        objectives: objective names; ``accuracy`` maximised, costs minimised.
        budgets: the hard budgets; :attr:`candidates` only holds candidates meeting all of them.
        reference: per cost objective, the scale that normalises the hypervolume (the budget, or the
            cost of the largest architecture). Accuracy enters as ``1 - accuracy``; the reference
            point is 1 in every normalised objective.
        info: extra JSON-able entries written to ``pareto.json`` (study, storage, strategy, predictor tau).
        rescored: candidates of ``trials`` scored again by a more faithful scorer (``accuracy`` and
            ``scorer`` replaced, the search's score kept as metric ``search_accuracy``; see
            :class:`~autogtkd.search.Rescore`). When given, the front is theirs.

    Attributes:
        candidates: the Pareto-optimal feasible candidates (of ``rescored`` when given, else of
            ``trials``), sorted by the first cost objective.
        hypervolume: hypervolume of :attr:`candidates` in the normalised space (0..1).
    """

    def __init__(
        self,
        trials: Sequence[Candidate],
        *,
        objectives: Sequence[str],
        budgets: Sequence[Budget] = (),
        reference: Mapping[str, float] | None = None,
        info: Mapping[str, Any] | None = None,
        rescored: Sequence[Candidate] = (),
    ) -> None:
        self.trials = list(trials)
        self.rescored = list(rescored)
        self.objectives = tuple(objectives)
        self.budgets = tuple(budgets)
        self.reference = dict(reference or {})
        self.info = dict(info or {})
        feasible = self._feasible(self.rescored or self.trials)
        mask = pareto_mask(self._points(feasible)) if feasible else np.zeros(0, dtype=bool)
        front = _one_per_arch(c for c, keep in zip(feasible, mask) if keep)
        cost = next((o for o in self.objectives if o != "accuracy"), None)
        self.candidates = sorted(front, key=lambda c: (c.get(cost) or 0.0) if cost else -c.accuracy)
        self.hypervolume = self._hypervolume(self.candidates)

    # ------------------------------------------------------------------ maths
    def _feasible(self, cands: Sequence[Candidate]) -> list[Candidate]:
        """The candidates meeting every budget with every objective known."""
        return [c for c in cands if self._meets_budgets(c) and all(c.get(o) is not None for o in self.objectives)]

    def ranked(self) -> list[Candidate]:
        """The feasible trials best first: by non-dominated rank of the objectives (the search's front,
        then the front of the rest, ...), then by higher accuracy."""
        feasible = self._feasible(self.trials)
        if not feasible:
            return []
        ranks = nondominated_ranks(self._points(feasible))
        order = sorted(range(len(feasible)), key=lambda i: (ranks[i], -feasible[i].accuracy, feasible[i].trial))
        return _one_per_arch(feasible[i] for i in order)

    def _meets_budgets(self, c: Candidate) -> bool:
        for b in self.budgets:
            v = c.get(b.metric)
            if v is None or v > b.limit:
                return False
        return True

    def _points(self, cands: Sequence[Candidate]) -> np.ndarray:
        """Minimised objective values, shape ``(n, len(objectives))``."""
        vals = np.array([[float(c.get(o)) for o in self.objectives] for c in cands], dtype=np.float64)  # type: ignore[arg-type]
        return to_minimisation(vals.reshape(len(cands), len(self.objectives)), [_MAXIMISE[o] for o in self.objectives])

    def normalised(self, cands: Sequence[Candidate]) -> np.ndarray:
        """Objectives scaled for the hypervolume: ``1 - accuracy`` and ``cost / reference``; ``(n, m)``."""
        rows = []
        for c in cands:
            row = []
            for o in self.objectives:
                v = float(c.get(o))  # type: ignore[arg-type]
                row.append(1.0 - v if o == "accuracy" else v / self.reference.get(o, math.nan))
            rows.append(row)
        return np.array(rows, dtype=np.float64).reshape(len(cands), len(self.objectives))

    def _hypervolume(self, cands: Sequence[Candidate]) -> float:
        if not cands or any(not math.isfinite(self.reference.get(o, math.nan)) for o in self.objectives if o != "accuracy"):
            return 0.0
        return hypervolume(self.normalised(cands), [1.0] * len(self.objectives))

    # ------------------------------------------------------------------ queries
    def knee(self) -> Candidate:
        """The knee of the front (best trade-off; see :func:`autogtkd.search.knee_index`)."""
        if not self.candidates:
            raise RunError("the search found no feasible candidate")
        return self.candidates[knee_index(self._points(self.candidates))]

    def best_under(self, budget: Budget | str) -> Candidate | None:
        """The most accurate front member within ``budget`` (e.g. ``"100MFLOPs"``); ``None`` if none.

        Example:
            >>> result.best_under("100MFLOPs").accuracy      # doctest: +SKIP
            0.91
        """
        b = parse_budget(budget) if isinstance(budget, str) else budget
        ok = [c for c in self.candidates if c.get(b.metric) is not None and c.get(b.metric) <= b.limit]  # type: ignore[operator]
        return max(ok, key=lambda c: c.accuracy) if ok else None

    # ------------------------------------------------------------------ output
    def to_dict(self) -> dict[str, Any]:
        """The ``pareto.json`` document."""
        return {
            "objectives": list(self.objectives),
            "budgets": [str(b) for b in self.budgets],
            "flops_unit": "multiply-accumulates (MACs), batch 1",
            "accuracy_unit": "fraction in [0, 1]",
            "hypervolume": self.hypervolume,
            "hypervolume_reference": {
                "accuracy": "1 - accuracy, reference 1",
                **{o: f"value / {v:g}, reference 1" for o, v in self.reference.items()},
            },
            "n_evaluated": len(self.trials),
            "knee_trial": self.knee().trial if self.candidates else None,
            **self.info,
            "candidates": [c.to_dict() for c in self.candidates],
            **({"rescored": [c.to_dict() for c in self.rescored]} if self.rescored else {}),
        }

    def table(self) -> str:
        """The front as a text table (accuracy in percent, FLOPs in M MACs, params in M)."""
        search = " search %" if self.rescored else ""
        lines = [f"{'trial':>5} {'top1 %':>7}{search} {'MFLOPs':>8} {'Mparams':>8} {'lat ms':>7}  scorer"]
        knee = self.knee().trial if self.candidates else None
        for c in self.candidates:
            lat = "-" if c.latency_ms is None else f"{c.latency_ms:.2f}"
            fl = "-" if c.flops is None else f"{c.flops / 1e6:.1f}"
            pa = "-" if c.params is None else f"{c.params / 1e6:.2f}"
            mark = "  <- knee" if c.trial == knee else ""
            before = f" {100 * c.metrics.get('search_accuracy', math.nan):>8.2f}" if self.rescored else ""
            lines.append(f"{c.trial:>5} {100 * c.accuracy:>7.2f}{before} {fl:>8} {pa:>8} {lat:>7}  {c.scorer}{mark}")
        return "\n".join(lines)

    def save(self, out: str | Path) -> list[Path]:
        """Write ``pareto.json``, ``pareto.csv``, ``trials.csv``, ``pareto.png`` (and ``pareto.html``
        with plotly) into ``out``; returns the paths written."""
        from autogtkd.search._plot import plot_front

        d = Path(out)
        d.mkdir(parents=True, exist_ok=True)
        paths = [d / "pareto.json", d / "pareto.csv", d / "trials.csv"]
        atomic_write_json(paths[0], self.to_dict())
        _write_csv(paths[1], self.candidates)
        _write_csv(paths[2], self.trials)
        paths += plot_front(self, d / "pareto")
        return paths


def _one_per_arch(cands: Iterable[Candidate]) -> list[Candidate]:
    """``cands`` in order, without later candidates of an architecture already seen."""
    seen: set[Arch] = set()
    out = []
    for c in cands:
        if c.arch not in seen:
            seen.add(c.arch)
            out.append(c)
    return out


def _write_csv(path: Path, cands: Sequence[Candidate]) -> None:
    with atomic_open(path, "w", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(COLUMNS)
        for c in cands:
            d = c.to_dict()
            w.writerow([d["trial"], d["accuracy"], d["flops"], d["params"], d["latency_ms"], d["scorer"], json.dumps(d["arch"])])


def read_result_files(d: Path) -> SearchResult:
    """``pareto.json`` + ``trials.csv`` of a finished search."""
    pj = d / "pareto.json"
    try:
        doc = json.loads(pj.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"no {pj}: not a search output directory, or its search has not started") from None
    except (OSError, json.JSONDecodeError) as exc:
        raise ConfigError(f"cannot read {pj}: {exc}") from None
    trials = []
    tc = d / "trials.csv"
    if tc.is_file():
        with tc.open(newline="", encoding="utf-8") as f:
            for row in csv.DictReader(f):
                trials.append(
                    Candidate.from_dict(
                        {
                            "arch": json.loads(row["arch"]),
                            "accuracy": row["accuracy"],
                            "flops": _num(row["flops"]),
                            "params": _num(row["params"]),
                            "latency_ms": _num(row["latency_ms"]),
                            "scorer": row["scorer"],
                            "trial": row["trial"],
                        }
                    )
                )
    else:
        trials = [Candidate.from_dict(c) for c in doc.get("candidates", [])]
    reference = {}
    for o, text in doc.get("hypervolume_reference", {}).items():
        if o != "accuracy":
            reference[o] = float(text.split("/")[1].split(",")[0])
    keep = {"study", "storage", "strategy", "predictor", "space", "seed", "run", "stopped"}
    return SearchResult(
        trials,
        objectives=doc["objectives"],
        budgets=[parse_budget(b) for b in doc.get("budgets", [])],
        reference=reference,
        info={k: v for k, v in doc.items() if k in keep},
        rescored=[Candidate.from_dict(c) for c in doc.get("rescored", [])],
    )


def _num(text: str) -> float | None:
    return None if text in ("", "None") else float(text)
