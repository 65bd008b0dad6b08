"""Exploration (not a benchmark of the public API): would stacking the latency models (convex weights
fitted on out-of-fold predictions, Breiman 1996) beat picking one (``LatencyRegressor``'s ``one_se``)?
n = 50 measurements, the 10 training sets of ``benchmarks/tabular_latency.py``, every device of both
tables; reads ``LatencyRegressor`` internals. Arms: ``pick`` (today), ``stack`` (all candidates),
``stack_kinds`` (per kind, its penalty of lowest CV error). Protocol and results:
docs/benchmarks_latency.md, "Stacking the candidates"; summary
``benchmarks/results/latency_stacking_explore.json``.

    python benchmarks/explore_latency_stacking.py      # resumable: bench/latstack/runs.jsonl
"""

import importlib.util
import json
from pathlib import Path

import numpy as np
from scipy.optimize import nnls

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
ARMS = {
    "pick": "LatencyPredictor default (one_se)",
    "stack": "convex stacking weights over all candidates (relative-error NNLS on out-of-fold predictions)",
    "stack_kinds": "the same over one candidate per kind (its penalty of lowest CV error)",
}


def convex_weights(P: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Non-negative weights summing to 1 that minimise the squared relative error of ``P @ w``."""
    A = P / y[:, None]
    lam = 1e3 * np.sqrt(len(y))  # the sum-to-one row, weighted to hold to ~1e-6
    w, _ = nnls(np.vstack([A, lam * np.ones(P.shape[1])]), np.concatenate([np.ones(len(y)), [lam]]))
    return w / w.sum()


def main() -> None:
    out = HERE.parent / "bench" / "latstack" / "runs.jsonl"
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
                ytr = y[train]
                p = LatencyPredictor(space, target=dev, random_state=s).fit([t.archs[i] for i in train], ytr)
                reg = p.regressor_
                Xtr = p.featurizer_.transform([space.canonical(t.archs[i]) for i in train])
                Xte = p.featurizer_.transform([space.canonical(t.archs[i]) for i in test])
                labels = [_label(k, pr) for k, pr in reg.candidates_]
                oof = np.zeros((n, len(labels)))
                hits = np.zeros(n)
                for tr, te in reg.cv_folds_:  # the folds of the model choice itself
                    hits[te] += 1
                    for j, (k, pr) in enumerate(reg.candidates_):
                        est, lt, cols = reg._fit_one(k, pr, Xtr[tr], ytr[tr])
                        oof[te, j] += reg._predict_one(est, lt, cols, Xtr[te])
                oof /= hits[:, None]
                full = np.zeros((len(test), len(labels)))
                for j, (k, pr) in enumerate(reg.candidates_):
                    est, lt, cols = reg._fit_one(k, pr, Xtr, ytr)
                    full[:, j] = reg._predict_one(est, lt, cols, Xte)
                w_all = convex_weights(oof, ytr)
                m = reg.cv_scores_
                per_kind: dict[str, int] = {}
                for j, (k, _) in enumerate(reg.candidates_):
                    if k not in per_kind or m[labels[j]] < m[labels[per_kind[k]]]:
                        per_kind[k] = j
                cols_k = sorted(per_kind.values())
                w_k = convex_weights(oof[:, cols_k], ytr)
                pick = p.predict([t.archs[i] for i in test])
                res = {
                    "pick": latency_metrics(y[test], pick),
                    "stack": latency_metrics(y[test], full @ w_all),
                    "stack_kinds": latency_metrics(y[test], full[:, cols_k] @ w_k),
                    "pick_label": _label(reg.model_, reg.params_),
                    "weights": {labels[j]: round(float(w_all[j]), 4) for j in range(len(labels)) if w_all[j] > 1e-4},
                    "weights_kinds": {labels[c]: round(float(w), 4) for c, w in zip(cols_k, w_k) if w > 1e-4},
                }
                with out.open("a") as f:
                    f.write(json.dumps({"table": tab, "device": dev, "set": s, "result": res}) + "\n")
                print(
                    tab,
                    dev,
                    s,
                    {a: (round(res[a]["within_10pct"], 3), round(res[a]["kendall_tau"], 3)) for a in ARMS},
                    res["weights_kinds"],
                    flush=True,
                )

    recs = [json.loads(line) for line in out.read_text().splitlines()]
    summary: dict = {}
    for r in recs:
        for arm in ARMS:
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
                dev[arm] = {m: round(float(np.mean(v)), 4) for m, v in cell.items()} | {
                    "sets": len(cell["kendall_tau"])
                }
    res_path = HERE / "results" / "latency_stacking_explore.json"
    res_path.write_text(json.dumps({"n": n, "arms": ARMS, "results": summary}, indent=1))
    print("wrote", res_path)


if __name__ == "__main__":
    main()
