"""Diagnostic (not a benchmark of the public API): how far can any rule that picks one of
``LatencyRegressor``'s candidates go? n = 50, the 10 training sets of ``benchmarks/tabular_latency.py``,
every device of both tables: every candidate refitted on the 50 and scored on all other architectures.
``oracle`` = per set the candidate of highest test Kendall tau (peeks at the test set: a bound, not a
method); ``best_fixed`` = per device the one candidate of highest mean tau. Protocol and results:
docs/benchmarks_latency.md, "An oracle choice"; summary ``benchmarks/results/latency_oracle_explore.json``.

    python benchmarks/explore_latency_oracle.py      # resumable: bench/latoracle/runs.jsonl
"""

import importlib.util
import json
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
spec = importlib.util.spec_from_file_location("tl", HERE / "tabular_latency.py")
tl = importlib.util.module_from_spec(spec)
spec.loader.exec_module(tl)
from autogtkd.hw.latency import LatencyPredictor, latency_metrics
from autogtkd.hw.latency._models import _label

DATA = HERE.parent.parent / "shared" / "data" / "tabular"
DEVS = [
    "2080ti_1",
    "essential_ph_1",
    "gold_6240",
    "samsung_a50",
    "samsung_s7",
    "silver_4210r",
    "titan_rtx_1",
    "titanxp_1",
]
METRICS = ("within_10pct", "kendall_tau")


def main() -> None:
    out = HERE.parent / "bench" / "latoracle" / "runs.jsonl"
    out.parent.mkdir(parents=True, exist_ok=True)
    done = (
        {(r["table"], r["device"], r["set"]) for r in map(json.loads, out.read_text().splitlines())}
        if out.exists()
        else set()
    )
    n = 50
    for tab in ("fbnet_cifar100", "nb201_cifar10"):
        t = tl.Table(DATA / f"{tab}.csv")
        space = t.space()
        for dev in DEVS:
            for s in range(10):
                if (tab, dev, s) in done:
                    continue
                rng = np.random.default_rng([s, n, len(t.archs)])
                train = rng.choice(len(t.archs), size=n, replace=False)
                test = np.setdiff1d(np.arange(len(t.archs)), train)
                y = t.latency[dev]
                p = LatencyPredictor(space, target=dev, random_state=s).fit([t.archs[i] for i in train], y[train])
                reg = p.regressor_
                Xtr = p.featurizer_.transform([space.canonical(t.archs[i]) for i in train])
                Xte = p.featurizer_.transform([space.canonical(t.archs[i]) for i in test])
                per = {}
                for k, pr in reg.candidates_:
                    est, lt, cols = reg._fit_one(k, pr, Xtr, y[train])
                    m = latency_metrics(y[test], reg._predict_one(est, lt, cols, Xte))
                    per[_label(k, pr)] = {key: m[key] for key in METRICS}
                rec = {
                    "table": tab,
                    "device": dev,
                    "set": s,
                    "pick": _label(reg.model_, reg.params_),
                    "candidates": per,
                }
                with out.open("a") as f:
                    f.write(json.dumps(rec) + "\n")
                best = max(per, key=lambda c: per[c]["kendall_tau"])
                print(tab, dev, s, rec["pick"], per[rec["pick"]], best, per[best], flush=True)

    recs = [json.loads(line) for line in out.read_text().splitlines()]
    summary: dict = {}
    for tab in sorted({r["table"] for r in recs}):
        for dev in DEVS:
            rs = [r for r in recs if r["table"] == tab and r["device"] == dev]
            if not rs:
                continue
            labels = list(rs[0]["candidates"])
            mean = {c: {m: float(np.mean([r["candidates"][c][m] for r in rs])) for m in METRICS} for c in labels}
            fixed = max(labels, key=lambda c: mean[c]["kendall_tau"])
            orc = [max(r["candidates"].values(), key=lambda v: v["kendall_tau"]) for r in rs]
            summary.setdefault(tab, {})[dev] = {
                "pick": {m: round(float(np.mean([r["candidates"][r["pick"]][m] for r in rs])), 4) for m in METRICS},
                "oracle": {m: round(float(np.mean([o[m] for o in orc])), 4) for m in METRICS},
                "best_fixed": {"candidate": fixed} | {m: round(mean[fixed][m], 4) for m in METRICS},
                "sets": len(rs),
            }
    res_path = HERE / "results" / "latency_oracle_explore.json"
    res_path.write_text(json.dumps({"n": n, "results": summary}, indent=1))
    print("wrote", res_path)


if __name__ == "__main__":
    main()
