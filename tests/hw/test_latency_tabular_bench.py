"""Smoke test of benchmarks/tabular_latency.py on a tiny synthetic table (no /work/shared/data)."""

from __future__ import annotations

import csv
import itertools
import json
from pathlib import Path

import numpy as np
import pytest
from _helpers import load_benchmark

ROOT = Path(__file__).resolve().parents[2]
OPS = ["none", "skip_connect", "nor_conv_3x3"]


def _module(name: str):  # type: ignore[no-untyped-def]
    return load_benchmark(name)


def write_table(path: Path) -> None:
    """27 cells of 3 edges; additive latency on two devices, accuracy and FLOPs."""
    cost = {"none": 0.0, "skip_connect": 0.2, "nor_conv_3x3": 2.0}
    rows = []
    for i, ops in enumerate(itertools.product(OPS, repeat=3)):
        lat = 1 + sum(cost[o] * (k + 1) for k, o in enumerate(ops))
        rows.append(
            {
                "arch_str": str(i),
                **{f"edge_{k}_{k + 1}": o for k, o in enumerate(ops)},
                "cifar10_test_acc_200ep": 50 + 10 * ops.count("nor_conv_3x3") + i % 3,
                "flops_M": 10 * ops.count("nor_conv_3x3") + 1,
                "latency_ms_a": round(lat, 4),
                "latency_ms_b": round(2 * lat + 0.5, 4),
            }
        )
    with path.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)


def test_tabular_latency_smoke(tmp_path: Path) -> None:
    table = tmp_path / "tiny.csv"
    write_table(table)
    out = tmp_path / "summary.json"
    args = ["--tables", str(table), "--sizes", "12", "--sets", "2", "--accuracy-sizes", "12"]
    args += ["--work", str(tmp_path / "work"), "--runs", str(tmp_path / "runs.jsonl"), "--json", str(out), "--quiet"]
    _module("tabular_latency").main([*args, "--baselines-only"])
    first = json.loads(out.read_text())["results"]["tiny"]
    assert set(first) == {"a", "b"} and "autogtkd" not in first["a"]
    # the full run redoes those sets with our predictor; each set is counted once
    _module("tabular_latency").main(args)
    summary = json.loads(out.read_text())
    res = summary["results"]["tiny"]
    assert summary["goals"] == {}  # n = 12 only: nothing at 50 / 100 to compare
    assert "| a | onehot_lut | 1.000 / 1.000 |" in (tmp_path / "work" / "report.md").read_text()
    assert set(res) == {"a", "b", "accuracy"}
    for dev in ("a", "b"):
        assert set(res[dev]) == {"autogtkd", "flops_linear", "onehot_lut", "op_count"}
        assert res[dev]["onehot_lut"]["within_10pct"]["12"]["sets"] == 2
        # additive per-edge costs: the one-hot LUT is exact, and so should ours be
        assert res[dev]["onehot_lut"]["within_10pct"]["12"]["mean"] == 1.0
        assert res[dev]["autogtkd"]["within_10pct"]["12"]["mean"] >= 0.9
    assert np.isfinite(res["accuracy"]["encode"]["kendall_tau"]["12"]["mean"])
    # --loss huber: its own records beside the baselines (no accuracy rows), its own report column
    hub = ["--tables", str(table), "--sizes", "12", "--sets", "1", "--loss", "huber", "--quiet"]
    hub += ["--work", str(tmp_path / "hw"), "--runs", str(tmp_path / "hr.jsonl"), "--json", str(tmp_path / "h.json")]
    _module("tabular_latency").main(hub)
    res = json.loads((tmp_path / "h.json").read_text())["results"]["tiny"]
    assert set(res) == {"a", "b"} and "autogtkd-huber" in res["a"] and "autogtkd" not in res["a"]
    assert "| a | autogtkd-huber |" in (tmp_path / "hw" / "report.md").read_text()
    # --plot draws from the summaries alone
    png = tmp_path / "latency.png"
    _module("tabular_latency").main(["--json", str(out), "--plot-with", str(tmp_path / "h.json"), "--plot", str(png)])
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(SystemExit, match="cannot read a summary"):
        _module("tabular_latency").main(["--json", str(tmp_path / "none.json"), "--plot", str(png)])


def test_latency_goals_compare_ours_at_50_with_the_best_baseline_at_100() -> None:
    tl = _module("tabular_latency")

    def m(within: dict[int, float], tau: dict[int, float]) -> dict[str, object]:
        return {
            "within_10pct": {str(n): {"mean": v} for n, v in within.items()},
            "kendall_tau": {str(n): {"mean": v} for n, v in tau.items()},
        }

    results = {
        "t": {
            "d1": {
                "autogtkd": m({50: 0.8}, {50: 0.9}),
                "onehot_lut": m({100: 0.7}, {100: 0.95}),
                "op_count": m({100: 0.75}, {100: 0.5}),
            },
            "d2": {"autogtkd": m({50: 0.9}, {50: 0.9}), "onehot_lut": m({100: 0.9}, {100: 0.9})},
            "accuracy": {"encode": {"kendall_tau": {"20": {"mean": 0.5}}}},
        }
    }
    g = tl.goals(results)["t"]
    assert g["d1"]["within_10pct"] == {"ours": 0.8, "baseline": 0.75, "baseline_name": "op_count", "met": True}
    assert g["d1"]["kendall_tau"]["baseline_name"] == "onehot_lut" and not g["d1"]["kendall_tau"]["met"]
    assert not g["d1"]["met"] and g["d2"]["met"]  # ties meet the goal
    assert "accuracy" not in g
    assert "| d1 | autogtkd | – | 0.800 / 0.900 | – |" in tl.markdown(results, [25, 50, 100])


def test_tabular_transfer_smoke(tmp_path: Path) -> None:
    """Device b is 2 x device a + 0.5: from 5 measurements, transfer from a is exact; reruns resume."""
    table = tmp_path / "tiny.csv"
    write_table(table)
    out, runs = tmp_path / "transfer.json", tmp_path / "transfer.jsonl"
    args = ["--tables", str(table), "--sizes", "5", "--sets", "1", "--source-n", "20", "--test-n", "15"]
    args += ["--runs", str(runs), "--json", str(out), "--quiet"]
    bench = _module("tabular_transfer")
    bench.main(args)
    res = json.loads(out.read_text())["results"]["tiny"]
    assert set(res) == {"a", "b"}
    assert set(res["b"]["5"]) == {"transfer", "alone", "op_count"}
    assert res["b"]["5"]["transfer"]["within_10pct"]["mean"] == 1.0
    lines = runs.read_text().splitlines()
    bench.main(args)  # every (device, set) is done: nothing runs again
    assert runs.read_text().splitlines() == lines


def test_latency_ceiling_exploration_smoke(tmp_path: Path) -> None:
    """benchmarks/explore_latency_ceiling.py: the one-hot model fitted on every cell of an additive
    per-edge table is exact; op count (position-blind) ranks worse."""
    table = tmp_path / "tiny.csv"
    write_table(table)
    out = tmp_path / "ceiling.json"
    _module("explore_latency_ceiling").main(
        ["--tables", str(table), "--sets", "2", "--sizes", "12", "--json", str(out)]
    )
    res = json.loads(out.read_text())["results"]["tiny"]["a"]
    assert set(res) == {"op_count_all", "onehot_all", "op_count_12"}
    assert res["onehot_all"]["within_10pct"] == 1.0  # exact up to rounding (tied latencies keep tau just below 1)
    assert res["onehot_all"]["kendall_tau"] > res["op_count_all"]["kendall_tau"] + 0.05


def test_a_missing_or_empty_table_is_a_one_line_error(tmp_path: Path) -> None:
    (tmp_path / "empty.csv").write_text("")
    for name, msg in (("missing.csv", "cannot read the table"), ("empty.csv", "empty table")):
        with pytest.raises(SystemExit, match=msg):
            _module("tabular_latency").main(["--tables", str(tmp_path / name), "--json", str(tmp_path / "s.json")])


def test_training_sets_split_every_row_once_and_differ_by_seed(tmp_path: Path) -> None:
    """tabular_latency.training_set: the sets every latency benchmark and exploration shares."""
    table = tmp_path / "tiny.csv"
    write_table(table)
    mod = _module("tabular_latency")
    t = mod.Table(table)
    train, test = mod.training_set(t, 12, 0)
    assert len(train) == 12 and len(set(train)) == 12
    assert sorted([*train, *test]) == list(range(27))
    again, _ = mod.training_set(t, 12, 0)
    other, _ = mod.training_set(t, 12, 1)
    assert list(again) == list(train) and set(other) != set(train)


def test_latency_explorations_resume_and_average(tmp_path: Path) -> None:
    """benchmarks/_latency_explore.py: one fit per (table, device, set) not yet in the runs file, and
    the per-arm means of the summaries."""
    table = tmp_path / "tiny.csv"
    write_table(table)
    mod = load_benchmark("_latency_explore", register=True)  # a dataclass: its module must be registered
    records = _module("_records")
    runs = tmp_path / "runs.jsonl"
    first = list(mod.fits(runs, n=12, tables=[table]))
    assert [(f.device, f.set) for f in first] == [(d, s) for d in ("a", "b") for s in range(mod.SETS)]
    f = first[0]
    assert f.X_train.shape[0] == 12 and f.X_test.shape[0] == len(f.y_test) == 15
    np.testing.assert_allclose(f.predictor.regressor_.predict(f.X_train), f.y_train, rtol=0.02)  # additive table
    reg = f.predictor.regressor_
    # a candidate refitted on every training row is the chosen model itself; rows and X can be chosen
    np.testing.assert_allclose(f.candidate(reg.model_, reg.params_), reg.predict(f.X_test))
    assert f.candidate(reg.model_, reg.params_, np.arange(6), f.X_train[:3]).shape == (3,)
    records.append_run(runs, f.key() | {"result": {"x": {"within_10pct": 1.0, "kendall_tau": 0.5}}})
    records.append_run(runs, first[1].key() | {"result": {"x": {"within_10pct": 0.0, "kendall_tau": 0.7}}})
    rest = list(mod.fits(runs, n=12, tables=[table]))
    assert len(rest) == 2 * mod.SETS - 2 and (rest[0].device, rest[0].set) == ("a", 2)
    summary = mod.mean_metrics(records.read_runs(runs), ["x"])
    assert summary == {"tiny": {"a": {"x": {"within_10pct": 0.5, "kendall_tau": 0.6, "sets": 2}}}}


def test_stacking_weights_are_convex_and_find_the_right_model() -> None:
    """benchmarks/explore_latency_stacking.py: non-negative weights summing to 1; all of it on the
    column that is the target, none on a column that is off by a factor."""
    y = np.linspace(1.0, 5.0, 30)
    w = _module("explore_latency_stacking").convex_weights(np.column_stack([2 * y, y, y + 1.0]), y)
    assert np.all(w >= 0) and w.sum() == pytest.approx(1.0)
    assert w[1] == pytest.approx(1.0, abs=1e-6)
