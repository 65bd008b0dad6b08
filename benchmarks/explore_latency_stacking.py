"""Exploration (not a benchmark of the public API): would stacking the latency models (convex weights
fitted on out-of-fold predictions, Breiman 1996) beat picking one (``LatencyRegressor``'s ``one_se``)?
n = 50 measurements, the 10 training sets of ``benchmarks/tabular_latency.py``, every device of both
tables; reads ``LatencyRegressor`` internals. Arms: ``pick`` (today), ``stack`` (all candidates),
``stack_kinds`` (per kind, its penalty of lowest CV error). Protocol and results:
docs/benchmarks_latency.md, "Stacking the candidates"; summary
``benchmarks/results/latency_stacking_explore.json``.

    python benchmarks/explore_latency_stacking.py      # resumable: bench/latstack/runs.jsonl
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from scipy.optimize import nnls

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from _latency_explore import brief, fits, mean_metrics
from _records import append_run, read_runs

from autogtkd._io import atomic_write_json
from autogtkd.hw.latency import latency_metrics
from autogtkd.hw.latency._models import _label

ARMS = {
    "pick": "LatencyPredictor default (one_se)",
    "stack": "convex stacking weights over all candidates (relative-error NNLS on out-of-fold predictions)",
    "stack_kinds": "the same over one candidate per kind (its penalty of lowest CV error)",
}
RUNS = HERE.parent / "bench" / "latstack" / "runs.jsonl"


def convex_weights(P: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Non-negative weights summing to 1 that minimise the squared relative error of ``P @ w``."""
    A = P / y[:, None]
    lam = 1e3 * np.sqrt(len(y))  # the sum-to-one row, weighted to hold to ~1e-6
    w, _ = nnls(np.vstack([A, lam * np.ones(P.shape[1])]), np.concatenate([np.ones(len(y)), [lam]]))
    return w / w.sum()


def main() -> None:
    for f in fits(RUNS):
        reg = f.predictor.regressor_
        labels = [_label(k, pr) for k, pr in reg.candidates_]
        oof = np.zeros((len(f.y_train), len(labels)))
        hits = np.zeros(len(f.y_train))
        for tr, te in reg.cv_folds_:  # the folds of the model choice itself
            hits[te] += 1
            for j, (k, pr) in enumerate(reg.candidates_):
                oof[te, j] += f.candidate(k, pr, tr, f.X_train[te])
        oof /= hits[:, None]
        full = np.column_stack([f.candidate(k, pr) for k, pr in reg.candidates_])
        w_all = convex_weights(oof, f.y_train)
        per_kind: dict[str, int] = {}
        for j, (k, _) in enumerate(reg.candidates_):
            if k not in per_kind or reg.cv_scores_[labels[j]] < reg.cv_scores_[labels[per_kind[k]]]:
                per_kind[k] = j
        cols_k = sorted(per_kind.values())
        w_k = convex_weights(oof[:, cols_k], f.y_train)
        res = {
            "pick": latency_metrics(f.y_test, reg.predict(f.X_test)),
            "stack": latency_metrics(f.y_test, full @ w_all),
            "stack_kinds": latency_metrics(f.y_test, full[:, cols_k] @ w_k),
            "pick_label": _label(reg.model_, reg.params_),
            "weights": {labels[j]: round(float(w_all[j]), 4) for j in range(len(labels)) if w_all[j] > 1e-4},
            "weights_kinds": {labels[c]: round(float(w), 4) for c, w in zip(cols_k, w_k) if w > 1e-4},
        }
        append_run(RUNS, f.key() | {"result": res})
        print(*f.key().values(), brief(res, ARMS), flush=True)
    summary = mean_metrics(read_runs(RUNS), ARMS)
    out = HERE / "results" / "latency_stacking_explore.json"
    atomic_write_json(out, {"n": 50, "arms": ARMS, "results": summary}, indent=1)
    print("wrote", out)


if __name__ == "__main__":
    main()
