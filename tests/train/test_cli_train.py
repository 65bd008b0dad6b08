"""``autogtkd train`` end to end on tiny data, and its one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from _helpers import tiny_space

from autogtkd.cli import main
from autogtkd.train import load_run


def _args(tmp: Path, *extra: str) -> list[str]:
    space_file = tmp / "tiny.yaml"
    space_file.write_text(yaml.safe_dump(tiny_space().to_dict()))
    return [
        "train",
        "--space",
        str(space_file),
        "--dataset",
        "digits",
        "--image-size",
        "8",
        "--subset",
        "240",
        "--teacher",
        "resnet8",
        "--epochs",
        "1",
        "--batch-size",
        "16",
        "--max-steps-per-epoch",
        "2",
        "--device",
        "cpu",
        "--no-progress",
        *extra,
    ]


def test_cli_train_writes_a_loadable_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "run"
    assert main(_args(tmp_path, "--method", "gtn", "--paths", "1", "--arch-loss", "gumbel", "--out", str(out))) == 0
    assert "run " in capsys.readouterr().out
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["train"]["gtn"]["arch_loss"] == "gumbel" and cfg["train"]["gtn"]["paths"] == 1
    run = load_run(out, load_data=False)
    assert run.method == "gtn" and run.supernet is not None
    # same command again: already complete, returns at once
    assert main(_args(tmp_path, "--method", "gtn", "--paths", "1", "--arch-loss", "gumbel", "--out", str(out))) == 0


def test_cli_train_errors_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("epochs: 2\nlearning_rate: 0.1\n")
    assert main(_args(tmp_path, "--config", str(bad), "--out", str(tmp_path / "r"))) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "unknown keys ['learning_rate']" in err
    assert main(_args(tmp_path, "--method", "sftn", "--out", str(tmp_path / "r2"))) == 2
    assert "sftn_arch" in capsys.readouterr().err
    assert main(_args(tmp_path, "--teacher", "resnet9000", "--out", str(tmp_path / "r3"))) == 2
    assert "unknown teacher" in capsys.readouterr().err
