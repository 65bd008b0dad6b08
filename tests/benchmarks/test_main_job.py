"""benchmarks/main_job.py: the progress-bar clock, the front's quality, and the per-candidate cost beside
its forward-pass floor on a tiny trained run (the full main job is the slow acceptance test in
tests/cli/test_search_cli.py)."""

from __future__ import annotations

import io
import time
from pathlib import Path

import pytest
from _helpers import load_benchmark, train_tiny_run

from autogtkd.cli import main

ROOT = Path(__file__).resolve().parents[2] / "benchmarks"


@pytest.fixture(scope="module")
def job():
    return load_benchmark("main_job")


def test_bar_clock_records_each_progress_bar(job) -> None:
    text = (
        "loading\ngtn 1/2:   0%|          | 0/89 [00:00<?, ?it/s]\rgtn 1/2:  50%|#####     | 44/89 [00:03<00:03]"
        "\rgtn 1/2 validation: 3batch [00:01, 2.0batch/s]\nsearch:  10%|#         | 2/20 [00:20<03:00]\r"
    )
    clock = job._BarClock(io.BytesIO(text.encode()), time.perf_counter(), echo=False)
    clock.join()
    assert set(clock.seen) == {"gtn 1/2", "gtn 1/2 validation", "search"}
    assert all(0 <= a <= b for a, b in clock.seen.values()) and "".join(clock.text) == text


@pytest.fixture(scope="module")
def searched(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import torch

    torch.set_num_threads(1)
    tmp = tmp_path_factory.mktemp("main-job")
    run = train_tiny_run(tmp / "run")
    out = tmp / "out"
    argv = ["search", "--run", str(run), "--trials", "3", "--strategy", "random", "--out", str(out), "--quiet",
            "--threads", "1"]  # fmt: skip
    assert main(argv) == 0
    return out


def test_front_quality_reads_the_scored_students(job, searched: Path) -> None:
    from autogtkd.search import load_result

    q = job.front_quality(searched)
    res = load_result(searched)
    assert q["students"]["n"] == len(res.trials) == 3 and q["front"]["n"] == len(res.candidates)
    s = q["students"]
    assert s["min"] <= s["mean"] <= s["max"] and s["top1"] == [round(100 * c.accuracy, 2) for c in res.trials]


def test_candidate_cost_times_the_scorer_beside_its_floor(job, searched: Path) -> None:
    from autogtkd.search import load_result
    from autogtkd.train import load_run

    c = job.candidate_cost(searched, 1, 2, ab=1)
    run = load_run(load_result(searched).info["run"])
    # the floor runs exactly the images the score reads: 2 calibration batches of 128 + the validation split
    assert c["images_per_candidate"] == min(256, len(run.data.calib)) + len(run.data.val)
    assert c["candidates"] == len(c["per_candidate"]) == 2 and c["threads"] == 1
    assert all(r["seconds"] > 0 and r["floor"] > 0 for r in c["per_candidate"]) and c["ratio"] > 0
    ab = c["layout_ab"]
    assert c["channels_last"] and ab["candidates"] == 1 and ab["nhwc_seconds"] > 0 and ab["nchw_seconds"] > 0
