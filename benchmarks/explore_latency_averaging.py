"""Exploration (not a benchmark of the public API): would averaging the latency models whose CV error is
within one standard error of the best beat picking the simplest of them (``LatencyRegressor``'s
``one_se``)? n = 50 measurements, the 10 training sets of ``benchmarks/tabular_latency.py``, every device of
both tables; reads ``LatencyRegressor`` internals. Results: ``benchmarks/results/latency_averaging_explore.json``
(docs/benchmarks_latency.md, "Averaging the candidates").

    python benchmarks/explore_latency_averaging.py      # resumable: bench/latavg/runs.jsonl
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
from autogtkd.hw.latency._models import _candidates, _label

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
todo = [(t, d) for t in ("fbnet_cifar100", "nb201_cifar10") for d in DEVS]
out = HERE.parent / "bench" / "latavg" / "runs.jsonl"
out.parent.mkdir(parents=True, exist_ok=True)
done = (
    {(r["table"], r["device"], r["set"]) for r in map(json.loads, out.read_text().splitlines())}
    if out.exists()
    else set()
)
tables = {}
for tab, dev in todo:
    t = tables.setdefault(tab, tl.Table(DATA / f"{tab}.csv"))
    space = t.space()
    for s in range(10):
        if (tab, dev, s) in done:
            continue
        n = 50
        rng = np.random.default_rng([s, n, len(t.archs)])
        train = rng.choice(len(t.archs), size=n, replace=False)
        test = np.setdiff1d(np.arange(len(t.archs)), train)
        y = t.latency[dev]
        p = LatencyPredictor(space, target=dev, random_state=s).fit([t.archs[i] for i in train], y[train])
        reg = p.regressor_
        Xtr = p.featurizer_.transform([space.canonical(t.archs[i]) for i in train])
        Xte = p.featurizer_.transform([space.canonical(t.archs[i]) for i in test])
        m, se = reg.cv_scores_, reg.cv_se_
        best = min(m, key=m.get)
        within = [l for l in m if m[l] <= m[best] + se[best]]
        preds = {}
        for name, params in _candidates(
            tuple(k for k in ("analytic", "factorised", "lut", "ridge", "gbr", "extra_trees"))
        ):
            lbl = _label(name, params)
            if lbl not in m:
                continue
            est, lt, cols = reg._fit_one(name, params, Xtr, y[train])
            preds[lbl] = reg._predict_one(est, lt, cols, Xte)
        avg_within = np.mean([preds[l] for l in within], axis=0)
        # inverse-CV-error weights over all candidates within 1 SE
        w = np.array([1 / m[l] for l in within])
        avg_w = np.sum([wi * preds[l] for wi, l in zip(w, within)], axis=0) / w.sum()
        # the best per family (lowest CV of each kind), averaged over the families within 1 SE
        fam = {}
        for l in within:
            k = l.split("(")[0]
            if k not in fam or m[l] < m[fam[k]]:
                fam[k] = l
        avg_fam = np.mean([preds[l] for l in fam.values()], axis=0)
        res = {
            "pick": {**latency_metrics(y[test], p.predict([t.archs[i] for i in test])), "model": reg.model_},
            "avg_within": latency_metrics(y[test], avg_within),
            "avg_weighted": latency_metrics(y[test], avg_w),
            "avg_families": latency_metrics(y[test], avg_fam),
            "within": within,
            "best_cv": best,
        }
        with out.open("a") as f:
            f.write(json.dumps({"table": tab, "device": dev, "set": s, "result": res}) + "\n")
        print(
            tab,
            dev,
            s,
            {
                k: (round(v["within_10pct"], 3), round(v["kendall_tau"], 3))
                for k, v in res.items()
                if isinstance(v, dict)
            },
            flush=True,
        )

recs = [json.loads(line) for line in out.read_text().splitlines()]
summary: dict = {}
for r in recs:
    for arm in ("pick", "avg_within", "avg_families"):
        cell = (
            summary.setdefault(r["table"], {})
            .setdefault(r["device"], {})
            .setdefault(arm, {"within_10pct": [], "kendall_tau": []})
        )
        for metric in cell:
            cell[metric].append(r["result"][arm][metric])
for tab in summary.values():
    for dev in tab.values():
        for arm, cell in dev.items():
            dev[arm] = {m: round(float(np.mean(v)), 4) for m, v in cell.items()} | {"sets": len(cell["kendall_tau"])}
res = HERE / "results" / "latency_averaging_explore.json"
res.write_text(
    json.dumps(
        {
            "n": 50,
            "arms": {
                "pick": "LatencyPredictor default (one_se)",
                "avg_within": "mean of every candidate within one SE",
                "avg_families": "mean of the best candidate of each kind within one SE",
            },
            "results": summary,
        },
        indent=1,
    )
)
print("wrote", res)
