"""``autogtkd pareto show|plot``: several searches side by side, 2-D and 3-D, a still-running study."""

from __future__ import annotations

import importlib.util
import json
import threading
from pathlib import Path

import pytest

from autogtkd.cli import main
from autogtkd.search import SearchProblem, load_result, search
from autogtkd.space import ChoiceSpace

HAS_PLOTLY = importlib.util.find_spec("plotly") is not None
SPACE = {"depth": [1, 2, 3, 4], "width": [8, 16, 24], "op": ["conv", "pool"]}


def _problem(evaluate=None, **kw) -> SearchProblem:
    def accuracy(a):
        return {"accuracy": 0.5 + 0.05 * a["depth"] + 0.004 * a["width"] + (0.02 if a["op"] == "conv" else 0.0)}

    return SearchProblem(
        ChoiceSpace("toy", SPACE),
        evaluate or accuracy,
        costs=lambda a: {"flops": float(a["depth"] * a["width"] * 1e6), "params": float(a["width"] * 1e5)},
        scorer="table",
        **kw,
    )


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("pareto")
    a, b = root / "nsga", root / "rand"
    search(_problem(objectives=("accuracy", "flops", "params")), strategy="nsga2", n_trials=10, seed=0, out=a)
    search(_problem(budgets=["60MFLOPs"]), strategy="random", n_trials=8, seed=1, out=b)
    return a, b


def test_show_prints_every_search_side_by_side(two_runs, capsys) -> None:
    a, b = two_runs
    assert main(["pareto", "show", str(a), str(b)]) == 0
    out = capsys.readouterr().out
    assert "nsga: " in out and "of 10 scored" in out and "rand: " in out and "of 8 scored" in out
    assert main(["pareto", "show", str(a), str(b), "--json", "--labels", "x,y"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert set(doc) == {"x", "y"} and all(c["flops"] <= 60e6 for c in doc["y"])
    assert main(["pareto", "show", str(a), str(b), "--best-under", "40MFLOPs"]) == 0
    picks = json.loads(capsys.readouterr().out)
    assert set(picks) == {"nsga", "rand"} and all(p["flops"] <= 40e6 for p in picks.values())


def test_plot_2d_3d_and_grid(two_runs, tmp_path: Path) -> None:
    a, b = two_runs
    assert main(["pareto", "plot", str(a), str(b), "--out", str(tmp_path / "flat")]) == 0
    assert (tmp_path / "flat.png").stat().st_size > 0
    assert (
        main(["pareto", "plot", str(a), str(b), "--axes", "flops,params", "--grid", "--out", str(tmp_path / "cube")])
        == 0
    )
    assert (tmp_path / "cube.png").stat().st_size > 0
    # with plotly (the test extra has it) the HTML is always written: interactive 3-D traces, one front per search
    assert (tmp_path / "cube.html").exists() == (tmp_path / "flat.html").exists() == HAS_PLOTLY
    if HAS_PLOTLY:
        text = (tmp_path / "cube.html").read_text()
        assert '"type":"scatter3d"' in text and "nsga front" in text and "rand front" in text
    assert main(["pareto", "plot", str(a)]) == 0  # one search: next to it
    assert (a / "pareto.png").exists()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["pareto", "show"], "at least one search directory"),
        (["pareto", "show", "--study", "s"], "give --storage"),
        (["pareto", "plot", "{a}", "--axes", "latency_ms"], "no latency_ms values"),
        (["pareto", "plot", "{a}", "--axes", "flops,params,latency_ms"], "one or two of"),
        (["pareto", "plot", "{a}", "--axes", "watts"], "one or two of"),
        (["pareto", "show", "{a}", "{b}", "--labels", "x"], "needs 2 distinct names"),
        (["pareto", "show", "{missing}"], "no search output"),
    ],
)
def test_bad_requests_get_one_line(two_runs, tmp_path: Path, capsys, argv: list[str], message: str) -> None:
    a, b = two_runs
    args = [x.format(a=a, b=b, missing=tmp_path / "nope") for x in argv]
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0], err


def test_reads_a_study_by_url(two_runs, capsys) -> None:
    a, _ = two_runs
    assert main(["pareto", "show", "--storage", f"sqlite:///{a / 'study.db'}"]) == 0
    assert "of 10 scored" in capsys.readouterr().out
    assert main(["pareto", "show", "--storage", f"sqlite:///{a / 'study.db'}", "--study", "other"]) == 2
    assert "no study 'other'" in capsys.readouterr().err
    assert main(["pareto", "show", "--storage", f"sqlite:///{a / 'typo.db'}"]) == 2
    assert "no SQLite study file" in capsys.readouterr().err and not (a / "typo.db").exists()


def test_front_of_a_search_that_is_still_running(tmp_path: Path, capsys) -> None:
    """The search blocks inside its 4th evaluation; meanwhile the CLI shows the 3 scored and 1 running."""
    calls, fourth, release = [], threading.Event(), threading.Event()

    def evaluate(a):
        calls.append(a)
        if len(calls) == 4:
            fourth.set()
            release.wait(600)
        return {"accuracy": 0.5 + 0.05 * a["depth"]}

    out = tmp_path / "live"
    worker = threading.Thread(
        target=search, args=(_problem(evaluate),), kwargs={"strategy": "random", "n_trials": 6, "seed": 0, "out": out}
    )
    worker.start()
    try:
        assert fourth.wait(600)
        assert not (out / "pareto.json").exists()  # only written when the search ends
        live = load_result(out)
        assert len(live.trials) == 3 and live.info["n_running"] == 1
        assert main(["pareto", "show", str(out)]) == 0
        assert "of 3 scored; 1 being scored now" in capsys.readouterr().out
        assert main(["pareto", "plot", str(out), "--out", str(tmp_path / "live-plot")]) == 0
    finally:
        release.set()
        worker.join(600)
    assert len(load_result(out).trials) == 6
    assert len(load_result(out, live=False).trials) == 6  # the end-of-search snapshot agrees


def test_snapshot_is_used_when_the_study_is_gone(two_runs, tmp_path: Path, caplog) -> None:
    import shutil

    a, _ = two_runs
    copy = tmp_path / "copy"
    shutil.copytree(a, copy)
    (copy / "study.json").write_text(json.dumps({"storage": f"sqlite:///{tmp_path / 'gone' / 'x.db'}", "study": "s"}))
    result = load_result(copy)
    assert len(result.trials) == 10 and "snapshot" in caplog.text
    (copy / "pareto.json").unlink()
    with pytest.raises(Exception, match="no .*pareto.json yet"):
        load_result(copy)


def test_study_file_never_holds_a_password() -> None:
    from autogtkd.search._study import without_password

    assert without_password("postgresql://me:s3cret@db.example:5432/nas") == "postgresql://me@db.example:5432/nas"
    assert without_password("sqlite:////tmp/x/study.db") == "sqlite:////tmp/x/study.db"
