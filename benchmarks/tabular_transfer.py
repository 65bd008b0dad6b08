"""A new device from 10 or 20 measurements: transfer from other devices (issue 13 §3), on real tables.

Leave-one-device-out on the device tables of ``benchmarks/tabular_latency.py`` (NAS-Bench-201 and
FBNet, 8 devices each), through the public API only: for a held-out device, each of the other 7
devices contributes ``--source-n`` measured architectures (a finished measurement campaign), the
held-out device ``n`` (10, 20); ``transfer`` = ``LatencyPredictor(space).fit(archs, ms, sources=...)``
(``model="auto"``: it may also keep a model of its own), ``alone`` = the same predictor without sources,
``op_count`` = least squares on option counts from the same ``n`` (a baseline). Test: ``--test-n``
random architectures of the table outside the device's training set (the same for every predictor).
Metrics: share within +-10 %, Kendall tau. Results are appended to ``--runs`` (resumable) and
summarised (mean, std over sets) into ``--json``.

Run:  python benchmarks/tabular_transfer.py                                  (long; resumable)
      python benchmarks/tabular_transfer.py --sets 1 --devices titan_rtx_1 --json /tmp/t.json --runs /tmp/t.jsonl
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from _records import append_run, read_runs
from tabular_latency import DEFAULT_TABLES, Table, _lstsq, _metrics, mean_std

from autogtkd._io import atomic_write_json
from autogtkd.hw.latency import LatencyPredictor


def run_device(table: Table, dev: str, s: int, sizes: Sequence[int], source_n: int, test_n: int) -> dict[str, Any]:
    """Every predictor for held-out device ``dev``, training set ``s``: ``{n: {predictor: metrics}}``."""
    space = table.space()
    n_all = len(table.archs)
    rng = np.random.default_rng([s, n_all, table.devices.index(dev)])
    order = rng.permutation(n_all)
    target_pool, test = order[: max(sizes)], order[max(sizes) : max(sizes) + test_n]
    sources = []
    for k, other in enumerate(table.devices):
        if other == dev:
            continue
        idx = np.random.default_rng([s, n_all, 100 + k]).choice(n_all, size=source_n, replace=False)
        sources.append(([table.archs[i] for i in idx], table.latency[other][idx]))
    y = table.latency[dev]
    test_archs = [table.archs[i] for i in test]
    out: dict[str, Any] = {}
    for n in sizes:
        train = target_pool[:n]
        archs = [table.archs[i] for i in train]
        res: dict[str, Any] = {}
        for name, src in (("transfer", sources), ("alone", [])):
            t0 = time.process_time()
            p = LatencyPredictor(space, target=dev, random_state=s).fit(archs, y[train], sources=src)
            res[name] = {
                **_metrics(y[test], p.predict(test_archs)),
                "model": p.regressor_.model_,
                "cpu_seconds": time.process_time() - t0,
            }
        res["op_count"] = _metrics(y[test], _lstsq(table.counts[train], y[train], table.counts[test]))
        out[str(n)] = res
    return out


def summarise(records: list[dict[str, Any]]) -> dict[str, Any]:
    """``{table: {device: {n: {predictor: {metric: {mean, std, sets}}}}}}``."""
    groups: dict[tuple[str, str, str, str, str], list[float]] = {}
    for r in records:
        for n, per in r["result"].items():
            for pred, ms in per.items():
                for metric in ("within_10pct", "kendall_tau"):
                    groups.setdefault((r["table"], r["device"], n, pred, metric), []).append(float(ms[metric]))
    out: dict[str, Any] = {}
    for (tab, dev, n, pred, metric), vs in sorted(groups.items()):
        out.setdefault(tab, {}).setdefault(dev, {}).setdefault(n, {}).setdefault(pred, {})[metric] = mean_std(vs)
    return out


def main(argv: Sequence[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--tables", nargs="+", default=DEFAULT_TABLES)
    p.add_argument("--devices", nargs="+", default=None, help="held-out devices (default: every one)")
    p.add_argument("--sizes", type=int, nargs="+", default=[10, 20])
    p.add_argument("--sets", type=int, default=5)
    p.add_argument("--source-n", type=int, default=200, help="measured architectures per source device")
    p.add_argument("--test-n", type=int, default=2000)
    p.add_argument("--runs", default="benchmarks/results/tabular_transfer_runs.jsonl")
    p.add_argument("--json", default="benchmarks/results/tabular_transfer.json")
    p.add_argument("--quiet", action="store_true")
    args = p.parse_args(argv)
    runs = Path(args.runs)
    records = read_runs(runs)
    done = {(r["table"], r["device"], r["set"]) for r in records}
    tables = [Table(t) for t in args.tables]
    for s in range(args.sets):  # set by set: a partial run covers every device
        for t in tables:
            for dev in args.devices or t.devices:
                if (t.name, dev, s) in done or dev not in t.devices:
                    continue
                res = run_device(t, dev, s, sorted(args.sizes), args.source_n, args.test_n)
                rec = {"table": t.name, "device": dev, "set": s, "result": res}
                records.append(rec)
                append_run(runs, rec)
                if not args.quiet:
                    print(
                        t.name,
                        dev,
                        s,
                        json.dumps(
                            {
                                n: {k: (v["within_10pct"], round(v["kendall_tau"], 3)) for k, v in r.items()}
                                for n, r in res.items()
                            }
                        ),
                        flush=True,
                    )
                write(args, records, argv)
    write(args, records, argv)


def write(args: argparse.Namespace, records: list[dict[str, Any]], argv: Sequence[str] | None) -> None:
    meta = {
        "sizes": sorted(args.sizes),
        "sets_requested": args.sets,
        "source_n": args.source_n,
        "test_n": args.test_n,
        "runs": len(records),
        "command": "python benchmarks/tabular_transfer.py " + " ".join(argv if argv is not None else sys.argv[1:]),
    }
    atomic_write_json(Path(args.json), {"meta": meta, "results": summarise(records)})


if __name__ == "__main__":
    main()
