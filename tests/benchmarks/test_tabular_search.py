"""benchmarks/tabular_search.py: variant parsing, the enumerated true front, hypervolume, the goals
block, and the script end to end on a small synthetic table (the real tables are benchmark data, not
fixtures)."""

from __future__ import annotations

import csv
import itertools
import json

import numpy as np
import pytest
from _helpers import load_benchmark


@pytest.fixture(scope="module")
def ts():
    return load_benchmark("tabular_search")


def test_parse_variant_keeps_words_as_strings(ts) -> None:
    assert ts.parse_variant("tpe") == ("tpe", "tpe", {})
    assert ts.parse_variant("x=nsga2:n_candidates=16,crossover_prob=0.5,flag=true") == (
        "x",
        "nsga2",
        {"n_candidates": 16, "crossover_prob": 0.5, "flag": True},
    )
    # a word that starts like a JSON literal (t, f, n) is a string, not a crash
    assert ts.parse_variant("y=evolution:acq=thompson,kind=nope")[2] == {"acq": "thompson", "kind": "nope"}


def test_true_front_matches_brute_force(ts) -> None:
    rng = np.random.default_rng(0)
    acc, cost = rng.integers(0, 20, 200).astype(float), rng.integers(0, 20, 200).astype(float)
    brute = [
        i
        for i in range(200)
        if not any((acc[j] >= acc[i] and cost[j] <= cost[i]) and (acc[j] > acc[i] or cost[j] < cost[i]) for j in range(200))
    ]
    assert ts.true_front(acc, cost).tolist() == brute


def test_hypervolume_of_a_staircase(ts) -> None:
    # points (acc, cost): (0.5, 0.2), (1.0, 0.6); reference cost 1.0 -> 0.5*0.8 + 0.5*0.4
    assert ts.hypervolume(np.array([1.0, 0.5]), np.array([0.6, 0.2]), 1.0) == pytest.approx(0.6)
    assert ts.hypervolume(np.array([0.5]), np.array([1.2]), 1.0) == 0.0  # beyond the reference


def test_goals_flag_misses_and_worse_than_random(ts) -> None:
    cell = lambda m: {"mean": m, "std": 0.0, "seeds": 3}  # noqa: E731
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


def test_script_end_to_end_on_a_small_table(ts, tmp_path) -> None:
    ops = ("none", "skip_connect", "nor_conv_3x3")
    path = tmp_path / "t.csv"
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["edge_0", "edge_1", "edge_2", "cifar10_test_acc_200ep", "latency_ms_dev", "flops_M"])
        for combo in itertools.product(ops, repeat=3):
            k = [ops.index(o) for o in combo]
            w.writerow([*combo, 50 + 10 * sum(k) - 3 * k[0] * k[1], 1 + sum(k) + 0.1 * k[2], 2 * sum(k)])
    runs, out = tmp_path / "runs.jsonl", tmp_path / "s.json"
    args = ["--table", str(path), "--work", str(tmp_path), "--runs", str(runs), "--json", str(out), "--quiet"]
    ts.main([*args, "--strategies", "random", "tpe", "--seeds", "2", "--budgets", "5", "27", "--regret-at", "27"])
    summary = json.loads(out.read_text())
    assert summary["meta"]["runs"] == 2 * 2 * 3  # 2 strategies x 2 seeds x (dev, flops, dev@median)
    # 27 scored = the whole table: every strategy finds the true front and has no regret
    for per in summary["results"].values():
        for e in per.values():
            assert e["hv_ratio"]["27"]["mean"] == pytest.approx(1.0)
    assert summary["results"]["dev@median"]["tpe"]["regret"]["27"]["mean"] == 0.0
    n = len(runs.read_text().splitlines())
    ts.main([*args, "--strategies", "random", "tpe", "--seeds", "2", "--budgets", "5", "27", "--regret-at", "27"])
    assert len(runs.read_text().splitlines()) == n  # resumed: nothing ran twice
