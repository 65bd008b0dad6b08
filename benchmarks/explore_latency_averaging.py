"""Exploration (not a benchmark of the public API): would averaging the latency models whose CV error is
within one standard error of the best beat picking the simplest of them (``LatencyRegressor``'s
``one_se``)? n = 50 measurements, the 10 training sets of ``benchmarks/tabular_latency.py``, every device of
both tables; reads ``LatencyRegressor`` internals. Arms: ``pick`` (today), ``avg_within`` (always average),
``gated_min`` / ``gated_se`` (average only when the average's own CV error, on the same folds, is below the
pick's / below it by the pick's standard error). Results: ``benchmarks/results/latency_averaging_explore.json``
(docs/benchmarks_latency.md, "Averaging the candidates").

    python benchmarks/explore_latency_averaging.py      # resumable: bench/latavg/runs.jsonl
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from _latency_explore import brief, fits, mean_metrics
from _records import append_run, read_runs

from autogtkd._io import atomic_write_json
from autogtkd.hw.latency import latency_metrics
from autogtkd.hw.latency._models import _label, _mape

ARMS = {
    "pick": "LatencyPredictor default (one_se)",
    "avg_within": "mean of every candidate within one SE",
    "gated_min": "avg_within when its CV error is below the pick's",
    "gated_se": "avg_within when its CV error is below the pick's minus its SE",
}
RUNS = HERE.parent / "bench" / "latavg" / "runs.jsonl"


def main() -> None:
    for f in fits(RUNS):
        reg = f.predictor.regressor_
        m, se = reg.cv_scores_, reg.cv_se_
        best = min(m, key=m.get)
        cands = {_label(k, pr): (k, pr) for k, pr in reg.candidates_}
        within = [lbl for lbl in m if m[lbl] <= m[best] + se[best]]
        errs = []
        for tr, te in reg.cv_folds_:  # the folds of the model choice itself
            ps = [f.candidate(*cands[lbl], tr, f.X_train[te]) for lbl in within]
            errs.append(_mape(f.y_train[te], np.mean(ps, axis=0)))
        cv_avg = float(np.mean(errs))
        pick_lbl = _label(reg.model_, reg.params_)
        avg = np.mean([f.candidate(*cands[lbl]) for lbl in within], axis=0)
        pick = reg.predict(f.X_test)
        res = {
            "pick": latency_metrics(f.y_test, pick),
            "avg_within": latency_metrics(f.y_test, avg),
            "gated_se": latency_metrics(f.y_test, avg if cv_avg < m[pick_lbl] - se[pick_lbl] else pick),
            "gated_min": latency_metrics(f.y_test, avg if cv_avg < m[pick_lbl] else pick),
            "cv_pick": m[pick_lbl],
            "se_pick": se[pick_lbl],
            "cv_avg": cv_avg,
            "n_within": len(within),
        }
        append_run(RUNS, f.key() | {"result": res})
        print(*f.key().values(), brief(res, ARMS), flush=True)
    out = HERE / "results" / "latency_averaging_explore.json"
    atomic_write_json(out, {"n": 50, "arms": ARMS, "results": mean_metrics(read_runs(RUNS), ARMS)}, indent=1)
    print("wrote", out)


if __name__ == "__main__":
    main()
