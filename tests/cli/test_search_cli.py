"""``autogtkd search`` and ``autogtkd pareto`` end to end on a tiny trained run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from autogtkd.cli import main


def test_infeasible_budget_fails_fast_before_training(tmp_path: Path, capsys, monkeypatch) -> None:
    monkeypatch.setenv("AUTOGTKD_HOME", str(tmp_path / "home"))
    assert main(["search", "--budget", "1MFLOPs", "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "below the smallest architecture" in err[0] and "16.94MFLOPs" in err[0]
    assert not (tmp_path / "home").exists() and not (tmp_path / "out").exists()  # nothing trained or written


def test_latency_budget_needs_a_target(tmp_path: Path, capsys) -> None:
    assert main(["search", "--budget", "5ms", "--out", str(tmp_path)]) == 2
    assert "needs a target" in capsys.readouterr().err


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory) -> Path:
    from autogtkd.train import DatasetSpec, TrainConfig, train

    out = tmp_path_factory.mktemp("run") / "run"
    cfg = TrainConfig(epochs=1, max_steps_per_epoch=1, eval_batches=1, batch_size=16, seed=0)
    return train(
        out, space="mbv3-cifar", dataset=DatasetSpec(subset=120), teacher="resnet8", config=cfg, progress=False
    )


@pytest.mark.slow  # trains a 1-step run first: minutes on a loaded 2-core CPU
def test_search_cli_writes_front_within_budget_and_resumes(tiny_run: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "out"
    argv = [
        "search",
        "--run",
        str(tiny_run),
        "--budget",
        "60MFLOPs",
        "--trials",
        "3",
        "--out",
        str(out),
        "--strategy",
        "random",
        "--quiet",
        "--val-batches",
        "1",
        "--calib-batches",
        "1",
        "--rescore-top",
        "0",
    ]
    assert main(argv) == 0
    text = capsys.readouterr().out
    assert "Pareto front of 3 scored students" in text and str(out / "pareto.json") in text
    doc = json.loads((out / "pareto.json").read_text())
    assert doc["candidates"] and all(c["flops"] <= 60e6 and c["scorer"] == "inherit" for c in doc["candidates"])
    assert (out / "pareto.png").exists() and (out / "pareto.csv").exists()
    # rerunning with a larger total resumes the same study
    assert main([*argv[:6], "5", *argv[7:]]) == 0
    assert "Pareto front of 5 scored students" in capsys.readouterr().out
    assert main(["pareto", "show", str(out)]) == 0
    assert "Pareto-optimal of 5 scored" in capsys.readouterr().out
    assert main(["pareto", "show", str(out), "--best-under", "60MFLOPs"]) == 0
    assert json.loads(capsys.readouterr().out)["flops"] <= 60e6
    assert main(["pareto", "plot", str(out), "--out", str(tmp_path / "again")]) == 0
    assert (tmp_path / "again.png").exists()


@pytest.mark.slow  # the acceptance run: trains the default run from scratch (<= 10 min on 2 cores)
def test_first_run_default_search_within_ten_minutes(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys
    import time

    env = {**os.environ, "AUTOGTKD_HOME": str(tmp_path / "home")}
    cmd = [
        sys.executable,
        "-m",
        "autogtkd",
        "search",
        "--budget",
        "300MFLOPs",
        "--out",
        str(tmp_path / "out"),
        "--quiet",
    ]
    t0 = time.perf_counter()
    first = subprocess.run(cmd, check=False, env=env, capture_output=True, text=True, timeout=1800)
    elapsed = time.perf_counter() - t0
    assert first.returncode == 0, first.stderr[-2000:]
    doc = json.loads((tmp_path / "out" / "pareto.json").read_text())
    assert doc["candidates"] and all(c["flops"] <= 300e6 for c in doc["candidates"])
    assert elapsed <= 600, f"first run took {elapsed:.0f} s"
    t1 = time.perf_counter()
    second = subprocess.run(cmd, check=False, env=env, capture_output=True, text=True, timeout=1800)
    assert second.returncode == 0 and time.perf_counter() - t1 < elapsed / 2  # cached run, finished study


def test_a_registered_scorer_is_a_search_cli_choice_end_to_end(tiny_gtn_run: Path, tmp_path: Path, capsys) -> None:
    """``register_scorer`` in one place: ``--scorer`` accepts it, the search scores with it, and the
    front records its name."""
    from autogtkd.evaluate import SCORERS, FunctionEvaluator, ScorerOptions, register_scorer

    seen: list[ScorerOptions] = []

    def by_depth(run, options: ScorerOptions):  # type: ignore[no-untyped-def]
        """accuracy grows with the number of blocks (a test scorer)"""
        seen.append(options)
        blocks = [c.name for c in run.space.choices if c.name.endswith(".depth")]
        return FunctionEvaluator(lambda a: {"accuracy": sum(a[b] for b in blocks) / 10}, name="by-depth")

    register_scorer("by-depth", by_depth)
    try:
        out = tmp_path / "out"
        argv = [
            "search",
            "--run",
            str(tiny_gtn_run),
            "--scorer",
            "by-depth",
            "--trials",
            "3",
            "--strategy",
            "random",
            "--out",
            str(out),
            "--quiet",
            "--seed",
            "5",
            "--val-batches",
            "1",
            "--rescore-top",
            "0",
        ]
        assert main(argv) == 0
        assert "by-depth" in capsys.readouterr().out
        doc = json.loads((out / "pareto.json").read_text())
        assert doc["candidates"] and {c["scorer"] for c in doc["candidates"]} == {"by-depth"}
        assert all(
            c["accuracy"] == sum(v for k, v in c["arch"].items() if k.endswith(".depth")) / 10
            for c in doc["candidates"]
        )
        assert seen == [ScorerOptions(calib_batches=2, val_batches=1, steps=50, seed=5, device="cpu")]
    finally:
        SCORERS.unregister("by-depth")
    with pytest.raises(SystemExit) as exc:  # no longer a choice: argparse's usage error
        main(["search", "--run", str(tiny_gtn_run), "--scorer", "by-depth", "--out", str(tmp_path / "x")])
    assert exc.value.code == 2 and "invalid choice: 'by-depth'" in capsys.readouterr().err


def test_strategy_options_reach_the_strategy_and_bad_ones_fail_in_one_line(
    tiny_gtn_run: Path, tmp_path: Path, capsys, monkeypatch
) -> None:
    """``--strategy-option KEY=VALUE`` goes to the strategy (values read as JSON, else text); a
    malformed one fails before any training, an unknown or out-of-range one with one line and exit 2."""
    from autogtkd.cli._search import parse_options

    assert parse_options(["budget_exploit=0.5", "when_exhausted=random", "n_initial=2", "x=true"]) == {
        "budget_exploit": 0.5,
        "when_exhausted": "random",
        "n_initial": 2,
        "x": True,
    }
    home = tmp_path / "home"
    with monkeypatch.context() as m:
        m.setenv("AUTOGTKD_HOME", str(home))
        assert main(["search", "--strategy-option", "budget_exploit", "--out", str(tmp_path / "o")]) == 2
    assert "needs KEY=VALUE" in capsys.readouterr().err and not home.exists()
    base = ["search", "--run", str(tiny_gtn_run), "--trials", "3", "--quiet", "--val-batches", "1"]
    base += ["--rescore-top", "0"]
    bad = {"no_such=1": "unexpected keyword argument 'no_such'", "when_exhausted=x": "when_exhausted must be one of"}
    for option, message in bad.items():
        assert main([*base, "--strategy-option", option, "--out", str(tmp_path / option)]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and message in err[0]
    argv = [*base, "--strategy-option", "n_initial=2", "--out", str(tmp_path / "ok")]
    assert main(argv) == 0
    assert "Pareto front of 3 scored students" in capsys.readouterr().out


def test_search_trains_the_default_run_with_the_search_threads(tmp_path: Path, monkeypatch) -> None:
    """``--threads`` (else torch's own setting: every core, or $OMP_NUM_THREADS) also sets the threads
    the default run trains with."""
    import torch

    import autogtkd.train as train_mod
    from autogtkd.cli._search import search_threads
    from autogtkd.exceptions import RunError

    seen: list[int | None] = []

    def stop(cache_dir, *, progress: bool, threads: int | None) -> Path:  # type: ignore[no-untyped-def]
        seen.append(threads)
        raise RunError("stop before training")

    monkeypatch.setattr(train_mod, "default_run", stop)
    argv = ["search", "--budget", "300MFLOPs", "--out", str(tmp_path / "out"), "--quiet"]
    assert main([*argv, "--threads", "3"]) == 1 and main([*argv, "--threads", "0"]) == 1 and main(argv) == 1
    assert seen == [3, 1, torch.get_num_threads()]
    assert search_threads(None) == torch.get_num_threads() and search_threads(2) == 2


def test_search_rescores_its_best_students_with_finetune(tiny_gtn_run: Path, tmp_path: Path, capsys) -> None:
    """A search of a user's run re-scores its best ``DEFAULT_RESCORE_TOP`` (= 2) students by default:
    they are fine-tuned and the front printed, written and read back (``autogtkd pareto show``) is
    theirs, with the search's score beside the new one."""
    from autogtkd.cli._search import DEFAULT_RESCORE_TOP

    assert DEFAULT_RESCORE_TOP == 2
    out = tmp_path / "out"
    argv = ["search", "--run", str(tiny_gtn_run), "--trials", "4", "--strategy", "random", "--out", str(out), "--quiet",
            "--val-batches", "1", "--calib-batches", "1", "--threads", "1", "--finetune-steps", "2"]  # fmt: skip
    assert main(argv) == 0
    text = capsys.readouterr().out
    assert "the 2 best of 4 students scored by inherit, re-scored by finetune" in text and "search %" in text
    assert "--rescore-top" not in text  # the demo's note is not printed for a user's run
    doc = json.loads((out / "pareto.json").read_text())
    assert len(doc["rescored"]) == 2 and {c["scorer"] for c in doc["rescored"]} == {"finetune"}
    assert doc["candidates"] and all(c["scorer"] == "finetune" and "search_accuracy" in c for c in doc["candidates"])
    assert len((out / "trials.csv").read_text().strip().splitlines()) == 5  # every student, inherit scores
    assert main(["pareto", "show", str(out), "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert [(c["trial"], c["accuracy"]) for c in shown] == [(c["trial"], c["accuracy"]) for c in doc["candidates"]]


def test_the_demo_rescores_nothing_and_says_how(tiny_gtn_run: Path, tmp_path: Path, capsys, monkeypatch) -> None:
    """Without ``--run`` (the embedded demo, here stood in for by a tiny run) nothing is re-scored
    unless asked, and the output says how to ask."""
    import autogtkd.train as train_mod

    monkeypatch.setattr(train_mod, "default_run", lambda cache_dir, *, progress, threads: tiny_gtn_run)
    argv = ["search", "--trials", "2", "--strategy", "random", "--out", str(tmp_path / "out"), "--quiet",
            "--val-batches", "1", "--calib-batches", "1", "--threads", "1"]  # fmt: skip
    assert main(argv) == 0
    text = capsys.readouterr().out
    assert "Pareto front of 2 scored students" in text
    assert "note: the demo's front is scored by inherit alone; --rescore-top 2 re-scores its best 2 with finetune" in text


def test_rescore_top_defaults_to_none_for_the_demo_and_rejects_negatives() -> None:
    from autogtkd.cli._search import DEFAULT_RESCORE_TOP, rescore_top_for
    from autogtkd.exceptions import BudgetError

    assert rescore_top_for(None, embedded=True) == 0  # the 5-minute main job re-scores nothing
    assert rescore_top_for(None, embedded=False) == DEFAULT_RESCORE_TOP > 0
    assert rescore_top_for(3, embedded=True) == 3 and rescore_top_for(0, embedded=False) == 0
    with pytest.raises(BudgetError, match="--rescore-top must be >= 0, got -1"):
        rescore_top_for(-1, embedded=False)


def test_note_on_front_members_larger_than_any_trained_path() -> None:
    from types import SimpleNamespace

    from autogtkd.cli._search import _untrained_sizes
    from autogtkd.gtn import GTNConfig
    from autogtkd.search import Candidate
    from autogtkd.space import Arch

    def run(method: str, cap: float | None) -> SimpleNamespace:
        return SimpleNamespace(config=SimpleNamespace(method=method, gtn=GTNConfig(max_path_mflops=cap)))

    front = [
        Candidate(Arch({"i": i}), 0.9, mflops * 1e6, None, None, "inherit", i) for i, mflops in enumerate((30, 45, 90))
    ]
    assert "2 of the front's 3 students exceed 40 MFLOPs" in (_untrained_sizes(run("gtn", 40.0), front) or "")
    assert _untrained_sizes(run("gtn", 100.0), front) is None
    assert _untrained_sizes(run("gtn", None), front) is None
    assert _untrained_sizes(run("inplace", 40.0), front) is None
