"""Issue 7, bad input: each case gives one clear line on stderr, exit code 2 for invalid input and 1
for a valid run that fails, no traceback unless ``--debug``, and no completed work lost.

Cases already covered elsewhere are referenced here, not repeated (the API-level tests):

* malformed / zero / negative budget strings: tests/test_budget.py::test_malformed_budgets_name_the_accepted_forms
* budget below the smallest architecture: tests/search/test_search.py::test_infeasible_budget_fails_fast_with_clear_message,
  tests/cli/test_search_cli.py::test_infeasible_budget_fails_fast_before_training (FLOPs, CLI)
* unknown space: tests/space/test_load.py::test_unknown_name_lists_valid_names,
  tests/cli/test_spaces_cli.py::test_bad_input_is_one_line_and_exit_2; unknown teacher:
  tests/train/test_cli_train.py::test_cli_train_errors_are_one_line; unknown target:
  tests/hw/test_latency_predictor.py::test_target_registry, tests/hw/test_latency_cli.py::test_unknown_predictor_is_one_line_error
* YAML with unknown keys / wrong types: tests/space/test_load.py::test_yaml_unknown_keys_and_wrong_types,
  tests/train/test_cli_train.py::test_cli_train_errors_are_one_line (unknown TrainConfig key)
* custom space file that raises: tests/space/test_load.py::test_python_file_errors
* missing / truncated / corrupt / foreign-space / crafted checkpoints (API):
  tests/train/test_checkpoint.py::test_bad_files_give_one_line_errors, ::test_crafted_pickle_payload_is_refused_and_not_run
* latency predictor for another space, tampered or foreign predictor files:
  tests/hw/test_latency_predictor.py::test_foreign_files_are_refused, ::test_tampered_predictor_is_refused
* dataset folders (API): tests/data/test_data.py::test_missing_empty_and_wrong_format_folders, ::test_imagefolder
* NaN loss keeps the last good checkpoint (API): tests/train/test_run.py::test_divergence_raises_and_keeps_last_good_checkpoint

This module adds the command-line side of each (exit code, one line, nothing lost) and what was missing.
"""

from __future__ import annotations

import json
import logging
import os
import pickle
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from _helpers import tiny_space

from autogtkd.budget import ACCEPTED_FORMS
from autogtkd.cli import main
from autogtkd.exceptions import PredictorError, UnknownNameError
from autogtkd.search import SearchProblem, search
from autogtkd.space import ChoiceSpace, create_space
from autogtkd.train import load_checkpoint, save_checkpoint


@pytest.fixture(autouse=True)
def _one_thread(one_thread: None) -> None:
    """One torch thread in every test here, restored afterwards (``one_thread``, tests/conftest.py)."""


def _rc(argv: list[str]) -> int:
    """The exit code of the CLI run in-process (argparse's own errors exit through SystemExit(2))."""
    try:
        return main(argv)
    except SystemExit as exc:
        return int(exc.code or 0)


def _fails(argv: list[str], capsys: pytest.CaptureFixture[str], code: int = 2) -> str:
    """Run the CLI in-process; assert the exit code and a single stderr line; return that line."""
    assert _rc(argv) == code
    err = capsys.readouterr().err.strip()
    assert err.startswith("autogtkd") and "\n" not in err and "Traceback" not in err, err
    return err


def _cli(*argv: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "autogtkd", *argv], capture_output=True, text=True, cwd=cwd, check=False,
                          env={**os.environ, "AUTOGTKD_HOME": str(cwd or ".") + "/home"}, timeout=120)


# ---------------------------------------------------------------------------------------------- budgets
@pytest.mark.parametrize("budget", ["300XFLOPs", "abc", "300", "300mflops", "5MB", "12s", "12ms@"])
def test_malformed_budget_or_unit_is_exit_2_and_writes_nothing(budget: str, tmp_path: Path, capsys) -> None:
    err = _fails(["search", "--budget", budget, "--out", str(tmp_path / "out"), "--cache-dir", str(tmp_path / "c")], capsys)
    assert f"cannot parse budget {budget!r}" in err and ACCEPTED_FORMS in err
    assert not list(tmp_path.iterdir())  # nothing trained, nothing written


@pytest.mark.parametrize("budget", ["0MFLOPs", "-5MFLOPs", "0ms@edge", "-1Mparams", "0Mparams", "infMFLOPs"])
def test_zero_or_negative_budget_is_exit_2(budget: str, tmp_path: Path, capsys) -> None:
    # "--budget=-5MFLOPs": a leading '-' must be attached with '=', else argparse reads it as an option
    err = _fails(["search", f"--budget={budget}", "--out", str(tmp_path / "out"), "--cache-dir", str(tmp_path / "c")], capsys)
    assert repr(budget) in err and ACCEPTED_FORMS in err
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("trials", ["0", "-3", "x"])
def test_trial_count_must_be_positive(trials: str, tmp_path: Path, capsys) -> None:
    err = _fails(["search", f"--trials={trials}", "--out", str(tmp_path / "o")], capsys)
    assert "--trials" in err and not (tmp_path / "o").exists()


def test_params_budget_below_the_smallest_architecture(tmp_path: Path, capsys) -> None:
    err = _fails(["search", "--budget", "1Kparams", "--out", str(tmp_path / "o"), "--cache-dir", str(tmp_path / "c")], capsys)
    assert "below the smallest architecture of space 'mbv3-cifar'" in err and "params" in err
    assert not list(tmp_path.iterdir())


def _grid_problem(budgets: list[str]) -> SearchProblem:
    space = ChoiceSpace("grid", {"a": [1, 2, 3], "b": [1, 2]})
    return SearchProblem(space, lambda a: {"accuracy": (a["a"] + a["b"]) / 5},
                         costs=lambda a: {"flops": 1e6 * a["a"] * a["b"]}, budgets=budgets)


def test_budget_above_the_largest_architecture_constrains_nothing_and_search_proceeds() -> None:
    problem = _grid_problem(["1GFLOPs"])  # the largest architecture has 6 MFLOPs
    assert problem.feasible(problem.space.largest())
    result = search(problem, strategy="random", n_trials=6, seed=0)
    assert len(result.trials) == 6 and result.info["n_over_budget"] == 0  # the whole space is searched
    assert result.reference == {"flops": 1e9}  # the hypervolume is normalised by the budget given


def test_budget_above_the_largest_architecture_warns(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        _grid_problem(["1GFLOPs"])
    assert any("largest architecture" in r.getMessage() for r in caplog.records)


# ---------------------------------------------------------------------------------------------- names
def test_unknown_names_list_the_valid_ones(tmp_path: Path, capsys, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUTOGTKD_HOME", str(tmp_path / "home"))
    out = str(tmp_path / "r")
    err = _fails(["train", "--space", "nope", "--dataset", "digits", "--subset", "60", "--out", out], capsys)
    assert "unknown search space 'nope'; valid: mbv3-cifar, mbv3-imagenet, resnet-cifar, resnet-imagenet" in err
    err = _fails(["train", "--dataset", "mnist", "--out", out], capsys)
    assert "unknown dataset 'mnist'; valid: cifar10, cifar100, digits, imagefolder" in err
    err = _fails(["search", "--budget", "15ms@nosuch", "--out", out], capsys)
    assert "no latency predictor for target 'nosuch' (registered: none)" in err
    err = _fails(["search", "--strategy", "annealing", "--out", out], capsys)
    assert "invalid choice: 'annealing' (choose from 'evolution', 'nsga2', 'random', 'surrogate', 'tpe')" in err
    with pytest.raises(UnknownNameError, match="unknown search strategy 'annealing'; valid: evolution, nsga2, random, surrogate, tpe"):
        search(_grid_problem([]), strategy="annealing", n_trials=2)
    assert not (tmp_path / "r").exists() and not (tmp_path / "home").exists()


# ---------------------------------------------------------------------------------------------- configs
@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("epochs: two\n", "epochs: expected an integer, got 'two'"),
        ("gtn: {paths: 2, temprature: 3}\n", "unknown keys ['temprature']"),
        ("optim: {lr: -0.1}\n", "optim.lr must be a positive finite number"),
        ("- 1\n- 2\n", "expected a mapping of TrainConfig keys"),
        ("epochs: [1,\n", "is not valid YAML"),
        ("!!python/object/apply:os.system ['touch pwned']\n", "is not valid YAML"),
    ],
)
def test_train_config_yaml_errors(text: str, message: str, tmp_path: Path, capsys) -> None:
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(text)
    err = _fails(["train", "--config", str(cfg), "--out", str(tmp_path / "r")], capsys)
    assert message in err
    assert not (tmp_path / "r").exists() and not (Path.cwd() / "pwned").exists()


def test_space_yaml_with_unknown_key_via_cli(tmp_path: Path, capsys) -> None:
    spec = tiny_space().to_dict()
    spec["stages"][0]["kernal"] = [3]
    f = tmp_path / "space.yaml"
    f.write_text(yaml.safe_dump(spec))
    err = _fails(["spaces", "--space", str(f)], capsys)
    assert "kernal" in err


def test_custom_space_file_that_raises_one_line_then_traceback_with_debug(tmp_path: Path) -> None:
    (tmp_path / "raising.py").write_text("def build_space():\n    raise RuntimeError('kaboom')\nraise ValueError('at import')\n")
    proc = _cli("spaces", "--space", "raising.py", cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.strip() == "autogtkd: error: search space file raising.py raised ValueError: at import"
    debug = _cli("--debug", "spaces", "--space", "raising.py", cwd=tmp_path)
    assert debug.returncode != 0 and "Traceback" in debug.stderr and "SpaceError" in debug.stderr


# ---------------------------------------------------------------------------------------------- checkpoints
class _Payload:
    marker = ""

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (os.system, (f"touch {_Payload.marker}",))


def _spoil(ckpt: Path, how: str, tmp: Path) -> None:
    good = ckpt.read_bytes() if ckpt.exists() else b""
    if how == "missing":
        ckpt.unlink()
    elif how == "truncated":
        ckpt.write_bytes(good[: len(good) // 3])
    elif how == "corrupt":
        ckpt.write_bytes(good[:100] + np.random.default_rng(0).bytes(len(good) - 100))
    elif how == "other-space":
        sn = create_space("resnet-cifar").build_supernet()
        save_checkpoint(ckpt, kind="train", step=1, epoch=1, models={"supernet": sn}, space=create_space("resnet-cifar"))
    elif how == "crafted":
        _Payload.marker = str(tmp / "pwned")
        torch.save({"format": "autogtkd-checkpoint", "format_version": 1, "models": _Payload()}, ckpt)
    elif how == "crafted-legacy":
        _Payload.marker = str(tmp / "pwned")
        ckpt.write_bytes(pickle.dumps({"format": "autogtkd-checkpoint", "models": _Payload()}, protocol=2))


@pytest.mark.parametrize(
    ("how", "message"),
    [
        ("missing", "is incomplete (no done.json)"),
        ("truncated", "not a readable autogtkd checkpoint"),
        ("corrupt", "not a readable autogtkd checkpoint"),
        ("other-space", "another search space"),
        ("crafted", "not a readable autogtkd checkpoint"),
        ("crafted-legacy", "not a readable autogtkd checkpoint"),
    ],
)
def test_bad_checkpoint_in_a_run_directory(how: str, message: str, tiny_gtn_run: Path, tmp_path: Path, capsys) -> None:
    run = tmp_path / "run"
    shutil.copytree(tiny_gtn_run, run)
    _spoil(run / "checkpoint.pt", how, tmp_path)
    before = (tiny_gtn_run / "checkpoint.pt").read_bytes()
    err = _fails(["search", "--run", str(run), "--out", str(tmp_path / "s"), "--trials", "1", "--quiet"], capsys)
    assert message in err
    assert not (tmp_path / "pwned").exists()  # the crafted payload never ran
    assert not (tmp_path / "s").exists()  # nothing searched or written
    assert (tiny_gtn_run / "checkpoint.pt").read_bytes() == before


def test_crafted_checkpoint_is_not_run_by_a_resuming_train(tmp_path: Path, capsys) -> None:
    """``autogtkd train`` resumes from RUN/checkpoint.pt: a crafted one is refused before it can run."""
    space_file = tmp_path / "tiny.yaml"
    space_file.write_text(yaml.safe_dump(tiny_space().to_dict()))
    argv = ["train", "--space", str(space_file), "--dataset", "digits", "--image-size", "8", "--subset", "120",
            "--teacher", "resnet8", "--epochs", "1", "--batch-size", "16", "--max-steps-per-epoch", "1",
            "--device", "cpu", "--threads", "1", "--paths", "1", "--no-progress", "--out", str(tmp_path / "r")]
    (tmp_path / "r").mkdir()
    _spoil(tmp_path / "r" / "checkpoint.pt", "crafted", tmp_path)
    # config.json is written by the first attempt; the checkpoint beside it is the crafted one
    err = _fails(argv, capsys)
    assert "not a readable autogtkd checkpoint" in err and not (tmp_path / "pwned").exists()


# ---------------------------------------------------------------------------------------------- predictors
def test_latency_predictor_for_another_target_is_refused() -> None:
    space = create_space("mbv3-cifar")

    class Lat:
        target = "phone-b"

        def predict_archs(self, archs):  # type: ignore[no-untyped-def]
            return np.ones(len(archs))

    with pytest.raises(PredictorError, match="budget 5ms@phone-a is for target 'phone-a' but the predictor is for 'phone-b'") as e:
        SearchProblem(space, lambda a: {"accuracy": 0.5}, budgets=["5ms@phone-a"], latency=Lat())
    assert "\n" not in str(e.value) and e.value.exit_code == 2


def test_latency_predictor_file_for_another_space_via_cli(tmp_path: Path, capsys) -> None:
    """A predictor directory fitted on another space, named by path in ``latency predict``."""
    pytest.importorskip("sklearn")
    from autogtkd.hw.latency import LatencyPredictor as Fitted

    space = create_space("resnet-cifar")
    archs = [space.sample(np.random.default_rng(i)) for i in range(12)]
    pred = Fitted(space, target="toy").fit(archs, np.array([space.flops(a) / 1e7 for a in archs]))
    d = pred.save(tmp_path / "pred")
    arch = tmp_path / "arch.json"
    arch.write_text(json.dumps(create_space("mbv3-cifar").smallest().to_dict()))
    err = _fails(["latency", "predict", "--predictor", str(d), "--space", "mbv3-cifar", "--arch", str(arch)], capsys)
    assert "fitted for space 'resnet-cifar'" in err


# ---------------------------------------------------------------------------------------------- data
def _train_argv(tmp: Path, *extra: str) -> list[str]:
    return ["train", "--space", "resnet-cifar", "--teacher", "resnet8", "--epochs", "1", "--no-progress",
            "--out", str(tmp / "r"), *extra]


def test_dataset_folder_missing_empty_or_wrong_format(tmp_path: Path, capsys) -> None:
    (tmp_path / "empty").mkdir()
    bad = tmp_path / "bad" / "cifar-10-batches-py"
    bad.mkdir(parents=True)
    for i in range(1, 6):
        (bad / f"data_batch_{i}").write_bytes(b"\x80\x04not a pickle")
    (tmp_path / "imgs" / "train" / "cat").mkdir(parents=True)
    (tmp_path / "imgs" / "train" / "cat" / "a.png").write_text("not an image")
    cases = [
        (["--dataset", "cifar10", "--data-dir", str(tmp_path / "nowhere")], "cifar10 not found"),
        (["--dataset", "cifar10", "--data-dir", str(tmp_path / "empty")], "cifar10 not found"),
        (["--dataset", "cifar10", "--data-dir", str(tmp_path / "bad")], "is not a CIFAR python-format batch"),
        (["--dataset", "imagefolder", "--data-dir", str(tmp_path / "empty")], "has no train/ sub-folder"),
        (["--dataset", "imagefolder", "--data-dir", str(tmp_path / "nowhere")], "nowhere"),
    ]
    for extra, message in cases:
        err = _fails(_train_argv(tmp_path, *extra), capsys)
        assert message in err
    assert not (tmp_path / "r").exists()


# ---------------------------------------------------------------------------------------------- runs that fail
def _tiny_train(tmp: Path, out: Path, *extra: str) -> list[str]:
    space_file = tmp / "tiny.yaml"
    space_file.write_text(yaml.safe_dump(tiny_space().to_dict()))
    return ["train", "--space", str(space_file), "--dataset", "digits", "--image-size", "8", "--subset", "120",
            "--teacher", "resnet8", "--epochs", "2", "--batch-size", "16", "--max-steps-per-epoch", "2",
            "--device", "cpu", "--threads", "1", "--no-progress", "--out", str(out), *extra]


def test_non_finite_loss_is_exit_1_without_a_poisoned_checkpoint_and_a_fixed_rerun_trains(tmp_path: Path, capsys) -> None:
    out = tmp_path / "r"
    err = _fails(_tiny_train(tmp_path, out, "--method", "vanilla", "--lr", "1e30"), capsys, code=1)
    assert "loss became" in err and ("nan" in err or "inf" in err) and "lower learning rate" in err
    ckpt = out / "checkpoint.pt"
    if ckpt.exists():  # diverged after a good epoch: that checkpoint is finite
        assert all(torch.isfinite(v).all() for v in load_checkpoint(ckpt).models["teacher"].values() if v.is_floating_point())
    assert not (out / "done.json").exists()


def test_bad_input_does_not_block_the_corrected_command(tmp_path: Path, capsys) -> None:
    """A run stopped by bad input before training anything leaves no state that blocks the fix."""
    out = tmp_path / "r"
    err = _fails([*_tiny_train(tmp_path, out, "--method", "vanilla"), "--teacher", "resnet9000"], capsys)
    assert "unknown teacher 'resnet9000'" in err
    assert main(_tiny_train(tmp_path, out, "--method", "vanilla")) == 0  # same --out, corrected teacher
    capsys.readouterr()
    assert (out / "done.json").exists()
    # once trained, a different run in the same directory is refused (completed work is never overwritten)
    err = _fails(_tiny_train(tmp_path, out, "--method", "vanilla", "--lr", "0.01"), capsys)
    assert "holds a different run" in err


def test_io_failure_is_exit_1(tmp_path: Path, capsys) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    err = _fails(_tiny_train(tmp_path, blocker / "run", "--method", "vanilla"), capsys, code=1)
    assert str(blocker) in err


def test_subprocess_errors_are_one_line_without_traceback(tmp_path: Path) -> None:
    proc = _cli("search", "--budget", "300XFLOPs", "--out", "o", cwd=tmp_path)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
    assert "cannot parse budget '300XFLOPs'" in proc.stderr
    assert not (tmp_path / "o").exists()
