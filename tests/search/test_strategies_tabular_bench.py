"""benchmarks/tabular_search.py on tiny synthetic tables (no /work/shared/data): variant parsing, the
enumerated true front, hypervolume, the goals block, the script end to end and resuming."""

from __future__ import annotations

import csv
import itertools
import json
import sys
from pathlib import Path

import numpy as np
import pytest
from _helpers import load_benchmark

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "hw"))

from test_latency_tabular_bench import write_table


def _module(name: str):  # type: ignore[no-untyped-def]
    return load_benchmark(name)


def test_true_front_and_hypervolume() -> None:
    ts = _module("tabular_search")
    acc = np.array([10.0, 50.0, 40.0, 90.0, 90.0])
    cost = np.array([1.0, 2.0, 2.0, 5.0, 6.0])
    assert ts.true_front(acc, cost).tolist() == [0, 1, 3]
    assert ts.hypervolume(np.array([1.0, 0.5]), np.array([0.5, 0.0]), 1.0) == 0.5 * 1.0 + 0.5 * 0.5


def test_tabular_search_smoke(tmp_path: Path) -> None:
    table = tmp_path / "tiny.csv"
    write_table(table)
    out = tmp_path / "summary.json"
    args = [
        "--table",
        str(table),
        "--seeds",
        "2",
        "--budgets",
        "5",
        "10",
        "--regret-at",
        "10",
        "--strategies",
        "random",
        "evolution:population_size=4,tournament_size=2",
        "--work",
        str(tmp_path / "work"),
        "--runs",
        str(tmp_path / "work" / "runs.jsonl"),
        "--json",
        str(out),
        "--quiet",
    ]
    _module("tabular_search").main(args)
    summary = json.loads(out.read_text())
    res = summary["results"]
    assert set(res) == {"a", "b", "flops", "a@median", "b@median"}
    assert res["a"]["random"]["hv_ratio"]["10"]["seeds"] == 2
    assert 0 < res["a"]["evolution"]["hv_ratio"]["10"]["mean"] <= 1.0 + 1e-9
    assert res["a@median"]["random"]["regret"]["10"]["mean"] >= 0
    assert summary["meta"]["runs"] == summary["meta"]["runs_requested"] == 2 * 2 * 5
    _module("tabular_search").main(args)  # resumes: nothing to rerun, same summary
    assert json.loads(out.read_text())["results"] == res


def _entry(hv: dict[str, float], regret: dict[str, float] | None = None) -> dict[str, object]:
    e: dict[str, object] = {
        "hv_ratio": {k: {"mean": v, "std": 0.0, "seeds": 2} for k, v in hv.items()},
        "front_found": {k: {"mean": 1.0, "std": 0.0, "seeds": 2} for k in hv},
    }
    if regret:
        e["regret"] = {k: {"mean": v, "std": 0.0, "seeds": 2} for k, v in regret.items()}
    return e


def test_goals_flag_each_miss() -> None:
    ts = _module("tabular_search")
    results = {
        "a": {"random": _entry({"20": 0.90, "300": 0.96}), "x": _entry({"20": 0.89, "300": 0.999})},
        "b": {"random": _entry({"20": 0.90, "300": 0.97}), "x": _entry({"20": 0.90, "300": 0.99})},
        "a@median": {
            "random": _entry({"20": 0.9, "300": 0.9}, {"100": 2.0, "300": 1.0}),
            "x": _entry({"20": 0.9, "300": 0.95}, {"100": 2.5, "300": 0.4}),
        },
    }
    g = ts.goals(results)
    assert g["x"]["hv_below_goal"] == {"b": 0.99}  # constrained problems do not count for the HV goal
    assert g["x"]["regret_above_goal"] == {}  # regret at the last budget (300) only
    assert g["random"]["regret_above_goal"] == {"a@median": 1.0}
    assert g["x"]["below_baseline"] == ["a@20"]
    assert g["x"]["mean_hv_last_budget"] == round((0.999 + 0.99) / 2, 5) and g["x"]["problems"] == 2
    assert g["random"]["below_baseline"] == []
    assert g["x"]["regret_worse_than_baseline"] == ["a@median@100"]  # 2.5 > random's 2.0; 0.4 < 1.0
    assert g["random"]["regret_worse_than_baseline"] == []
    assert "| x |" in ts.markdown({"results": results, "goals": g})


def test_parse_variant_keeps_words_as_strings() -> None:
    ts = _module("tabular_search")
    assert ts.parse_variant("tpe") == ("tpe", "tpe", {})
    assert ts.parse_variant("x=nsga2:n_candidates=16,crossover_prob=0.5,flag=true") == (
        "x",
        "nsga2",
        {"n_candidates": 16, "crossover_prob": 0.5, "flag": True},
    )
    # a word that starts like a JSON literal (t, f, n) is a string, not a crash
    assert ts.parse_variant("y=evolution:acq=thompson,kind=nope")[2] == {"acq": "thompson", "kind": "nope"}
    # an item without "=" is a one-line error, as in the CLI's --strategy-option
    with pytest.raises(SystemExit, match=r"^error: --strategies 'x=tpe:n_initial': needs KEY=VALUE, got 'n_initial'$"):
        ts.parse_variant("x=tpe:n_initial")


def test_true_front_matches_brute_force() -> None:
    ts = _module("tabular_search")
    rng = np.random.default_rng(0)
    acc, cost = rng.integers(0, 20, 200).astype(float), rng.integers(0, 20, 200).astype(float)
    brute = [
        i
        for i in range(200)
        if not any(
            (acc[j] >= acc[i] and cost[j] <= cost[i]) and (acc[j] > acc[i] or cost[j] < cost[i]) for j in range(200)
        )
    ]
    assert ts.true_front(acc, cost).tolist() == brute


def test_goals_flag_misses_and_worse_than_random() -> None:
    ts = _module("tabular_search")
    cell = lambda m: {"mean": m, "std": 0.0, "seeds": 3}
    results = {
        "dev": {
            "random": {"hv_ratio": {"20": cell(0.9), "300": cell(0.99)}},
            "a": {"hv_ratio": {"20": cell(0.8), "300": cell(0.996)}},
        },
        "dev@median": {
            "random": {"hv_ratio": {"300": cell(0.9)}, "regret": {"100": cell(1.0), "300": cell(0.4)}},
            "a": {"hv_ratio": {"300": cell(0.9)}, "regret": {"100": cell(1.2), "300": cell(0.6)}},
        },
    }
    g = ts.goals(results)["a"]
    assert g["hv_below_goal"] == {}
    assert g["regret_above_goal"] == {"dev@median": 0.6}
    assert g["below_baseline"] == ["dev@20"]
    assert g["regret_worse_than_baseline"] == ["dev@median@100", "dev@median@300"]


def test_script_reaches_the_true_front_and_resumes(tmp_path: Path) -> None:
    """27 scored architectures = the whole 27-row table: HV ratio 1 and no regret; a rerun runs nothing."""
    ts = _module("tabular_search")
    ops = ("none", "skip_connect", "nor_conv_3x3")
    path = tmp_path / "t.csv"
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["edge_0", "edge_1", "edge_2", "cifar10_test_acc_200ep", "latency_ms_dev", "flops_M", "params_M"])
        for combo in itertools.product(ops, repeat=3):
            k = [ops.index(o) for o in combo]
            w.writerow([*combo, 50 + 10 * sum(k) - 3 * k[0] * k[1], 1 + sum(k) + 0.1 * k[2], 2 * sum(k), k[2] + 0.5])
    runs, out = tmp_path / "runs.jsonl", tmp_path / "s.json"
    args = ["--table", str(path), "--work", str(tmp_path), "--runs", str(runs), "--json", str(out), "--quiet"]
    ts.main([*args, "--strategies", "random", "tpe", "--seeds", "2", "--budgets", "5", "27", "--regret-at", "27"])
    summary = json.loads(out.read_text())
    assert summary["meta"]["runs"] == 2 * 2 * 3  # 2 strategies x 2 seeds x (dev, flops, dev@median)
    for per in summary["results"].values():
        for e in per.values():
            assert e["hv_ratio"]["27"]["mean"] == pytest.approx(1.0)
    assert summary["results"]["dev@median"]["tpe"]["regret"]["27"]["mean"] == 0.0
    n = len(runs.read_text().splitlines())
    ts.main([*args, "--strategies", "random", "tpe", "--seeds", "2", "--budgets", "5", "27", "--regret-at", "27"])
    assert len(runs.read_text().splitlines()) == n  # resumed: nothing ran twice
    # a bad strategy option is one line before any run; the finished runs are kept
    with pytest.raises(SystemExit, match=r"^error: --strategies x: anchors must be true or false, not 'no'$"):
        ts.main([*args, "--strategies", "random", "x=surrogate:anchors=no", "--seeds", "3", "--budgets", "5"])
    assert len(runs.read_text().splitlines()) == n
    # --costs params (not in the default list): its summary holds only the problems asked for
    ts.main(
        [*args, "--costs", "params", "--strategies", "random", "--seeds", "1", "--budgets", "27", "--regret-at", "27"]
    )
    assert sorted(json.loads(out.read_text())["results"]) == ["params", "params@median"]
    with pytest.raises(
        SystemExit, match=r"^error: --costs nope: not a cost of .*t\.csv \(it has dev, flops, params\)$"
    ):
        ts.main([*args, "--costs", "nope", "--strategies", "random", "--seeds", "1"])


def test_paired_differences_only_over_shared_cells() -> None:
    ts = _module("tabular_search")

    def rec(label: str, problem: str, seed: int, hv: float, regret: float | None = None) -> dict:
        return {
            "label": label,
            "problem": problem,
            "seed": seed,
            "score": {"hv_ratio": {"300": hv}, "regret": {} if regret is None else {"300": regret}},
        }

    records = [
        rec("a", "d", 0, 0.9),
        rec("b", "d", 0, 0.8),
        rec("a", "d", 1, 0.7),
        rec("b", "d", 1, 0.8),
        rec("a", "d", 2, 0.5),  # b has no seed 2: not a pair
        rec("a", "d@median", 0, 0.9, 1.0),
        rec("b", "d@median", 0, 0.9, 1.5),
    ]
    out = ts.paired(records, "a", "b")
    assert out["hv_ratio@300"]["mean"] == pytest.approx(0.0) and out["hv_ratio@300"]["cells"] == 2
    assert out["hv_ratio@300"]["better"] == 1
    assert out["regret@300"] == {
        "mean": -0.5,
        "ci95": pytest.approx(float("nan"), nan_ok=True),
        "cells": 1,
        "better": 1,
    }
    assert ts.paired(records, "a", "nosuch") == {}
    # one problem only: its cells alone
    one = ts.paired(records, "a", "b", problem="d@median")
    assert set(one) == {"regret@300"} and one["regret@300"]["cells"] == 1
    assert ts.paired(records, "a", "b", problem="d")["hv_ratio@300"]["cells"] == 2


def test_compare_without_shared_cells_is_a_clear_error(tmp_path: Path) -> None:
    runs = tmp_path / "runs.jsonl"
    runs.write_text("")
    with pytest.raises(SystemExit, match="no \\(problem, seed\\) cells where both a and b ran"):
        _module("tabular_search").main(
            ["--table", str(tmp_path / "none.csv"), "--runs", str(runs), "--compare", "a", "b"]
        )


def test_plot_from_a_summary(tmp_path: Path) -> None:
    """--plot reads only the --json summary: HV and regret panels as a PNG; a missing summary is one line."""
    hv = {k: {"mean": v, "std": 0.0, "seeds": 2} for k, v in (("20", 0.9), ("50", 0.95), ("300", 0.99))}
    reg = {k: {"mean": v, "std": 0.0, "seeds": 2} for k, v in (("100", 0.8), ("300", 0.3))}
    entry = {"hv_ratio": hv, "front_found": hv, "regret": {}}
    summary = {
        "meta": {"table": "tiny.csv", "accuracy": "acc"},
        "results": {"flops": {"random": entry}, "dev@median": {"random": {**entry, "regret": reg}}},
    }
    (tmp_path / "s.json").write_text(json.dumps(summary))
    png = tmp_path / "plot.png"
    _module("tabular_search").main(["--json", str(tmp_path / "s.json"), "--plot", str(png)])
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(SystemExit, match="cannot read the summary"):
        _module("tabular_search").main(["--json", str(tmp_path / "none.json"), "--plot", str(png)])
