"""benchmarks/latency_builtin_regression.py on synthetic measurement files (no timing)."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pytest
from _helpers import load_benchmark

from autogtkd.hw.latency import make_header, sample_archs, space_hash, write_measurements
from autogtkd.space import create_space


def _measurements(folder: Path, runtime: str, scale: float = 1.0) -> None:
    """resnet-cifar measurements whose latency is FLOPs-proportional (times ``scale``) plus 3 % noise."""
    space = create_space("resnet-cifar")
    archs = sample_archs(space, 90, np.random.default_rng(0))
    noise = np.random.default_rng(1).normal(1.0, 0.03, len(archs))
    ms = [scale * space.flops(a) / 1e7 * z + 0.1 for a, z in zip(archs, noise)]
    header = make_header(space=space.name, space_hash=space_hash(space), space_def=space.to_dict(), target="toy")
    write_measurements(folder / f"resnet-cifar_{runtime}.jsonl", header, [a.to_dict() for a in archs], ms)


def test_fit_resumes_and_compare_pairs(tmp_path: Path) -> None:
    mod = load_benchmark("latency_builtin_regression")
    _measurements(tmp_path, "eager")
    plain = tmp_path / "resnet-cifar_eager.jsonl"
    plain.with_name(plain.name + ".gz").write_bytes(gzip.compress(plain.read_bytes()))
    plain.unlink()  # the committed copies are gzipped
    runs = tmp_path / "runs.jsonl"
    common = [
        "--workdir",
        str(tmp_path),
        "--spaces",
        "resnet-cifar",
        "--runtimes",
        "eager",
        "--sizes",
        "20",
        "--subsets",
        "3",
        "--test",
        "15",
        "--runs",
        str(runs),
        "--quiet",
    ]
    for arm in ("a", "b"):
        mod.main(["fit", "--arm", arm, *common])
    rows = mod.read_runs(runs)
    assert len(rows) == 6
    assert {r["subset"] for r in rows} == {0, 1, 2}
    assert all(set(r) >= {"rest", "held60", "model", "fit_cpu_s"} for r in rows)
    assert rows[0]["rest"]["kendall_tau"] > 0.5  # the predictor learned the toy target
    mod.main(["fit", "--arm", "a", *common])  # resumes: nothing left to fit
    assert len(mod.read_runs(runs)) == 6
    out = tmp_path / "summary.json"
    mod.main(["compare", "a", "b", "--runs", str(runs), "--json", str(out)])
    cells = json.loads(out.read_text())["cells"]
    cell = cells["resnet-cifar/eager|20|rest|kendall_tau"]
    assert cell["pairs"] == 3 and cell["diff"] == 0.0 and not cell["regression"]  # same code, same subsets


def test_compare_flags_an_interval_below_zero() -> None:
    mod = load_benchmark("latency_builtin_regression")

    def row(arm: str, t: int, tau: float) -> dict:
        m = {"within_10pct": 0.9, "kendall_tau": tau}
        return {"arm": arm, "space": "s", "runtime": "r", "n": 50, "subset": t, "rest": m, "held60": m}

    runs = [row("new", t, 0.80 + 0.001 * t) for t in range(5)] + [row("old", t, 0.85 + 0.002 * t) for t in range(5)]
    cells = mod.compare(runs, "new", "old")
    assert cells["s/r|50|rest|kendall_tau"]["regression"]
    assert cells["s/r|50|rest|kendall_tau"]["diff"] == pytest.approx(-0.052)
    assert not cells["s/r|50|rest|within_10pct"]["regression"]  # equal: the interval is (0, 0)


def test_missing_or_malformed_measurements_is_one_line(tmp_path: Path) -> None:
    mod = load_benchmark("latency_builtin_regression")
    args = ["fit", "--arm", "a", "--workdir", str(tmp_path), "--runs", str(tmp_path / "r.jsonl")]
    with pytest.raises(SystemExit, match="no measurements"):
        mod.main(args)
    (tmp_path / "mbv3-cifar_onnxruntime.jsonl").write_text("not json\n")
    with pytest.raises(SystemExit, match="^error: .*not valid JSON"):
        mod.main(args)


def test_fit_transfer_takes_the_other_runtime_as_source(tmp_path: Path) -> None:
    mod = load_benchmark("latency_builtin_regression")
    _measurements(tmp_path, "eager")
    _measurements(tmp_path, "onnxruntime", scale=0.5)
    runs = tmp_path / "runs.jsonl"
    args = ["fit", "--arm", "t", "--transfer", "--workdir", str(tmp_path), "--spaces", "resnet-cifar"]
    mod.main([*args, "--sizes", "8", "--subsets", "2", "--test", "15", "--runs", str(runs), "--quiet"])
    rows = mod.read_runs(runs)
    assert len(rows) == 4  # two targets x two subsets
    assert "transfer" in {r["model"] for r in rows}  # the source's model is among the candidates
