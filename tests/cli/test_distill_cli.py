"""``autogtkd distill``: search -> distill -> export -> ONNX Runtime on a tiny trained run, and the
``--run`` / ``--pick`` forms and their errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from _helpers import tiny_space

from autogtkd.cli import main

QUICK = ["--epochs", "1", "--max-steps-per-epoch", "2", "--batch-size", "16", "--device", "cpu", "--threads", "1",
         "--quiet"]


@pytest.fixture(autouse=True)
def _one_thread(one_thread: None) -> None:
    """Every test here trains: one torch thread (tests/conftest.py)."""


@pytest.fixture(scope="module")
def searched(tiny_gtn_run: Path, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("search") / "search"
    argv = ["search", "--run", str(tiny_gtn_run), "--trials", "4", "--strategy", "random", "--out", str(out), "--quiet",
            "--val-batches", "1", "--calib-batches", "1", "--threads", "1", "--rescore-top", "0"]
    assert main(argv) == 0
    return out


def _without_run(search: Path, tmp_path: Path) -> Path:
    """A copy of the search output whose pareto.json records no trained run."""
    import shutil

    copy = tmp_path / "search-copy"
    shutil.copytree(search, copy)
    doc = json.loads((copy / "pareto.json").read_text())
    doc.pop("run", None)
    (copy / "pareto.json").write_text(json.dumps(doc))
    return copy


def test_search_distill_export_onnx_runtime(tiny_gtn_run: Path, searched: Path, tmp_path: Path, capsys) -> None:
    ort = pytest.importorskip("onnxruntime")
    from autogtkd.export import load_student_dir
    from autogtkd.search import load_result

    capsys.readouterr()
    student = tmp_path / "student"
    argv = ["distill", "--run", str(searched), "--train-run", str(tiny_gtn_run), "--pick", "knee", "--out", str(student),
            *QUICK]
    assert main(argv) == 0
    out = capsys.readouterr().out
    knee = load_result(searched).knee()
    line = next(l for l in out.splitlines() if l.startswith("validation top-1"))
    assert f"(search score {100 * knee.accuracy:.2f}%, scorer inherit)" in line
    record = json.loads((student / "distill.json").read_text())
    assert record["trial"] == knee.trial and record["search_score"] == pytest.approx(knee.accuracy)
    assert record["train_run"] == str(tiny_gtn_run.resolve()) and 0.0 <= record["val_top1"] <= 1.0
    assert f"validation top-1 {100 * record['val_top1']:.2f}%" in line
    arch_doc = json.loads((student / "arch.json").read_text())
    assert arch_doc["arch"] == knee.arch.to_dict()

    # rerunning the finished command resumes from the checkpoint: no extra training rows, same result
    rows = (student / "metrics.jsonl").read_text().splitlines()
    assert main(argv) == 0
    assert (student / "metrics.jsonl").read_text().splitlines() == rows
    assert json.loads((student / "distill.json").read_text())["val_top1"] == record["val_top1"]
    # another student into the same directory is refused, not mixed in
    space = tiny_space()
    other = space.smallest() if space.smallest() != knee.arch else space.largest()
    (tmp_path / "other.json").write_text(json.dumps(other.to_dict()))
    capsys.readouterr()
    assert main([*argv[:5], "--pick", str(tmp_path / "other.json"), *argv[7:]]) == 2
    assert "belongs to another distillation" in capsys.readouterr().err

    assert main(["export", str(student), "--format", "onnx", "--out", str(tmp_path / "onnx")]) == 0
    onnx_path = tmp_path / "onnx" / "model.onnx"
    assert onnx_path.is_file()
    model, arch, space, _ = load_student_dir(student)
    assert arch == knee.arch
    x = torch.randn(3, space.in_channels, space.input_size, space.input_size)
    sess = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    (got,) = sess.run(None, {sess.get_inputs()[0].name: x.numpy()})
    with torch.no_grad():
        want = model(x).numpy()
    assert got.shape == (3, 10)
    np.testing.assert_allclose(got, want, rtol=1e-3, atol=1e-4)


def test_pick_forms_and_search_scores(tiny_gtn_run: Path, searched: Path, tmp_path: Path) -> None:
    from autogtkd.cli._distill import resolve_pick
    from autogtkd.search import load_result

    result = load_result(searched)
    front = result.candidates
    assert resolve_pick("0", searched).arch == front[0].arch.to_dict()
    assert resolve_pick("-1", searched).arch == front[-1].arch.to_dict()
    knee = resolve_pick("knee", searched)
    assert (knee.arch, knee.search_score, knee.scorer) == (result.knee().arch.to_dict(), result.knee().accuracy, "inherit")
    largest = max(c.flops for c in front)
    best = resolve_pick(f"best-under:{largest / 1e6 + 1:.3f}MFLOPs", searched)
    assert best.search_score == max(c.accuracy for c in front)
    # a plain ARCH.json: the score is looked up among the search's trials
    trial = result.trials[-1]
    plain = tmp_path / "arch.json"
    plain.write_text(json.dumps(trial.arch.to_dict()))
    p = resolve_pick(str(plain), searched)
    assert (p.search_score, p.scorer, p.trial) == (trial.accuracy, trial.scorer, trial.trial)
    assert resolve_pick(str(plain), None).search_score is None
    # a candidate record as printed by `autogtkd pareto show --best-under`
    record = tmp_path / "cand.json"
    record.write_text(json.dumps(front[0].to_dict()))
    assert resolve_pick(str(record), None).search_score == front[0].accuracy


@pytest.mark.parametrize(
    ("pick", "message"),
    [
        ("99", "outside the front"),
        ("best-under:0.001MFLOPs", "no candidate of the front"),
        ("nonsense", "expected an index into the front"),
    ],
)
def test_bad_picks_fail_with_one_line(searched: Path, tiny_gtn_run: Path, tmp_path: Path, capsys, pick: str, message: str) -> None:
    capsys.readouterr()
    code = main(["distill", "--run", str(searched), "--train-run", str(tiny_gtn_run), "--pick", pick,
                 "--out", str(tmp_path / "s"), *QUICK])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and message in err[0]
    assert not (tmp_path / "s").exists()


def test_arch_outside_the_space_and_run_without_front(tiny_gtn_run: Path, tmp_path: Path, capsys) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"width": 3.0}))
    capsys.readouterr()
    assert main(["distill", "--run", str(tiny_gtn_run), "--pick", str(bad), "--out", str(tmp_path / "s"), *QUICK]) == 2
    assert "is not a student of run" in capsys.readouterr().err
    assert main(["distill", "--run", str(tiny_gtn_run), "--pick", "knee", "--out", str(tmp_path / "s"), *QUICK]) == 2
    assert "needs a search output directory" in capsys.readouterr().err
    assert main(["distill", "--run", str(tmp_path), "--pick", "knee", "--out", str(tmp_path / "s"), *QUICK]) == 2
    assert "neither a search output" in capsys.readouterr().err


def test_training_run_with_arch_json_distills_from_scratch(tiny_gtn_run: Path, tmp_path: Path, capsys) -> None:
    space = tiny_space()
    arch = tmp_path / "arch.json"
    arch.write_text(json.dumps(space.smallest().to_dict()))
    capsys.readouterr()
    assert main(["distill", "--run", str(tiny_gtn_run), "--pick", str(arch), "--init", "scratch",
                 "--out", str(tmp_path / "s"), *QUICK]) == 0
    assert "(search score n/a, scorer n/a)" in capsys.readouterr().out
    assert json.loads((tmp_path / "s" / "distill.json").read_text())["init"] == "scratch"


def test_search_without_recorded_run_needs_train_run(searched: Path, tmp_path: Path, capsys) -> None:
    copy = _without_run(searched, tmp_path)
    capsys.readouterr()
    assert main(["distill", "--run", str(copy), "--pick", "knee", "--out", str(tmp_path / "s"), *QUICK]) == 2
    err = capsys.readouterr().err
    assert "does not record the trained run" in err and "--train-run" in err
