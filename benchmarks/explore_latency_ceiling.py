"""How close is the op-count baseline at 100 measurements to its model's ceiling? (exploration)

For each device table, the least-squares op-count and one-hot models fitted on **every** architecture
and scored on every architecture (the ceiling of each model class: no estimation error left), beside
the op-count model from n = 50 and n = 100 measurements (the same 10 training sets as
benchmarks/tabular_latency.py, scored on all other architectures). Plain numpy; reads only the tables.

    python benchmarks/explore_latency_ceiling.py     # -> benchmarks/results/latency_ceiling_explore.json
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from tabular_latency import DEFAULT_TABLES, Table, _lstsq, _metrics, training_set

from autogtkd._io import atomic_write_json


def ceiling(table: Table, dev: str, sets: int, sizes: Sequence[int] = (50, 100)) -> dict[str, dict[str, float]]:
    """Within +-10 % / Kendall tau of each row of the comparison for one device."""
    y = table.latency[dev]
    out = {
        f"{name}_all": _metrics(y, _lstsq(X, y, X))
        for name, X in (("op_count", table.counts), ("onehot", table.onehot))
    }
    for n in sizes:
        runs = []
        for s in range(sets):
            train, test = training_set(table, n, s)
            runs.append(_metrics(y[test], _lstsq(table.counts[train], y[train], table.counts[test])))
        out[f"op_count_{n}"] = {k: float(np.mean([r[k] for r in runs])) for k in runs[0]}
    return out


def main(argv: Sequence[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--tables", nargs="+", default=DEFAULT_TABLES)
    p.add_argument("--sets", type=int, default=10)
    p.add_argument("--sizes", type=int, nargs="+", default=[50, 100], help="measurements of the op-count rows")
    p.add_argument("--json", default="benchmarks/results/latency_ceiling_explore.json")
    args = p.parse_args(argv)
    results: dict[str, dict[str, dict[str, dict[str, float]]]] = {}
    for path in args.tables:
        t = Table(path)
        for dev in t.devices:
            row = results.setdefault(t.name, {})[dev] = ceiling(t, dev, args.sets, args.sizes)
            print(t.name, dev, " ".join(f"{k}={v['within_10pct']:.3f}/{v['kendall_tau']:.4f}" for k, v in row.items()))
    atomic_write_json(
        args.json, {"command": "python benchmarks/explore_latency_ceiling.py", "results": results}, indent=1
    )


if __name__ == "__main__":
    main()
