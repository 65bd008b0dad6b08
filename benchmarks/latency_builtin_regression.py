"""Benchmark: does today's latency predictor regress on the built-in spaces? (issue 13 §2)

Two predictors are fitted on identical training subsets of the same measurements (made with
``latency_predictors.py --phase measure``) and scored on identical test sets:

* ``fit --arm LABEL``: ``LatencyPredictor(space, random_state=t).fit(archs, ms)`` of whichever
  ``autogtkd`` this process imports (run it once as is, once with ``PYTHONPATH`` pointing at a git
  worktree of an older commit); n random architectures from the training pool (the subsets of
  ``latency_predictors.py``: seeds ``[seed, n, t]``), tested on ``rest`` (every measured
  architecture outside the subset) and ``held60`` (issue 5's held-out set). One JSON line per
  (arm, target, n, subset, test set) is appended to ``--runs``; rerunning resumes.
* ``fit --transfer``: the same, with the *other* runtime's measurements of the training pool as a
  source target (``fit(..., sources=...)``: a new target from few measurements, issue 13 §3).
* ``compare A B``: paired differences ``A - B`` per target x n x test set x metric (share within
  +-10 %, Kendall tau): mean over subsets and 95 % t-interval; a *regression* is a cell whose whole
  interval lies below zero. Summary to ``--json``, a markdown table to stdout.

Run (the protocol of docs/benchmarks_latency.md, "Built-in spaces after issue 13")::

    python benchmarks/latency_predictors.py --phase measure --workdir DIR   # issue 5's settings
    python benchmarks/latency_builtin_regression.py fit --workdir DIR --arm auto
    git worktree add /tmp/issue5 4c2afce
    PYTHONPATH=/tmp/issue5 python benchmarks/latency_builtin_regression.py fit --workdir DIR --arm issue-5
    python benchmarks/latency_builtin_regression.py compare auto issue-5

(``--workdir benchmarks/results/latency_builtin`` reads the committed measurements, gzipped.)
"""

from __future__ import annotations

import argparse
import gzip
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from _records import append_run, read_runs
from latency_predictors import RUNTIMES, SPACES, split_pool

import autogtkd
from autogtkd._io import atomic_write_json
from autogtkd.exceptions import AutoGTKDError
from autogtkd.hw.latency import LatencyPredictor, latency_metrics, read_measurements
from autogtkd.space import create_space

RUNS = "benchmarks/results/latency_builtin_regression_runs.jsonl"
SUMMARY = "benchmarks/results/latency_builtin_regression.json"
METRICS = ("within_10pct", "kendall_tau")
TESTS = ("rest", "held60")


def _key(r: dict[str, Any]) -> tuple[Any, ...]:
    return (r["arm"], r["space"], r["runtime"], r["n"], r["subset"])


def read_measurement_file(path: Path) -> Any:
    """The measurements of ``path``, or of ``path.gz`` (how the committed copies are stored)."""
    if path.exists():
        return read_measurements(path)
    gz = path.with_name(path.name + ".gz")
    if not gz.exists():
        raise SystemExit(f"{path}: no measurements (run latency_predictors.py --phase measure first)")
    with tempfile.TemporaryDirectory() as tmp:
        plain = Path(tmp) / path.name
        plain.write_bytes(gzip.decompress(gz.read_bytes()))
        return read_measurements(plain)


def fit(args: argparse.Namespace) -> None:
    """Fit and score every (target, n, subset) of ``--arm`` not yet in ``--runs``."""
    done = {_key(r) for r in read_runs(args.runs)}
    for space_name in args.spaces:
        space = create_space(space_name)
        for runtime in args.runtimes:
            m = read_measurement_file(Path(args.workdir) / f"{space_name}_{runtime}.jsonl")
            archs = [space.canonical(a) for a in m.archs]
            y = np.asarray(m.latency_ms, dtype=float)
            train, held = split_pool(len(archs), args.test, args.seed)
            sources = []
            if args.transfer:
                (other,) = (r for r in RUNTIMES if r != runtime)
                src = read_measurement_file(Path(args.workdir) / f"{space_name}_{other}.jsonl")
                src_archs = [space.canonical(a) for a in src.archs]
                src_ms = np.asarray(src.latency_ms, dtype=float)
                sources = [([src_archs[i] for i in train], src_ms[train])]
            for n in args.sizes:
                for t in range(args.subsets):
                    row = {"arm": args.arm, "space": space_name, "runtime": runtime, "n": n, "subset": t}
                    if _key(row) in done:
                        continue
                    idx = np.random.default_rng([args.seed, n, t]).choice(train, size=n, replace=False)
                    t0 = time.process_time()
                    extra = {"sources": sources} if sources else {}  # older commits' fit has no sources
                    p = LatencyPredictor(space, random_state=t).fit([archs[i] for i in idx], y[idx], **extra)
                    row["fit_cpu_s"] = round(time.process_time() - t0, 3)
                    row["model"] = p.regressor_.model_
                    rest = np.setdiff1d(np.arange(len(archs)), idx)
                    for test, ids in (("rest", rest), ("held60", held)):
                        pred = p.predict([archs[i] for i in ids])
                        row[test] = {k: round(float(v), 5) for k, v in latency_metrics(y[ids], pred).items()}
                    row["autogtkd"] = str(Path(autogtkd.__file__).parent)
                    append_run(args.runs, row)
                    if not args.quiet:
                        print(
                            f"[{args.arm}] {space_name}/{runtime} n={n} t={t}: {row['model']} "
                            f"rest {row['rest']['within_10pct']:.3f} / {row['rest']['kendall_tau']:.3f}",
                            file=sys.stderr,
                            flush=True,
                        )


def compare(runs: Sequence[dict[str, Any]], a: str, b: str) -> dict[str, Any]:
    """Paired ``a - b`` per (target, n, test set, metric); each cell: mean, 95 % t-interval, pairs,
    ``regression`` (the whole interval below zero), and the means of both arms."""
    from gtn_vs_vanilla import t_interval

    by = {_key(r): r for r in runs}
    cells: dict[str, Any] = {}
    for (arm, space, runtime, n, t), ra in sorted(by.items()):
        rb = by.get((b, space, runtime, n, t))
        if arm != a or rb is None:
            continue
        for test in TESTS:
            for metric in METRICS:
                cell = cells.setdefault(f"{space}/{runtime}|{n}|{test}|{metric}", {"a": [], "b": []})
                cell["a"].append(ra[test][metric])
                cell["b"].append(rb[test][metric])
    out = {}
    for name, c in cells.items():
        mean, lo, hi = t_interval(np.subtract(c["a"], c["b"]))
        out[name] = {
            "diff": round(mean, 5),
            "ci95": [round(lo, 5), round(hi, 5)],
            "pairs": len(c["a"]),
            "regression": bool(hi < 0),
            a: round(float(np.mean(c["a"])), 4),
            b: round(float(np.mean(c["b"])), 4),
        }
    return out


def markdown(cells: dict[str, Any], a: str, b: str, test: str) -> str:
    """One row per target x n: both arms' means and the paired difference per metric on ``test``."""
    lines = [
        f"| target | n | within ±10 % {a} / {b} | diff (95 % CI) | τ {a} / {b} | diff (95 % CI) |",
        "|---|---:|---|---|---|---|",
    ]
    keys = sorted(
        {k.rsplit("|", 2)[0] for k in cells if k.split("|")[2] == test},
        key=lambda k: (k.split("|")[0], int(k.split("|")[1])),
    )
    for k in keys:
        target, n = k.split("|")
        row = [target, n]
        for metric in METRICS:
            c = cells[f"{k}|{test}|{metric}"]
            flag = " **regression**" if c["regression"] else ""
            row += [f"{c[a]:.3f} / {c[b]:.3f}", f"{c['diff']:+.4f} ({c['ci95'][0]:+.4f}, {c['ci95'][1]:+.4f}){flag}"]
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    f = sub.add_parser("fit", help="fit and score one arm")
    f.add_argument("--arm", required=True, help="label of this arm in --runs")
    f.add_argument("--workdir", required=True, help="folder of the measurement files")
    f.add_argument("--spaces", nargs="+", default=list(SPACES))
    f.add_argument("--runtimes", nargs="+", default=list(RUNTIMES), choices=RUNTIMES)
    f.add_argument("--sizes", nargs="+", type=int, default=[25, 50, 100])
    f.add_argument("--subsets", type=int, default=10)
    f.add_argument("--test", type=int, default=60, help="issue 5's held-out architectures")
    f.add_argument("--seed", type=int, default=0)
    f.add_argument("--transfer", action="store_true", help="the other runtime's pool measurements as a source")
    f.add_argument("--quiet", action="store_true")
    c = sub.add_parser("compare", help="paired differences A - B")
    c.add_argument("a")
    c.add_argument("b")
    c.add_argument("--json", default=SUMMARY)
    for p in (f, c):
        p.add_argument("--runs", default=RUNS)
    args = ap.parse_args(argv)
    if args.cmd == "fit":
        try:
            fit(args)
        except AutoGTKDError as exc:  # a malformed measurement file: one line, the finished fits kept
            raise SystemExit(f"error: {exc}") from None
        return 0
    cells = compare(read_runs(args.runs), args.a, args.b)
    if not cells:
        raise SystemExit(f"{args.runs}: no (target, n, subset) run by both {args.a!r} and {args.b!r}")
    meta = {
        "command": "python benchmarks/latency_builtin_regression.py " + " ".join(sys.argv[1:] if argv is None else argv)
    }
    atomic_write_json(args.json, {"meta": meta, "cells": cells})
    for test in TESTS:
        print(f"\n{test}:\n" + markdown(cells, args.a, args.b, test))
    return 0


if __name__ == "__main__":
    sys.exit(main())
