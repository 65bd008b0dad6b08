"""benchmarks/gtn_vs_vanilla.py end to end at toy size: every arm, the report, and a rerun that resumes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "gtn_vs_vanilla.py"


@pytest.mark.slow  # two benchmark runs, each spawning training processes (CI runs it: .ci/run)
def test_benchmark_runs_every_arm_and_resumes(tmp_path: Path, write_cifar10) -> None:
    write_cifar10(tmp_path / "data" / "cifar-10-batches-py", per_batch=20)
    out = tmp_path / "out"
    cmd = [
        sys.executable, str(SCRIPT), "--preset", "quick", "--data-dir", str(tmp_path / "data"), "--out", str(out),
        "--teacher", "resnet8", "--subset", "0", "--val-fraction", "0.5", "--epochs", "1", "--kd-epochs", "1",
        "--students", "2", "--max-steps-per-epoch", "1", "--throughput-steps", "1", "--batch-size", "16",
        "--inherit", "--variant", "lc05:cond_weight=0.5",
    ]  # fmt: skip
    first = subprocess.run(cmd, capture_output=True, text=True, timeout=600, check=False)
    assert first.returncode == 0, first.stderr[-3000:]
    res = json.loads((out / "results.json").read_text())
    assert res["arms"] == ["vanilla", "gtn", "lc05", "gtn+inherit", "lc05+inherit"]
    assert set(res["gain_over_vanilla"]) == {"gtn", "lc05", "gtn+inherit", "lc05+inherit"}
    assert res["settings"]["variants"]["lc05"]["cond_weight"] == 0.5
    assert len(res["rows"]) == 2 and all(0 <= r[f"{a}_top1"] <= 1 for r in res["rows"] for a in res["arms"])
    assert all(ratio > 0 for ratio in res["teacher_time_ratio_over_vanilla"].values())
    assert "| **mean** |" in (out / "report.md").read_text()
    # the same command again: every teacher and student is complete, so the rows are read back unchanged
    again = subprocess.run(cmd, capture_output=True, text=True, timeout=600, check=False)
    assert again.returncode == 0, again.stderr[-3000:]
    rows = json.loads((out / "results.json").read_text())["rows"]
    top1 = [{k: v for k, v in r.items() if k.endswith("_top1")} for r in rows]
    assert top1 == [{k: v for k, v in r.items() if k.endswith("_top1")} for r in res["rows"]]


def test_bad_variant_is_one_line(tmp_path: Path) -> None:
    cmd = [sys.executable, str(SCRIPT), "--out", str(tmp_path), "--variant", "x:no_such_field=1"]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
    assert r.returncode != 0 and r.stderr.strip().splitlines() == [
        "error: --variant 'x:no_such_field=1': 'no_such_field=1' is not FIELD=VALUE of GTNConfig"
    ]
