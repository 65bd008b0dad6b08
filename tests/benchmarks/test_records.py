"""benchmarks/_records.py: the resumable JSON-lines record the benchmark scripts share."""

from __future__ import annotations

from pathlib import Path

from _helpers import load_benchmark


def test_append_then_read_round_trips(tmp_path: Path) -> None:
    mod = load_benchmark("_records")
    path = tmp_path / "sub" / "runs.jsonl"
    assert mod.read_runs(path) == []  # not written yet
    mod.append_run(path, {"label": "a", "score": {"20": 0.5}})
    mod.append_run(path, {"label": "b", "score": {}})
    path.write_text(path.read_text() + "\n")  # a stray blank line (an editor's) is no record
    assert mod.read_runs(path) == [{"label": "a", "score": {"20": 0.5}}, {"label": "b", "score": {}}]


def test_the_scripts_share_it() -> None:
    """One reader and writer: every script that keeps a runs file uses this module's."""
    records = load_benchmark("_records")
    scripts = ("tabular_search", "tabular_latency", "tabular_transfer", "latency_builtin_regression")
    for name in (*scripts, "explore_latency_averaging", "explore_latency_stacking", "explore_latency_oracle"):
        mod = load_benchmark(name)
        assert mod.read_runs.__module__ == records.read_runs.__module__ == "_records"
        assert mod.append_run.__module__ == "_records"
