"""Diagnostic (not a benchmark of the public API): how far can any rule that picks one of
``LatencyRegressor``'s candidates go? n = 50, the 10 training sets of ``benchmarks/tabular_latency.py``,
every device of both tables: every candidate refitted on the 50 and scored on all other architectures.
``oracle`` = per set the candidate of highest test Kendall tau (peeks at the test set: a bound, not a
method); ``best_fixed`` = per device the one candidate of highest mean tau. Protocol and results:
docs/benchmarks_latency.md, "An oracle choice"; summary ``benchmarks/results/latency_oracle_explore.json``.

    python benchmarks/explore_latency_oracle.py      # resumable: bench/latoracle/runs.jsonl
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from _latency_explore import METRICS, fits, mean_metrics
from _records import append_run, read_runs

from autogtkd._io import atomic_write_json
from autogtkd.hw.latency import latency_metrics
from autogtkd.hw.latency._models import _label

RUNS = HERE.parent / "bench" / "latoracle" / "runs.jsonl"


def main() -> None:
    for f in fits(RUNS):
        reg = f.predictor.regressor_
        per = {}
        for k, pr in reg.candidates_:
            m = latency_metrics(f.y_test, f.candidate(k, pr))
            per[_label(k, pr)] = {key: m[key] for key in METRICS}
        pick = _label(reg.model_, reg.params_)
        append_run(RUNS, f.key() | {"pick": pick, "candidates": per})
        best = max(per, key=lambda c: per[c]["kendall_tau"])
        print(*f.key().values(), pick, per[pick], best, per[best], flush=True)

    recs = read_runs(RUNS)
    choices = mean_metrics(
        recs,
        ("pick", "oracle"),
        lambda r, arm: (
            r["candidates"][r["pick"]]
            if arm == "pick"
            else max(r["candidates"].values(), key=lambda v: v["kendall_tau"])
        ),
    )
    each = mean_metrics(recs, recs[0]["candidates"], lambda r, arm: r["candidates"][arm])
    summary = {
        tab: {
            dev: {arm: {m: cell[arm][m] for m in METRICS} for arm in ("pick", "oracle")}
            | {
                "best_fixed": {
                    "candidate": (fixed := max(each[tab][dev], key=lambda c: each[tab][dev][c]["kendall_tau"]))
                }
                | {m: each[tab][dev][fixed][m] for m in METRICS},
                "sets": cell["pick"]["sets"],
            }
            for dev, cell in by_dev.items()
        }
        for tab, by_dev in choices.items()
    }
    out = HERE / "results" / "latency_oracle_explore.json"
    atomic_write_json(out, {"n": 50, "results": summary}, indent=1)
    print("wrote", out)


if __name__ == "__main__":
    main()
