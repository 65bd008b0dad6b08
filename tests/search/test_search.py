"""The search loop: strategies, budgets, duplicates, the user-evaluator API and results."""

from __future__ import annotations

import json

import numpy as np
import pytest

from autogtkd.exceptions import BudgetError, ConfigError
from autogtkd.search import SearchProblem, list_strategies, pareto_mask, search
from autogtkd.space import Arch, create_space

STRATEGIES = ["nsga2", "tpe", "evolution", "surrogate", "random"]


def test_registry_lists_the_five_strategies() -> None:
    assert list_strategies() == sorted(STRATEGIES)


def _true_front(toy, space, budget: float) -> set[Arch]:
    archs = [a for a in toy.all_archs(space) if toy.flops(a) <= budget]
    pts = np.array([[-toy.accuracy(a), toy.flops(a)] for a in archs])
    return {a for a, keep in zip(archs, pareto_mask(pts)) if keep}


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_user_evaluator_finds_true_front_of_enumerable_space(strategy: str, toy) -> None:
    space = toy.space()
    calls: list[Arch] = []

    def table(arch: Arch) -> dict[str, float]:
        calls.append(arch)
        return {"accuracy": toy.accuracy(arch)}

    problem = SearchProblem(space, table, costs=lambda a: {"flops": toy.flops(a)}, budgets=["150FLOPs"])
    n_feasible = sum(toy.flops(a) <= 150 for a in toy.all_archs(space))
    result = search(problem, strategy=strategy, n_trials=n_feasible, seed=0, patience=5)
    assert len(calls) == len(set(calls)) == n_feasible  # every feasible arch once, none twice
    assert all(toy.flops(a) <= 150 for a in calls)  # over-budget archs are never scored
    assert {c.arch for c in result.candidates} == _true_front(toy, space, 150)
    assert all(c.scorer == "table" for c in result.candidates)


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_strategies_are_seedable(strategy: str, toy_problem: SearchProblem) -> None:
    runs = [[c.arch for c in search(toy_problem, strategy=strategy, n_trials=8, seed=3).trials] for _ in range(2)]
    assert runs[0] == runs[1]


def test_stops_when_space_is_exhausted(toy_problem: SearchProblem, toy) -> None:
    result = search(toy_problem, strategy="random", n_trials=1000, seed=0, patience=5)
    n_feasible = sum(toy.flops(a) <= 150 for a in toy.all_archs(toy_problem.space))
    assert len(result.trials) == n_feasible
    assert "stopped" in result.info


def _mbv3_problem(budget: str, calls: list[Arch] | None = None) -> SearchProblem:
    space = create_space("mbv3-cifar")

    def fake(arch: Arch) -> dict[str, float]:  # accuracy grows with FLOPs, plus arch-dependent noise
        if calls is not None:
            calls.append(arch)
        noise = (hash(arch.key) % 1000) / 1000 * 0.05
        return {"accuracy": min(1.0, 0.5 + 0.4 * space.flops(arch) / 540e6 + noise)}

    return SearchProblem(space, fake, objectives=("accuracy", "flops", "params"), budgets=[budget, "3Mparams"])


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_no_reported_candidate_breaks_a_budget(strategy: str) -> None:
    calls: list[Arch] = []
    problem = _mbv3_problem("60MFLOPs", calls)
    result = search(problem, strategy=strategy, n_trials=12, seed=1)
    assert len(result.trials) == 12 and result.candidates
    for c in result.candidates:
        assert c.flops <= 60e6 and c.params <= 3e6
    for a in calls:  # nothing over budget was even scored
        assert problem.space.flops(a) <= 60e6 and problem.space.params(a) <= 3e6
    assert result.knee() in result.candidates
    best = result.best_under("40MFLOPs")
    assert best is None or best.flops <= 40e6


def test_surrogate_model_steps_on_a_builtin_space() -> None:
    """Past its random start, ``surrogate`` on ``mbv3-cifar`` (3 objectives, 2 budgets; half of the
    steps are front steps with ``budget_exploit=0.5``) proposes new, feasible students."""
    calls: list[Arch] = []
    problem = _mbv3_problem("60MFLOPs", calls)
    options = {"n_initial": 4, "budget_exploit": 0.5, "n_neighbours": 32}
    result = search(problem, strategy="surrogate", n_trials=12, seed=1, strategy_options=options)
    assert len(result.trials) == 12 and len(set(calls)) == 12
    assert all(problem.space.flops(a) <= 60e6 and problem.space.params(a) <= 3e6 for a in calls)


def test_tight_budget_terminates_with_feasible_candidates() -> None:
    space = create_space("mbv3-cifar")
    smallest = space.flops(space.smallest())
    problem = _mbv3_problem(f"{smallest * 1.02:.0f}FLOPs")
    result = search(problem, strategy="nsga2", n_trials=5, seed=0, max_proposals=300)
    assert result.trials and all(c.flops <= smallest * 1.02 for c in result.candidates)


def test_infeasible_budget_fails_fast_with_clear_message() -> None:
    called = []
    space = create_space("mbv3-cifar")
    with pytest.raises(BudgetError, match="below the smallest architecture of space 'mbv3-cifar'"):
        SearchProblem(space, lambda a: called.append(a) or {"accuracy": 0.5}, budgets=["1MFLOPs"])
    assert not called


def test_repair_reaches_feasibility_under_tight_budget() -> None:
    problem = _mbv3_problem("20MFLOPs")
    rng = np.random.default_rng(0)
    for _ in range(10):
        assert problem.feasible(problem.mutate(problem.space.largest(), rng))
        assert problem.feasible(problem.sample(rng, tries=1))


def test_resumed_study_must_match_problem(tmp_path, toy_problem: SearchProblem, toy) -> None:
    search(toy_problem, strategy="random", n_trials=3, out=tmp_path)
    other = SearchProblem(
        toy_problem.space,
        lambda a: {"accuracy": 0.5},
        costs=lambda a: {"flops": toy.flops(a)},
        budgets=["100FLOPs"],
        scorer="table",
    )
    with pytest.raises(ConfigError, match="was created for"):
        search(other, strategy="random", n_trials=3, out=tmp_path)


def test_rerun_resumes_and_files_are_written(tmp_path, toy_problem: SearchProblem) -> None:
    first = search(toy_problem, strategy="evolution", n_trials=5, seed=0, out=tmp_path)
    second = search(toy_problem, strategy="evolution", n_trials=9, seed=0, out=tmp_path)
    assert [c.trial for c in second.trials[:5]] == [c.trial for c in first.trials]
    assert len(second.trials) == 9 and len({c.arch for c in second.trials}) == 9
    doc = json.loads((tmp_path / "pareto.json").read_text())
    assert doc["hypervolume"] == pytest.approx(second.hypervolume) and doc["hypervolume"] > 0
    for cand in doc["candidates"]:
        assert set(cand) >= {"arch", "accuracy", "flops", "params", "latency_ms", "scorer"}
        assert 0 <= cand["accuracy"] <= 1 and cand["flops"] <= 150 and cand["latency_ms"] is None
    csv_rows = (tmp_path / "pareto.csv").read_text().strip().splitlines()
    assert csv_rows[0].split(",")[:6] == ["trial", "accuracy", "flops", "params", "latency_ms", "scorer"]
    assert len(csv_rows) == len(doc["candidates"]) + 1
    assert (tmp_path / "pareto.png").stat().st_size > 1000
    assert len((tmp_path / "trials.csv").read_text().strip().splitlines()) == 10


def test_prescreen_screens_and_reports_rank_correlation(tmp_path, toy_problem: SearchProblem, toy) -> None:
    import optuna
    from scipy.stats import kendalltau

    from autogtkd.evaluate import AccuracyPredictor
    from autogtkd.search import Prescreen

    calls: list[Arch] = []

    def table(arch: Arch) -> dict[str, float]:
        calls.append(arch)
        return {"accuracy": toy.accuracy(arch)}

    problem = SearchProblem(
        toy_problem.space, table, costs=lambda a: {"flops": toy.flops(a)}, budgets=["150FLOPs"], scorer="table"
    )
    result = search(
        problem,
        strategy="random",
        n_trials=11,
        seed=0,
        out=tmp_path,
        prescreen=Prescreen(AccuracyPredictor(n_estimators=30), min_train=6, margin=0.0),
    )
    trials = optuna.load_study(study_name="autogtkd-search", storage=f"sqlite:///{tmp_path / 'study.db'}").get_trials()
    screened = [t for t in trials if t.user_attrs.get("status") == "screened"]
    scored = [t for t in trials if t.user_attrs.get("status") == "evaluated"]
    # the screened path: recorded with the predicted accuracy, never scored, never reported
    assert screened and all(t.state.name == "COMPLETE" and t.user_attrs["scorer"] == "predictor" for t in screened)
    assert all(t.values[0] == t.user_attrs["predicted_accuracy"] for t in screened)
    screened_archs = {t.user_attrs["arch_key"] for t in screened}
    assert not screened_archs & {a.key for a in calls}  # the evaluator never ran on them
    assert not screened_archs & {c.arch.key for c in result.trials}
    assert len(calls) == len(result.trials) == 11 and all(c.scorer == "table" for c in result.trials)
    # each screened proposal, even with its predicted accuracy, was dominated by a trial scored before it
    for t in screened:
        before = [s for s in scored if s.number < t.number]
        assert any(s.values[0] >= t.values[0] and s.values[1] <= t.values[1] and s.values != t.values for s in before)
    # tau is Kendall's tau of (prediction, truth) over the scored proposals predicted out of sample
    pairs = [
        (t.user_attrs["predicted_accuracy"], t.user_attrs["metrics"]["accuracy"])
        for t in scored
        if "predicted_accuracy" in t.user_attrs
    ]
    pred = result.info["predictor"]
    assert pred["n_pairs"] == len(pairs) == 11 - 6 and pred["n_screened"] == len(screened)
    assert pred["kendall_tau"] == pytest.approx(kendalltau(*zip(*pairs)).statistic)
    assert pred["kendall_tau"] > 0.3  # a forest on 6+ points of a smooth table ranks far better than chance
    assert json.loads((tmp_path / "pareto.json").read_text())["predictor"] == pred


def test_optuna_tools_read_the_study(tmp_path, toy) -> None:
    """Optuna's own plots (and optuna-dashboard) name the objectives and mark over-budget trials."""
    import optuna
    from optuna.visualization import plot_pareto_front

    from autogtkd.search._owners import OWNER_ATTR

    storage = f"sqlite:///{tmp_path / 'study.db'}"
    # a study that already exists without metric names (as written by earlier versions) gets them when
    # resumed; the architectures enqueued in it, two of them over the budget, are proposed first
    old = optuna.create_study(storage=storage, study_name="autogtkd-search", directions=["maximize", "minimize"])
    for depth, width in ((4, 24), (3, 24), (1, 8)):
        old.enqueue_trial({"depth": depth, "width": width, "op": "conv"})
    problem = SearchProblem(
        toy.space(),
        lambda a: {"accuracy": toy.accuracy(a)},
        costs=lambda a: {"flops": toy.flops(a)},
        budgets=["60FLOPs"],
        scorer="table",
    )
    search(problem, strategy="nsga2", n_trials=8, seed=0, storage=storage)
    study = optuna.load_study(study_name="autogtkd-search", storage=storage)
    assert study.metric_names == ["accuracy", "flops"]
    over = [t for t in study.get_trials() if t.user_attrs.get("status") == "over_budget"]
    assert [t.values[1] for t in over] == [288, 216]  # COMPLETE, with violated constraints
    assert all(OWNER_ATTR in t.system_attrs for t in study.get_trials())  # enqueued ones too, once taken
    fig = plot_pareto_front(study)
    assert fig.layout.xaxis.title.text == "accuracy" and fig.layout.yaxis.title.text == "flops"
    infeasible = [tr for tr in fig.data if "Infeasible Trial" in (tr.hovertemplate or "")]
    assert len(infeasible) == 1
    assert sorted(infeasible[0].y) == sorted(t.values[1] for t in over) and all(v > 60 for v in infeasible[0].y)
    feasible_y = [y for tr in fig.data if tr not in infeasible for y in tr.y]
    assert feasible_y and all(v <= 60 for v in feasible_y)


def test_unknown_objective_and_missing_latency_predictor(toy) -> None:
    from autogtkd.exceptions import PredictorError

    space = toy.space()
    with pytest.raises(ConfigError, match="unknown objectives"):
        SearchProblem(space, lambda a: {"accuracy": 0.5}, objectives=("accuracy", "energy"))
    with pytest.raises(PredictorError, match="latency predictor"):
        SearchProblem(create_space("mbv3-cifar"), lambda a: {"accuracy": 0.5}, budgets=["5ms@cpu"])


def test_latency_objective_with_a_predictor() -> None:
    space = create_space("mbv3-cifar")

    class Lat:
        target = "toy-cpu"

        def predict_archs(self, archs):
            return np.array([space.flops(a) / 1e7 for a in archs])

    problem = SearchProblem(
        space,
        lambda a: {"accuracy": 0.5 + space.flops(a) / 2e9},
        objectives=("accuracy", "latency_ms"),
        budgets=["5ms@toy-cpu"],
        latency=Lat(),
    )
    result = search(problem, strategy="evolution", n_trials=6, seed=0)
    assert all(c.latency_ms is not None and c.latency_ms <= 5 for c in result.candidates)
