"""Smoke test of benchmarks/tabular_search.py on a tiny synthetic table (no /work/shared/data)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from _helpers import load_benchmark

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "hw"))

from test_latency_tabular_bench import write_table


def _module(name: str):  # type: ignore[no-untyped-def]
    return load_benchmark(name)


def test_true_front_and_hypervolume() -> None:
    import numpy as np

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
