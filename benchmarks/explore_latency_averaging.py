"""Exploration (not a benchmark of the public API): would averaging the latency models whose CV error is
within one standard error of the best beat picking the simplest of them (``LatencyRegressor``'s
``one_se``)? n = 50 measurements, the 10 training sets of ``benchmarks/tabular_latency.py``, every device of
both tables; reads ``LatencyRegressor`` internals. Arms: ``pick`` (today), ``avg_within`` (always average),
``gated_min`` / ``gated_se`` (average only when the average's own CV error, on the same folds, is below the
pick's / below it by the pick's standard error). Results: ``benchmarks/results/latency_averaging_explore.json``
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
from autogtkd.hw.latency._models import _label, _mape

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
out = HERE.parent / "bench" / "latavg" / "runs.jsonl"
out.parent.mkdir(parents=True, exist_ok=True)
done = (
    {(r["table"], r["device"], r["set"]) for r in map(json.loads, out.read_text().splitlines())}
    if out.exists()
    else set()
)
for tab in ("fbnet_cifar100", "nb201_cifar10"):
    t = tl.Table(DATA / f"{tab}.csv")
    space = t.space()
    for dev in DEVS:
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
            cands = {_label(k, pr): (k, pr) for k, pr in reg.candidates_}
            within = [l for l in m if m[l] <= m[best] + se[best]]
            errs = []
            for tr, te in reg.cv_folds_:  # the folds of the model choice itself
                ps = []
                for l in within:
                    est, lt, cols = reg._fit_one(*cands[l], Xtr[tr], y[train][tr])
                    ps.append(reg._predict_one(est, lt, cols, Xtr[te]))
                errs.append(_mape(y[train][te], np.mean(ps, axis=0)))
            cv_avg = float(np.mean(errs))
            pick_lbl = _label(reg.model_, reg.params_)
            full = []
            for l in within:
                est, lt, cols = reg._fit_one(*cands[l], Xtr, y[train])
                full.append(reg._predict_one(est, lt, cols, Xte))
            avg = np.mean(full, axis=0)
            pick = p.predict([t.archs[i] for i in test])
            res = {
                "pick": latency_metrics(y[test], pick),
                "avg_within": latency_metrics(y[test], avg),
                "gated_se": latency_metrics(y[test], avg if cv_avg < m[pick_lbl] - se[pick_lbl] else pick),
                "gated_min": latency_metrics(y[test], avg if cv_avg < m[pick_lbl] else pick),
                "cv_pick": m[pick_lbl],
                "se_pick": se[pick_lbl],
                "cv_avg": cv_avg,
                "n_within": len(within),
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
                round(cv_avg, 4),
                round(m[pick_lbl], 4),
                round(se[pick_lbl], 4),
                flush=True,
            )

recs = [json.loads(line) for line in out.read_text().splitlines()]
summary: dict = {}
for r in recs:
    for arm in ("pick", "avg_within", "gated_min", "gated_se"):
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
arms = {
    "pick": "LatencyPredictor default (one_se)",
    "avg_within": "mean of every candidate within one SE",
    "gated_min": "avg_within when its CV error is below the pick's",
    "gated_se": "avg_within when its CV error is below the pick's minus its SE",
}
res = HERE / "results" / "latency_averaging_explore.json"
res.write_text(json.dumps({"n": 50, "arms": arms, "results": summary}, indent=1))
print("wrote", res)
