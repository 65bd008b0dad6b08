"""Re-scoring the best candidates at the end of a search (``Rescore``): which ones, the front they
give, persistence in the study and in the result files."""

from __future__ import annotations

import pytest

from autogtkd.budget import parse_budget
from autogtkd.exceptions import ConfigError
from autogtkd.search import Candidate, Rescore, SearchProblem, SearchResult, load_result, search
from autogtkd.space import Arch


def _cand(trial: int, acc: float, flops: float) -> Candidate:
    return Candidate(Arch({"t": trial}), acc, flops, None, None, "inherit", trial)


def test_ranked_orders_by_nondominated_rank_then_accuracy() -> None:
    # front: t0 (0.5, 10), t1 (0.7, 20); rank 1: t2 (0.6, 30), t3 (0.4, 15); t4 is over budget
    trials = [_cand(0, 0.5, 10), _cand(1, 0.7, 20), _cand(2, 0.6, 30), _cand(3, 0.4, 15), _cand(4, 0.9, 99)]
    r = SearchResult(trials, objectives=("accuracy", "flops"))
    assert [c.trial for c in r.ranked()] == [4, 1, 0, 2, 3]  # t4 is on the front without a budget
    r = SearchResult(trials, objectives=("accuracy", "flops"), budgets=[parse_budget("50FLOPs")])
    assert [c.trial for c in r.ranked()] == [1, 0, 2, 3]


class _Counting:
    """A re-scoring evaluator that reverses the search's ranking and counts its calls."""

    name = "faithful"

    def __init__(self, toy) -> None:
        self.toy, self.calls = toy, 0

    def __call__(self, arch: Arch) -> dict[str, float]:
        self.calls += 1
        return {"accuracy": 1.0 - self.toy.accuracy(arch)}


def test_rescore_reports_the_front_of_the_rescored_and_persists_in_the_study(
    tmp_path, toy_problem: SearchProblem, toy
) -> None:
    ev = _Counting(toy)
    result = search(toy_problem, strategy="random", n_trials=8, seed=0, out=tmp_path, rescore=Rescore(ev, top=3))
    assert ev.calls == 3 and len(result.rescored) == 3
    best3 = SearchResult(result.trials, objectives=result.objectives, budgets=result.budgets).ranked()[:3]
    assert {c.arch for c in result.rescored} == {c.arch for c in best3}
    for c in result.rescored:
        assert c.scorer == "faithful" and c.accuracy == pytest.approx(1.0 - toy.accuracy(c.arch))
        assert c.metrics["search_accuracy"] == pytest.approx(toy.accuracy(c.arch))
    assert {c.arch for c in result.candidates} <= {c.arch for c in result.rescored}
    assert len(result.trials) == 8  # every searched trial keeps the search's score
    # resumed: nothing re-scored twice; the live study and the files give the same front
    again = search(toy_problem, strategy="random", n_trials=8, seed=0, out=tmp_path, rescore=Rescore(ev, top=3))
    assert ev.calls == 3 and [c.to_dict() for c in again.candidates] == [c.to_dict() for c in result.candidates]
    for live in (True, False):
        read = load_result(tmp_path, live=live)
        assert [(c.trial, c.accuracy, c.scorer) for c in read.candidates] == [
            (c.trial, c.accuracy, c.scorer) for c in result.candidates
        ]
        assert [c.metrics["search_accuracy"] for c in read.rescored] == pytest.approx(
            [c.metrics["search_accuracy"] for c in result.rescored]
        )
    assert "search %" in result.table()


def test_rescore_refuses_another_scorer_on_the_same_study(tmp_path, toy_problem: SearchProblem, toy) -> None:
    search(toy_problem, strategy="random", n_trials=4, out=tmp_path, rescore=Rescore(_Counting(toy), top=1))
    with pytest.raises(ConfigError, match="was re-scored with 'faithful'"):
        search(
            toy_problem, strategy="random", n_trials=4, out=tmp_path, rescore=Rescore(lambda a: {"accuracy": 0.1})
        )  # "user"
    with pytest.raises(ConfigError, match="top must be >= 1"):
        Rescore(_Counting(toy), top=0)
