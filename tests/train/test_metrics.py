"""MetricsLog: JSON Lines + CSV, read back, resume without duplicate steps, crash-cut last line."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from autogtkd.exceptions import RunError
from autogtkd.train.metrics import MetricsLog


def test_append_read_and_csv(tmp_path: Path) -> None:
    with MetricsLog(tmp_path) as log:
        log.append(step=1, loss=torch.tensor(0.5), phase="train")
        # flushed per record: readable before close
        assert MetricsLog.read(tmp_path) == [{"step": 1, "loss": 0.5, "phase": "train"}]
        log.append({"step": 2, "top1": np.float64(0.25)}, phase="val")
        log.append(step=3, loss=float("nan"))
    recs = MetricsLog.read(tmp_path)
    assert [r["step"] for r in recs] == [1, 2, 3] and recs[1]["top1"] == 0.25 and np.isnan(recs[2]["loss"])
    rows = list(csv.DictReader((tmp_path / "metrics.csv").open()))
    assert list(rows[0]) == ["step", "loss", "phase", "top1"]
    assert rows[1] == {"step": "2", "loss": "", "phase": "val", "top1": "0.25"} and rows[2]["loss"] == "nan"
    with pytest.raises(TypeError, match="integer 'step'"):
        MetricsLog(tmp_path).append(loss=1.0)


def test_resume_truncates_records_after_checkpoint_step(tmp_path: Path) -> None:
    log = MetricsLog(tmp_path)
    for s in range(1, 6):
        log.append(step=s, loss=1.0 / s)
    log.close()
    # crash after step 5; the last checkpoint was at step 3: steps 4, 5 will be redone
    log = MetricsLog(tmp_path, resume_step=3)
    assert log.last_step == 3
    for s in (4, 5, 6):
        log.append(step=s, loss=0.0)
    log.close()
    steps = [r["step"] for r in MetricsLog.read(tmp_path)]
    assert steps == [1, 2, 3, 4, 5, 6]
    rows = list(csv.DictReader((tmp_path / "metrics.csv").open()))
    assert [int(r["step"]) for r in rows] == steps and rows[3]["loss"] == "0.0"
    # appending without resume keeps the history
    MetricsLog(tmp_path).append(step=7)
    assert len(MetricsLog.read(tmp_path)) == 7


def test_partial_last_line_is_ignored_and_removed(tmp_path: Path) -> None:
    path = tmp_path / "metrics.jsonl"
    path.write_text(json.dumps({"step": 1, "loss": 1.0}) + "\n" + '{"step": 2, "lo')
    assert [r["step"] for r in MetricsLog.read(tmp_path)] == [1]
    log = MetricsLog(tmp_path)
    log.append(step=2, loss=0.5)
    log.close()
    assert MetricsLog.read(tmp_path) == [{"step": 1, "loss": 1.0}, {"step": 2, "loss": 0.5}]
    path.write_text('{"step": 1}\nnot json\n')
    with pytest.raises(RunError, match="metrics.jsonl:2 is not a JSON record"):
        MetricsLog.read(tmp_path)
