"""Search quality on a real tabular benchmark (NAS-Bench-201), through the public API only.

Each problem is what a user of a custom space writes: a :class:`~autogtkd.space.ChoiceSpace` of the
table's decisions, a :class:`~autogtkd.search.SearchProblem` whose evaluator and ``costs`` look the
architecture up in the table, and :func:`autogtkd.search.search` (in-memory study).

* **Unconstrained**: table accuracy (maximised) x latency on each device (minimised), and accuracy x
  FLOPs. Both objectives are normalised over the whole table; reference point = (lowest accuracy,
  1.1 x highest cost). Reported: hypervolume / hypervolume of the enumerated true front after
  ``--budgets`` scored architectures, and how many true-front rows were found.
* **Constrained** (``--budget median``): the same two objectives under ``latency <= median latency of
  the table`` (the CLI's form: ``--budget Xms@T`` adds latency as an objective); regret = best
  feasible accuracy in the table - best feasible accuracy found (points), at the ``--regret-at``
  budgets.

Rows are taken as given (isomorphic NB201 cells are distinct architectures here). Runs are appended
to ``--runs`` (benchmarks/results/tabular_search_runs.jsonl, committed) as they finish (rerunning resumes, on any machine), and the summary (per problem x strategy x
budget: mean, std, seeds) is written to ``--json``.

Run:  nice -n 19 python benchmarks/tabular_search.py                          (all: hours on 1 core)
      python benchmarks/tabular_search.py --table T.csv --seeds 2 --budgets 10 20 --quick  (smoke)
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _records import append_run, read_runs
from tabular_latency import new_figure, read_table_rows, save_figure  # the sibling script's table reader, figures

from autogtkd._config import key_values
from autogtkd._io import atomic_write_json
from autogtkd.budget import Budget
from autogtkd.exceptions import AutoGTKDError, ConfigError
from autogtkd.search import SearchProblem, create_sampler, list_strategies, search
from autogtkd.space import ChoiceSpace

DEFAULT_TABLE = "/work/shared/data/tabular/nb201_cifar10.csv"
ACCURACY = "cifar10_test_acc_200ep"
LATENCY_PREFIX = "latency_ms_"
#: NB201 options in the order a user would write them (cheapest first: ``repair`` moves toward it)
NB201_OPS = ("none", "skip_connect", "avg_pool_3x3", "nor_conv_1x1", "nor_conv_3x3")


class Table:
    """A tabular benchmark: decision columns, accuracy (%) and cost columns, one row per architecture."""

    def __init__(self, path: str | Path, *, accuracy: str = ACCURACY) -> None:
        rows = read_table_rows(path)
        cols = list(rows[0])
        self.decisions = [c for c in cols if c.startswith(("edge_", "layer_"))]
        self.devices = [c[len(LATENCY_PREFIX) :] for c in cols if c.startswith(LATENCY_PREFIX)]
        options: dict[str, list[str]] = {d: [] for d in self.decisions}
        for r in rows:
            for d in self.decisions:
                if r[d] not in options[d]:
                    options[d].append(r[d])
        order = {o: i for i, o in enumerate(NB201_OPS)}
        self.options = {d: sorted(v, key=lambda o: (order.get(o, len(order)), o)) for d, v in options.items()}
        self.keys = [tuple(r[d] for d in self.decisions) for r in rows]
        self.index = {k: i for i, k in enumerate(self.keys)}
        self.accuracy = np.array([float(r[accuracy]) for r in rows])
        self.costs = {dev: np.array([float(r[LATENCY_PREFIX + dev]) for r in rows]) for dev in self.devices}
        for name, col in (("flops", "flops_M"), ("params", "params_M")):
            if col in cols:
                self.costs[name] = np.array([float(r[col]) for r in rows])

    def space(self) -> ChoiceSpace:
        return ChoiceSpace("tabular", {d: self.options[d] for d in self.decisions})

    def row(self, arch: Any) -> int:
        return self.index[tuple(arch[d] for d in self.decisions)]


def true_front(acc: np.ndarray, cost: np.ndarray) -> np.ndarray:
    """Indices of the rows no other row dominates (max accuracy, min cost); ties all kept."""
    order = np.lexsort((-acc, cost))  # by cost, then best accuracy first
    front, best = [], -np.inf
    i = 0
    while i < len(order):
        j = i
        c = cost[order[i]]
        while j < len(order) and cost[order[j]] == c:
            j += 1
        group = order[i:j]
        top = acc[group].max()
        if top > best:
            front += [int(k) for k in group if acc[k] == top]
            best = top
        elif top == best:  # same accuracy at a higher cost is dominated
            pass
        i = j
    return np.array(sorted(front), dtype=int)


def hypervolume(acc_n: np.ndarray, cost_n: np.ndarray, ref_cost: float) -> float:
    """2-D hypervolume of points (maximise acc_n >= 0, minimise cost_n) against (0, ref_cost)."""
    order = np.argsort(cost_n, kind="stable")
    hv, best = 0.0, 0.0
    for k in order:
        if cost_n[k] >= ref_cost:
            break
        if acc_n[k] > best:
            hv += (acc_n[k] - best) * (ref_cost - cost_n[k])
            best = acc_n[k]
    return hv


class Problem:
    """One benchmark problem: a cost column, its normalisation and (optionally) a budget."""

    def __init__(self, table: Table, cost: str, *, constrained: bool) -> None:
        self.table, self.cost_name, self.constrained = table, cost, constrained
        acc, c = table.accuracy, table.costs[cost]
        self.acc_lo, self.acc_hi = float(acc.min()), float(acc.max())
        self.c_lo, self.c_hi = float(c.min()), float(c.max())
        self.ref = (1.1 * self.c_hi - self.c_lo) / (self.c_hi - self.c_lo)
        self.limit = float(np.median(c)) if constrained else None
        ok = c <= self.limit if constrained else np.ones(len(c), dtype=bool)
        idx = np.flatnonzero(ok)
        front = idx[true_front(acc[idx], c[idx])]
        self.front = set(front.tolist())
        self.true_hv = self.hv(front)
        self.best_feasible = float(acc[idx].max())

    @property
    def name(self) -> str:
        return f"{self.cost_name}{'@median' if self.constrained else ''}"

    def hv(self, rows: Sequence[int]) -> float:
        rows = np.asarray(rows, dtype=int)
        if rows.size == 0:
            return 0.0
        acc = (self.table.accuracy[rows] - self.acc_lo) / (self.acc_hi - self.acc_lo)
        cost = (self.table.costs[self.cost_name][rows] - self.c_lo) / (self.c_hi - self.c_lo)
        if self.limit is not None:
            keep = self.table.costs[self.cost_name][rows] <= self.limit
            acc, cost = acc[keep], cost[keep]
        return hypervolume(acc, cost, self.ref)

    def search_problem(self, scored: list[int]) -> SearchProblem:
        """The user-facing problem: table lookups for accuracy (fraction) and cost; ``scored`` collects
        the rows in the order the evaluator is called (= the order architectures are scored)."""
        table, col = self.table, self.table.costs[self.cost_name]
        metric = self.cost_name if self.cost_name in ("flops", "params") else "latency_ms"

        def evaluate(arch: Any) -> dict[str, float]:
            i = table.row(arch)
            scored.append(i)
            return {"accuracy": float(table.accuracy[i]) / 100.0}

        def costs(arch: Any) -> dict[str, float]:
            return {metric: float(col[table.row(arch)])}

        budgets = [Budget(metric, self.limit)] if self.limit is not None else []
        return SearchProblem(
            table.space(), evaluate, objectives=("accuracy", metric), budgets=budgets, costs=costs, scorer="table"
        )

    def score(self, scored: list[int], budgets: Sequence[int], regret_at: Sequence[int]) -> dict[str, Any]:
        out: dict[str, Any] = {"n_scored": len(scored), "hv_ratio": {}, "front_found": {}, "regret": {}}
        c = self.table.costs[self.cost_name]
        for k in budgets:
            rows = scored[:k]
            out["hv_ratio"][str(k)] = self.hv(rows) / self.true_hv
            out["front_found"][str(k)] = len(self.front.intersection(rows))
        if self.limit is not None:
            for k in regret_at:
                feas = [i for i in scored[:k] if c[i] <= self.limit]
                best = float(self.table.accuracy[feas].max()) if feas else self.acc_lo
                out["regret"][str(k)] = self.best_feasible - best
        return out


def run_one(problem: Problem, strategy: str, seed: int, n: int, options: dict[str, Any]) -> dict[str, Any]:
    scored: list[int] = []
    t0, c0 = time.perf_counter(), time.process_time()
    result = search(
        problem.search_problem(scored), strategy=strategy, n_trials=n, seed=seed, strategy_options=options or None
    )
    return {
        "scored": scored,
        "seconds": time.perf_counter() - t0,
        "cpu_seconds": time.process_time() - c0,
        "load_avg_1min": os.getloadavg()[0],
        "stopped": result.info.get("stopped"),
    }


def summarise(records: list[dict[str, Any]], meta: dict[str, Any]) -> dict[str, Any]:
    """``results[problem][strategy][metric][budget] = {mean, std, seeds}``."""
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for r in records:
        groups.setdefault((r["problem"], r["label"]), []).append(r)
    results: dict[str, Any] = {}
    for (prob, label), rs in sorted(groups.items()):
        entry: dict[str, Any] = {}
        for metric in ("hv_ratio", "front_found", "regret"):
            per: dict[str, Any] = {}
            for k in rs[0]["score"][metric]:
                v = np.array([r["score"][metric][k] for r in rs], dtype=float)
                per[k] = {
                    "mean": round(float(v.mean()), 5),
                    "std": round(float(v.std(ddof=1)) if v.size > 1 else 0.0, 5),
                    "seeds": int(v.size),
                }
            if per:
                entry[metric] = per
        entry["seconds_per_run"] = round(float(np.mean([r["seconds"] for r in rs])), 2)
        cpu = [r["cpu_seconds"] for r in rs if "cpu_seconds" in r]
        if cpu:  # CPU time: less sensitive than wall time to other processes on the machine
            entry["cpu_seconds_per_run"] = round(float(np.mean(cpu)), 2)
        results.setdefault(prob, {})[label] = entry
    return {"meta": meta, "results": results}


def goals(
    results: dict[str, Any], *, hv_goal: float = 0.995, regret_goal: float = 0.5, baseline: str = "random"
) -> dict[str, Any]:
    """The issue's goals checked on the means of ``results`` (see :func:`summarise`), per strategy:
    problems (unconstrained) whose HV ratio at the last budget is below ``hv_goal``, constrained
    problems whose regret at the last regret budget exceeds ``regret_goal``, (problem, budget)
    pairs where the mean HV ratio is below ``baseline``'s, and (constrained problem, budget) pairs
    where the mean regret is above ``baseline``'s (``regret_worse_than_baseline``); plus each
    strategy's mean HV ratio at the last budget over the unconstrained problems."""
    out: dict[str, Any] = {}
    labels = sorted({lbl for per in results.values() for lbl in per})
    for lbl in labels:
        g: dict[str, Any] = {
            "hv_below_goal": {},
            "regret_above_goal": {},
            "below_baseline": [],
            "regret_worse_than_baseline": [],
        }
        hv_last = []
        for prob, per in results.items():
            e = per.get(lbl)
            if e is None:
                continue
            hv = e["hv_ratio"]
            last = max(hv, key=int)
            if "@" not in prob:
                hv_last.append(hv[last]["mean"])
                if hv[last]["mean"] < hv_goal:
                    g["hv_below_goal"][prob] = hv[last]["mean"]
            reg = e.get("regret", {})
            if reg:
                k = max(reg, key=int)
                if reg[k]["mean"] > regret_goal:
                    g["regret_above_goal"][prob] = reg[k]["mean"]
            base = per.get(baseline)
            if lbl != baseline and base is not None:
                g["below_baseline"] += [
                    f"{prob}@{k}" for k in hv if k in base["hv_ratio"] and hv[k]["mean"] < base["hv_ratio"][k]["mean"]
                ]
                base_reg = base.get("regret", {})
                g["regret_worse_than_baseline"] += [
                    f"{prob}@{k}" for k in reg if k in base_reg and reg[k]["mean"] > base_reg[k]["mean"]
                ]
        g["mean_hv_last_budget"] = round(float(np.mean(hv_last)), 5) if hv_last else None
        g["problems"] = len(hv_last)
        out[lbl] = g
    return out


def paired(records: list[dict[str, Any]], a: str, b: str, problem: str | None = None) -> dict[str, Any]:
    """``a`` - ``b`` on the (problem, seed) cells both ran (only ``problem``'s when given): per metric
    and budget the mean difference, its 95 % normal half-width (1.96 SE), cells, and cells where ``a``
    is better. HV ratio over the unconstrained problems, regret (points, lower is better) over the
    constrained ones."""
    score = {(r["label"], r["problem"], r["seed"]): r["score"] for r in records if problem in (None, r["problem"])}
    out: dict[str, Any] = {}
    for metric, constrained in (("hv_ratio", False), ("regret", True)):
        cells = [(p, s) for (lbl, p, s) in score if lbl == a and ("@" in p) == constrained and (b, p, s) in score]
        for k in score[(a, *cells[0])][metric] if cells else []:
            d = np.array([score[(a, *c)][metric][k] - score[(b, *c)][metric][k] for c in cells])
            better = (d > 0) if metric == "hv_ratio" else (d < 0)
            half = 1.96 * float(d.std(ddof=1)) / np.sqrt(d.size) if d.size > 1 else float("nan")
            out[f"{metric}@{k}"] = {
                "mean": round(float(d.mean()), 5),
                "ci95": round(half, 5),
                "cells": int(d.size),
                "better": int(better.sum()),
            }
    return out


PLOT_LABELS = ("random", "tpe", "nsga2", "evolution", "surrogate")


def plot_summary(summary: dict[str, Any], path: str | Path, labels: Sequence[str] = PLOT_LABELS) -> Path:
    """Two panels from a summary: HV ratio against scored architectures (unconstrained problems) and
    regret in accuracy points at the regret budgets (constrained ones); per strategy the mean over
    problems as a line, the range from its worst to its best problem shaded. Returns the PNG's path."""
    res = summary["results"]
    fig, axes = new_figure(1, 2, figsize=(10, 3.8))
    lowest_hv = 1.0
    for ax, metric, constrained in ((axes[0], "hv_ratio", False), (axes[1], "regret", True)):
        x: list[int] = []
        for label in labels:
            per = [e[label][metric] for prob, e in res.items() if ("@" in prob) == constrained and label in e]
            if not per or not per[0]:
                continue
            ks = sorted(per[0], key=int)
            m = np.array([[p[k]["mean"] for k in ks] for p in per])
            x = [int(k) for k in ks]
            (line,) = ax.plot(x, m.mean(axis=0), marker="o", label=label)
            if not constrained:
                lowest_hv = min(lowest_hv, float(m.mean(axis=0).min()))
            ax.fill_between(x, m.min(axis=0), m.max(axis=0), color=line.get_color(), alpha=0.08)
            ax.set_title(f"{len(per)} {'constrained' if constrained else 'unconstrained'} problems", fontsize=9)
        if not x:  # no such problems in this summary
            ax.set_title(f"no {'constrained' if constrained else 'unconstrained'} problems", fontsize=9)
            continue
        ax.set_xscale("log")
        ax.set_xticks(x, [str(v) for v in x])
        ax.minorticks_off()
        ax.set_xlabel("architectures scored")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("hypervolume / true front's")
    axes[0].axhline(0.995, color="grey", lw=0.8, ls="--")
    axes[0].set_ylim(min(0.9, lowest_hv - 0.005), 1.0)  # the means in view, not the worst problems' tails
    axes[1].set_ylabel("regret under the budget (accuracy points)")
    axes[1].axhline(0.5, color="grey", lw=0.8, ls="--")
    axes[0].legend(fontsize=8)
    meta = summary.get("meta", {})
    fig.suptitle(
        f"{meta.get('table', '')}, {meta.get('accuracy', '')}: mean over problems, shaded worst to best problem;"
        " dashed: the goals",
        fontsize=9,
    )
    return save_figure(fig, path)


def markdown(summary: dict[str, Any]) -> str:
    lines = []
    for prob, per in summary["results"].items():
        budgets = next(iter(per.values()))["hv_ratio"].keys()
        lines += [
            f"\n**{prob}** (HV ratio, mean ± std; front rows found at the last budget)\n",
            "| strategy | " + " | ".join(f"k={k}" for k in budgets) + " | front found | regret |",
            "|---|" + "---:|" * (len(budgets) + 2),
        ]
        for label, e in per.items():
            cells = [f"{e['hv_ratio'][k]['mean']:.4f} ± {e['hv_ratio'][k]['std']:.4f}" for k in budgets]
            last = list(budgets)[-1]
            ff = f"{e['front_found'][last]['mean']:.1f}"
            reg = " / ".join(f"{k}: {v['mean']:.2f} ± {v['std']:.2f}" for k, v in e.get("regret", {}).items()) or "-"
            lines.append(f"| {label} | " + " | ".join(cells) + f" | {ff} | {reg} |")
    lines += [
        "\n**Goals** (means; HV >= 0.995 at the last budget, regret <= 0.5, never below random)\n",
        "| strategy | mean HV (unconstrained) | HV below goal | regret above goal | HV below random | regret above random |",
        "|---|---:|---|---|---|---|",
    ]
    for label, g in summary.get("goals", {}).items():
        miss = ", ".join(f"{p} {v:.4f}" for p, v in g["hv_below_goal"].items()) or "none"
        reg = ", ".join(f"{p} {v:.2f}" for p, v in g["regret_above_goal"].items()) or "none"
        below = ", ".join(g["below_baseline"]) or "none"
        worse = ", ".join(g.get("regret_worse_than_baseline", [])) or "none"
        lines.append(f"| {label} | {g['mean_hv_last_budget']} | {miss} | {reg} | {below} | {worse} |")
    return "\n".join(lines) + "\n"


def parse_variant(text: str) -> tuple[str, str, dict[str, Any]]:
    """``label=strategy:key=value,key=value`` or ``strategy``; values as the CLI's
    ``--strategy-option`` reads them (JSON, else text: ``acq=thompson``)."""
    label, _, rest = text.partition("=") if "=" in text.split(":")[0] else (text.split(":")[0], "", text)
    strategy, _, opts = rest.partition(":")
    try:
        return label, strategy, key_values(filter(None, opts.split(",")), what=f"--strategies {text!r}:")
    except ConfigError as exc:
        raise SystemExit(f"error: {exc}") from None


def main(argv: Sequence[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--table", default=DEFAULT_TABLE)
    p.add_argument("--accuracy", default=ACCURACY, help="accuracy column (%%)")
    p.add_argument("--work", default="/tmp/tabular_search", help="directory of report.md")
    p.add_argument(
        "--runs",
        default="benchmarks/results/tabular_search_runs.jsonl",
        help="the resumable record of finished runs (JSON lines; committed, so a run continues on another machine)",
    )
    p.add_argument("--json", default="benchmarks/results/tabular_search.json", help="summary output")
    p.add_argument(
        "--strategies",
        nargs="+",
        default=None,
        help="strategies or variants label=strategy:key=value,... (default: every registered one)",
    )
    p.add_argument(
        "--costs", nargs="+", default=None, help="cost columns (default: every device + flops; also: params)"
    )
    p.add_argument("--seeds", type=int, default=10)
    p.add_argument("--budgets", type=int, nargs="+", default=[20, 50, 100, 300])
    p.add_argument("--regret-at", type=int, nargs="+", default=[100, 300])
    p.add_argument("--no-constrained", action="store_true", help="skip the constrained (median budget) problems")
    p.add_argument(
        "--constrained-only", action="store_true", help="only the constrained problems (options that act on budgets)"
    )
    p.add_argument("--summarise-only", action="store_true", help="write the summary of the --runs file; run nothing")
    p.add_argument(
        "--compare",
        nargs=2,
        metavar=("A", "B"),
        help="print A - B paired over the (problem, seed) cells of --runs both ran; run nothing",
    )
    p.add_argument("--problem", help="with --compare: only this problem (e.g. flops, silver_4210r@median)")
    p.add_argument(
        "--plot",
        metavar="PNG",
        help="draw HV ratio and regret against scored architectures from the --json summary; run nothing",
    )
    p.add_argument("--plot-labels", nargs="+", default=list(PLOT_LABELS), help="strategies --plot draws")
    p.add_argument("--quiet", action="store_true")
    args = p.parse_args(argv)
    if args.plot:  # needs only the summary
        try:
            summary = json.loads(Path(args.json).read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise SystemExit(f"{args.json}: cannot read the summary ({exc})") from None
        print(plot_summary(summary, args.plot, args.plot_labels))
        return
    if args.compare:  # needs only the runs file
        a, b = args.compare
        diffs = paired(read_runs(args.runs), a, b, problem=args.problem)
        if not diffs:
            where = f" on {args.problem}" if args.problem else ""
            raise SystemExit(
                f"no (problem, seed) cells{where} where both {' and '.join(args.compare)} ran in {args.runs}"
            )
        for key, v in diffs.items():
            print(
                f"{key:14s} {a} - {b}: {v['mean']:+.4f} ± {v['ci95']:.4f} "
                f"({v['better']} of {v['cells']} better)"
            )
        return
    table = Table(args.table, accuracy=args.accuracy)
    costs = args.costs or [*table.devices, *(["flops"] if "flops" in table.costs else [])]
    unknown = [c for c in costs if c not in table.costs]
    if unknown:
        raise SystemExit(f"error: --costs {' '.join(unknown)}: not a cost of {args.table} (it has {', '.join(table.costs)})")
    variants = [parse_variant(s) for s in (args.strategies or list_strategies())]
    problems = [] if args.constrained_only else [Problem(table, c, constrained=False) for c in costs]
    if not args.no_constrained:
        problems += [Problem(table, c, constrained=True) for c in costs if c != "flops"]
    for label, strategy, options in variants if problems and not args.summarise_only else ():
        try:  # a bad strategy or option is one line before any run, not a traceback mid-way
            create_sampler(strategy, problems[-1].search_problem([]), **options)
        except AutoGTKDError as exc:
            raise SystemExit(f"error: --strategies {label}: {exc}") from None
    args.problem_names = [p.name for p in problems]
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    runs = Path(args.runs)
    records = read_runs(runs)
    done = {(r["problem"], r["label"], r["seed"]) for r in records}
    n = max(args.budgets + args.regret_at)
    for seed in range(
        0 if args.summarise_only else args.seeds
    ):  # seeds outermost: a partial run has every problem and strategy
        for prob in problems:
            for label, strategy, options in variants:
                if (prob.name, label, seed) in done:
                    continue
                r = run_one(prob, strategy, seed, n, options)
                rec = {
                    "problem": prob.name,
                    "label": label,
                    "strategy": strategy,
                    "options": options,
                    "seed": seed,
                    "seconds": r["seconds"],
                    "cpu_seconds": r["cpu_seconds"],
                    "load_avg_1min": r["load_avg_1min"],
                    "stopped": r["stopped"],
                    "score": prob.score(r["scored"], args.budgets, args.regret_at),
                }
                records.append(rec)
                append_run(runs, rec)
                if not args.quiet:
                    hv = rec["score"]["hv_ratio"]
                    print(
                        f"seed {seed} {prob.name:28s} {label:14s} "
                        + " ".join(f"{v:.4f}" for v in hv.values())
                        + f" regret {rec['score']['regret']} {r['seconds']:.0f}s",
                        flush=True,
                    )
        write_summary(args, variants, records, argv)
    summary = write_summary(args, variants, records, argv)
    (work / "report.md").write_text(markdown(summary))
    print(markdown(summary))


def write_summary(
    args: argparse.Namespace,
    variants: list[tuple[str, str, dict[str, Any]]],
    records: list[dict[str, Any]],
    argv: Sequence[str] | None,
) -> dict[str, Any]:
    meta = {
        "table": Path(args.table).name,
        "accuracy": args.accuracy,
        "budgets": args.budgets,
        "regret_at": args.regret_at,
        "seeds_requested": args.seeds,
        "variants": {lbl: {"strategy": s, "options": o} for lbl, s, o in variants},
        "command": "python benchmarks/tabular_search.py " + " ".join(sys.argv[1:] if argv is None else argv),
    }
    labels = {lbl for lbl, _, _ in variants}
    problems = set(args.problem_names)
    kept = [r for r in records if r["label"] in labels and r["problem"] in problems]
    meta["runs"] = len(kept)
    meta["runs_requested"] = len(labels) * args.seeds * len(args.problem_names)
    summary = summarise(kept, meta)
    summary["goals"] = goals(summary["results"])
    atomic_write_json(args.json, summary, indent=1)
    return summary


if __name__ == "__main__":
    main()
