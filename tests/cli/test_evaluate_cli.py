"""``autogtkd evaluate``: the val split reproduces the training-time validation top-1 of run, teacher
and student directories; the official test split of a fake CIFAR-10 folder; one-line errors (exit 2)
for a missing test split, digits' test split, bad directories; and ``autogtkd export`` of a run."""

from __future__ import annotations

import json
import pickle
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from _helpers import tiny_space, train_tiny_run

from autogtkd.cli import main
from autogtkd.train import MetricsLog

QUICK = ["--quiet", "--threads", "1"]


@pytest.fixture(autouse=True)
def _one_thread(one_thread: None) -> None:
    """Every test here runs models: one torch thread (tests/conftest.py)."""


@pytest.fixture(scope="module")
def vanilla(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A vanilla run trained enough (20 steps) that its predictions depend on the images."""
    return train_tiny_run(tmp_path_factory.mktemp("runs") / "vanilla", "vanilla", steps=10, epochs=2)


@pytest.fixture(scope="module")
def student(vanilla: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A student distilled from ``vanilla`` by ``autogtkd distill`` (distill.json names the run)."""
    root = tmp_path_factory.mktemp("student")
    (root / "arch.json").write_text(json.dumps(tiny_space().smallest().to_dict()))
    out = root / "s"
    argv = ["distill", "--run", str(vanilla), "--pick", str(root / "arch.json"), "--out", str(out), "--init", "scratch"]
    argv += ["--epochs", "1", "--max-steps-per-epoch", "4", "--batch-size", "16", "--device", "cpu", *QUICK]
    assert main(argv) == 0
    return out


def _json(argv: list[str], capsys: pytest.CaptureFixture[str]) -> dict:
    capsys.readouterr()
    assert main(["evaluate", *argv, "--json", *QUICK]) == 0
    return json.loads(capsys.readouterr().out)


def _one_line_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    capsys.readouterr()
    code = main(argv)
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1, err
    return err[0]


def _last_teacher_val(run: Path) -> float:
    return [r for r in MetricsLog.read(run) if "val_top1_teacher" in r][-1]["val_top1_teacher"]


def test_val_split_of_a_vanilla_run_matches_its_training_log(vanilla: Path, capsys) -> None:
    res = _json([str(vanilla)], capsys)
    recorded = _last_teacher_val(vanilla)
    assert res["top1"] == recorded and res["recorded_top1"] == recorded
    assert res["kind"] == "teacher" and res["model"] == "teacher resnet8" and res["dataset"] == "digits"
    assert res["split"] == "val" and res["dir"] == str(vanilla)
    assert res["split_info"] == {"data_dir": None, "image_size": 8, "val_fraction": 0.2, "seed": 0, "subset": 240}
    assert res["n_images"] == 48 == sum(res["class_images"].values())  # 20 % of 240
    assert list(res["per_class"]) == [str(i) for i in range(10)]
    correct = sum(res["per_class"][c] * res["class_images"][c] for c in res["per_class"])
    assert correct == pytest.approx(res["top1"] * res["n_images"])
    assert 0.2 < recorded < 1.0  # well above chance: the check below would notice another split
    # another seed makes another split: evaluated, but not compared with the training log
    other = _json([str(vanilla), "--seed", "1"], capsys)
    assert other["recorded_top1"] is None and other["split_info"]["seed"] == 1 and other["top1"] != recorded


def test_table_output(vanilla: Path, capsys) -> None:
    capsys.readouterr()
    assert main(["evaluate", str(vanilla), *QUICK]) == 0
    out = capsys.readouterr().out.splitlines()
    recorded = 100 * _last_teacher_val(vanilla)
    assert f"{vanilla} (teacher resnet8) on the" in out[0] and "val split of digits" in out[0] and "48 images" in out[0]
    assert out[1] == f"top-1 {recorded:.2f} %  (training-time validation: {recorded:.2f} %)"
    assert out[2].split() == ["class", "images", "top-1", "%"] and len(out) == 3 + 10


def test_gtn_run_evaluates_its_teacher_and_inplace_has_none(tiny_gtn_run: Path, tmp_path: Path, capsys) -> None:
    res = _json([str(tiny_gtn_run)], capsys)
    assert res["kind"] == "run" and res["model"] == "teacher resnet8"
    assert res["top1"] == res["recorded_top1"] == _last_teacher_val(tiny_gtn_run)
    inplace = train_tiny_run(tmp_path / "inplace", "inplace")
    assert "has no teacher" in _one_line_exit_2(["evaluate", str(inplace)], capsys)


def test_student_dir_uses_the_dataset_of_its_training_run(student: Path, capsys) -> None:
    recorded = json.loads((student / "metrics.json").read_text())["val_top1"]
    res = _json([str(student)], capsys)
    assert res["kind"] == "student" and res["model"] == "student" and res["dataset"] == "digits"
    assert res["top1"] == recorded == res["recorded_top1"] and res["n_images"] == 48


def test_student_dir_without_a_recorded_dataset_needs_dataset(student: Path, tmp_path: Path, capsys) -> None:
    bare = tmp_path / "bare"  # as written by autogtkd.train.distill(out_dir=...): no distill.json
    shutil.copytree(student, bare)
    (bare / "distill.json").unlink()
    msg = _one_line_exit_2(["evaluate", str(bare), *QUICK], capsys)
    assert "records no dataset" in msg and "--dataset" in msg
    # the image size defaults to the model's input size (8 px); the split arguments are given
    res = _json([str(bare), "--dataset", "digits", "--subset", "240"], capsys)
    assert res["top1"] == json.loads((bare / "metrics.json").read_text())["val_top1"]
    assert res["recorded_top1"] is None and res["split_info"]["image_size"] == 8


def test_test_split_of_a_fake_cifar10_folder(vanilla: Path, write_cifar10, tmp_path: Path, capsys) -> None:
    from autogtkd.data import load_test_split
    from autogtkd.export import load_model_dir

    write_cifar10(tmp_path / "cifar-10-batches-py", per_batch=10, test=30)
    argv = [str(vanilla), "--split", "test", "--dataset", "cifar10", "--data-dir", str(tmp_path)]
    res = _json(argv, capsys)
    assert res["split"] == "test" and res["dataset"] == "cifar10" and res["n_images"] == 30
    assert res["split_info"] == {"image_size": 8, "data_dir": str(tmp_path)}  # the teacher's 8 px
    labels = pickle.loads((tmp_path / "cifar-10-batches-py" / "test_batch").read_bytes())[b"labels"]
    assert res["class_images"] == {n: labels.count(i) for i, n in enumerate(res["per_class"])}
    assert list(res["per_class"])[:2] == ["airplane", "automobile"]
    # the same predictions, counted by hand
    test = load_test_split("cifar10", tmp_path, image_size=8)
    x, y = test.data.batch(torch.arange(30))
    with torch.no_grad():
        pred = load_model_dir(vanilla).model(x).argmax(1)
    assert res["top1"] == pytest.approx(float((pred == y).float().mean()))
    for i, name in enumerate(res["per_class"]):
        assert res["per_class"][name] == pytest.approx(float((pred[y == i] == i).float().mean()))
    # the table says which split it read
    capsys.readouterr()
    assert main(["evaluate", *argv, *QUICK]) == 0
    assert "official test split of cifar10 (8px): 30 images" in capsys.readouterr().out


def test_missing_test_split_and_digits_test_split(vanilla: Path, write_cifar10, tmp_path: Path, capsys) -> None:
    write_cifar10(tmp_path / "cifar-10-batches-py", per_batch=10)  # training batches only
    msg = _one_line_exit_2(
        ["evaluate", str(vanilla), "--split", "test", "--dataset", "cifar10", "--data-dir", str(tmp_path)], capsys
    )
    assert str(tmp_path / "cifar-10-batches-py" / "test_batch") in msg and "missing" in msg
    msg = _one_line_exit_2(["evaluate", str(vanilla), "--split", "test"], capsys)  # the run's dataset: digits
    assert "'digits' has no official test split" in msg


def test_bad_directories_are_one_line_exit_2(vanilla: Path, student: Path, tmp_path: Path, capsys) -> None:
    assert "does not exist" in _one_line_exit_2(["evaluate", str(tmp_path / "nope")], capsys)
    (tmp_path / "empty").mkdir()
    assert "neither a student directory" in _one_line_exit_2(["evaluate", str(tmp_path / "empty")], capsys)
    broken = tmp_path / "broken-student"
    shutil.copytree(student, broken)
    (broken / "student.pt").write_bytes(b"not a checkpoint")
    assert "not a readable autogtkd checkpoint" in _one_line_exit_2(["evaluate", str(broken)], capsys)
    (broken / "arch.json").write_text("{")
    assert "not valid JSON" in _one_line_exit_2(["evaluate", str(broken)], capsys)
    run = tmp_path / "broken-run"
    shutil.copytree(vanilla, run)
    (run / "config.json").write_text("[]")
    assert "not an autogtkd run directory" in _one_line_exit_2(["evaluate", str(run)], capsys)
    shutil.copy(vanilla / "config.json", run / "config.json")
    (run / "metrics.jsonl").write_text("{oops\n")
    assert "metrics.jsonl:1" in _one_line_exit_2(["evaluate", str(run)], capsys)
    assert "batch size must be >= 1" in _one_line_exit_2(["evaluate", str(vanilla), "--batch-size", "0"], capsys)


def test_dataset_with_other_classes_is_refused(vanilla: Path, tmp_path: Path, capsys) -> None:
    image = pytest.importorskip("PIL.Image")
    for split in ("train", "test"):
        for cls in ("a", "b", "c"):
            (tmp_path / split / cls).mkdir(parents=True)
            image.fromarray(np.zeros((8, 8, 3), dtype=np.uint8)).save(tmp_path / split / cls / "0.png")
    msg = _one_line_exit_2(
        ["evaluate", str(vanilla), "--split", "test", "--dataset", "imagefolder", "--data-dir", str(tmp_path)], capsys
    )
    assert "has 10 classes, imagefolder has 3" in msg


def test_export_a_run_directory_exports_its_teacher(vanilla: Path, student: Path, tmp_path: Path, capsys) -> None:
    from autogtkd.teachers import create_teacher
    from autogtkd.train import load_run

    out = tmp_path / "teacher"
    capsys.readouterr()
    assert main(["export", str(vanilla), "--format", "state-dict", "--out", str(out)]) == 0
    assert "teacher resnet8, state-dict" in capsys.readouterr().out
    info = json.loads((out / "arch.json").read_text())
    assert info["teacher"] == {"name": "resnet8", "num_classes": 10, "in_channels": 3} and info["arch"] is None
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics == {"teacher": "resnet8", "method": "vanilla", "val_top1": _last_teacher_val(vanilla)}
    rebuilt = create_teacher("resnet8", num_classes=10, in_channels=3).eval()
    rebuilt.load_state_dict(torch.load(out / "model.pt", weights_only=True))
    x = torch.randn(2, 3, 8, 8)
    with torch.no_grad():
        assert torch.equal(rebuilt(x), load_run(vanilla, load_data=False).teacher(x))
    # student directories export as before
    assert main(["export", str(student), "--format", "state-dict", "--out", str(tmp_path / "s")]) == 0
    assert json.loads((tmp_path / "s" / "metrics.json").read_text()) == json.loads(
        (student / "metrics.json").read_text()
    )
    assert "--space applies to student directories" in _one_line_exit_2(
        ["export", str(vanilla), "--space", "mbv3-cifar"], capsys
    )
