"""Strategy options: random initial design, de-duplication, aging evolution, NSGA-II, TPE, surrogate."""

from __future__ import annotations

import numpy as np
import pytest

from autogtkd.search import SearchProblem, search
from autogtkd.search._strategies import (
    EvolutionSampler,
    NSGA2Sampler,
    SurrogateSampler,
    create_sampler,
    crowding_distance,
    distributions,
)


def _problem(toy, scored=None):  # type: ignore[no-untyped-def]
    def evaluate(arch):  # type: ignore[no-untyped-def]
        if scored is not None:
            scored.append(arch.key)
        return {"accuracy": toy.accuracy(arch)}

    return SearchProblem(
        toy.space(), evaluate, objectives=("accuracy", "flops"), costs=lambda a: {"flops": toy.flops(a)}
    )


@pytest.mark.parametrize("strategy", ["evolution", "nsga2", "tpe", "surrogate"])
def test_initial_design_is_the_random_stream(toy, strategy) -> None:  # type: ignore[no-untyped-def]
    """Up to n_initial scored architectures a guided strategy proposes exactly what random does."""
    runs = {}
    for name in ("random", strategy):
        scored: list[str] = []
        search(
            _problem(toy, scored),
            strategy=name,
            n_trials=6,
            seed=3,
            strategy_options=None if name == "random" else {"n_initial": 6},
        )
        runs[name] = scored
    assert runs["random"] == runs[strategy]


@pytest.mark.parametrize("strategy", ["evolution", "nsga2", "tpe", "surrogate"])
def test_guided_strategies_rarely_propose_scored_archs(toy, strategy) -> None:  # type: ignore[no-untyped-def]
    """De-duplication: on the 24-arch toy space, 20 scored architectures need few wasted proposals
    (TPE: 13 at this seed, 1-19 over 20 seeds with its default cheap-end anchor; 281 here without
    de-duplication, ``dedupe_tries=1``)."""
    wasted = {}
    for tries in (1, None):
        scored: list[str] = []
        options = {"n_initial": 4} if tries is None else {"n_initial": 4, "dedupe_tries": tries}
        result = search(_problem(toy, scored), strategy=strategy, n_trials=20, seed=0, strategy_options=options)
        assert len(set(scored)) == 20
        wasted[tries] = result.info["n_duplicates"]
    assert wasted[None] <= min(15, wasted[1])  # the others skip scored children themselves: few either way


def test_evolution_options_validated(toy) -> None:  # type: ignore[no-untyped-def]
    p = _problem(toy)
    with pytest.raises(ValueError):
        EvolutionSampler(p, population_size=4, tournament_size=5)
    with pytest.raises(ValueError):
        EvolutionSampler(p, mutation_prob=1.5)
    with pytest.raises(ValueError):
        EvolutionSampler(p, n_candidates=0)
    with pytest.raises(ValueError):
        NSGA2Sampler(p, population_size=1)
    s = create_sampler("evolution", p, seed=1)
    assert (s.population_size, s.tournament_size, s.mutation_prob, s.n_initial) == (50, 10, 0.0, 50)
    assert s.budget_exploit == 0.0  # no budget: the option is off
    n = create_sampler("nsga2", p, seed=1)
    assert (n.population_size, n.n_candidates, n.n_initial) == (20, 4, 20)  # 4: docs/benchmarks_search.md
    t = create_sampler("tpe", p, seed=1)
    assert t.n_initial == 20  # docs/benchmarks_search.md, "TPE's random start"
    g = create_sampler("surrogate", p, seed=1)
    assert (g.n_initial, g.exploit, g.top_k, g.n_neighbours, g.when_exhausted) == (20, 0.5, 3, 128, "deepen")
    assert (g.front_step, g.anchors) == ("hypervolume", True)  # docs/benchmarks_search.md, rounds 7 and 8
    budgeted = SearchProblem(
        toy.space(),
        lambda a: {"accuracy": toy.accuracy(a)},
        costs=lambda a: {"flops": toy.flops(a)},
        budgets=["60FLOPs"],
    )
    assert create_sampler("surrogate", budgeted).exploit == 0.9  # docs/benchmarks_search.md, fourth round
    for bad in ({"top_k": 0}, {"two_decisions": 2.0}, {"exploit": -1}, {"budget_exploit": 2}, {"n_neighbours": 0}):
        with pytest.raises(ValueError):
            SurrogateSampler(p, **bad)


def test_one_decision_mutation(toy) -> None:  # type: ignore[no-untyped-def]
    """mutation_prob=0: the child differs from its parent in exactly one decision."""
    p = _problem(toy)
    s = EvolutionSampler(p, population_size=4, tournament_size=2)
    rng = np.random.default_rng(0)
    for _ in range(30):
        parent = p.space.sample(rng)
        child = s._mutate(parent, rng, 0.0)
        assert sum(parent[k] != child[k] for k in parent) == 1


def _study_with(p, archs, accuracy):  # type: ignore[no-untyped-def]
    """An Optuna study holding ``archs`` as evaluated trials with the given accuracy function."""
    import optuna

    study = optuna.create_study(directions=p.directions)
    for arch in archs:
        a = p.space.canonical(arch)
        acc = accuracy(a)
        study.add_trial(
            optuna.trial.create_trial(
                values=p.values({**p.costs(a), "accuracy": acc}),
                user_attrs={
                    "arch": a.to_dict(),
                    "arch_key": a.key,
                    "status": "evaluated",
                    "metrics": {"accuracy": acc},
                },
            )
        )
    return study


def test_cost_aware_candidate_choice_fills_the_cost_gap(toy) -> None:  # type: ignore[no-untyped-def]
    """With several candidates, the one whose known cost would add most hypervolume is kept."""
    p = _problem(toy)
    ends = ({"depth": 1, "width": 8, "op": "pool"}, {"depth": 4, "width": 24, "op": "conv"})
    done = _study_with(p, ends, toy.accuracy).get_trials()
    s = EvolutionSampler(p, population_size=2, tournament_size=1)
    mid = p.space.canonical({"depth": 2, "width": 16, "op": "conv"})  # a new cost level
    dup = p.space.canonical({"depth": 4, "width": 24, "op": "conv"})  # no gain: already on the front
    picked = s._best_by_improvement([(dup, 0.9), (mid, 0.9)], done, np.random.default_rng(0))
    assert picked == mid


def test_crowding_distance() -> None:
    d = crowding_distance(np.array([[0.0, 3.0], [1.0, 2.0], [2.0, 0.5], [3.0, 0.0]]))
    assert np.isinf(d[0]) and np.isinf(d[3])
    assert d[1] == pytest.approx(2 / 3 + 2.5 / 3) and d[2] == pytest.approx(2 / 3 + 2 / 3)


@pytest.mark.parametrize("strategy", ["evolution", "nsga2", "tpe", "surrogate"])
def test_guided_beats_random_on_toy(toy, strategy) -> None:  # type: ignore[no-untyped-def]
    """Over 5 seeds, 12 of 24 toy architectures: a guided strategy's hypervolume is not below random's."""

    def hv(name: str) -> float:
        return float(
            np.mean(
                [
                    search(
                        _problem(toy),
                        strategy=name,
                        n_trials=12,
                        seed=s,
                        strategy_options=None if name == "random" else {"n_initial": 4},
                    ).hypervolume
                    for s in range(5)
                ]
            )
        )

    assert hv(strategy) >= hv("random") - 1e-9


def test_surrogate_accuracy_step_climbs_from_the_best(toy) -> None:  # type: ignore[no-untyped-def]
    """On an accuracy step (``exploit=1``: every trial) the proposal is an unscored one-decision
    neighbour of one of the ``top_k`` most accurate architectures; on a linear accuracy the tree,
    fitted on 12 architectures, rates the neighbour that adds depth or width best."""
    p = _problem(toy)
    rng = np.random.default_rng(0)
    archs = list({a.key: a for a in (p.space.sample(rng) for _ in range(40))}.values())[:12]
    linear = lambda a: 0.1 * a["depth"] + 0.01 * a["width"]
    study = _study_with(p, archs, linear)
    done = study.get_trials()
    s = SurrogateSampler(p, seed=0, n_initial=2, top_k=1, exploit=1.0)
    s._seen = {t.user_attrs["arch_key"] for t in done}
    best = max(archs, key=linear)
    for number in (0, 2, 4):
        trial = study.ask()
        child = s.propose(study, study._storage.get_trial(trial._trial_id), np.random.default_rng(number), done)
        assert child.key not in s._seen
        assert sum(child[k] != best[k] for k in best) == 1
        assert linear(child) >= linear(best) or best["depth"] == 4 and best["width"] == 24


def test_surrogate_without_accuracy_objective_still_proposes(toy) -> None:  # type: ignore[no-untyped-def]
    """Objectives without accuracy (nothing to model): the proposals are mutations of the front."""
    p = SearchProblem(
        toy.space(),
        lambda a: {"accuracy": toy.accuracy(a)},
        objectives=("flops", "params"),
        costs=lambda a: {"flops": toy.flops(a), "params": float(a["width"])},
    )
    result = search(p, strategy="surrogate", n_trials=10, seed=0, strategy_options={"n_initial": 3})
    assert len(result.trials) == 10


@pytest.mark.parametrize("when", ["widen", "deepen"])
def test_surrogate_exhausted_neighbourhood(toy, when) -> None:  # type: ignore[no-untyped-def]
    """Every one-decision neighbour of the best is scored: ``widen`` climbs from the 2nd most accurate
    (parents doubled), ``deepen`` proposes a two-decision neighbour of the best -- not a random
    architecture."""
    p = _problem(toy)
    best = p.space.canonical({"depth": 4, "width": 24, "op": "conv"})
    near = [p.space.mutate(best, np.random.default_rng(i), prob=0.0) for i in range(60)]
    ring = list({a.key: a for a in near}.values())
    assert len(ring) == 6  # 3 depths + 2 widths + 1 op
    distance = lambda a: sum(a[k] != best[k] for k in best)
    accuracy = lambda a: 1.0 - 0.1 * distance(a)
    study = _study_with(p, [best, *ring], accuracy)
    done = study.get_trials()
    s = SurrogateSampler(p, seed=0, n_initial=2, top_k=1, exploit=1.0, when_exhausted=when)
    s._seen = {t.user_attrs["arch_key"] for t in done}
    for number in range(3):
        trial = study.ask()
        child = s.propose(study, study._storage.get_trial(trial._trial_id), np.random.default_rng(number), done)
        assert child.key not in s._seen and distance(child) == 2
        if when == "widen":  # a neighbour of the top 2: the best and the first-scored of the ring
            assert sum(child[k] != ring[0][k] for k in best) == 1
    with pytest.raises(ValueError, match="when_exhausted"):
        SurrogateSampler(p, when_exhausted="restart")


def test_surrogate_epsilon_front_step(toy) -> None:  # type: ignore[no-untyped-def]
    """``front_step="epsilon"``: a front step is an accuracy step under the costs of a front member.
    One scored architecture dominates the others, so every front step climbs from it and proposes one
    of its unscored neighbours that cost no more FLOPs -- never a costlier one (what a hypervolume step
    may propose)."""
    p = _problem(toy)
    top = p.space.canonical({"depth": 2, "width": 16, "op": "conv"})  # 96 FLOPs
    costlier = [a for a in toy.all_archs(p.space) if toy.flops(a) > toy.flops(top)][:10]
    study = _study_with(p, [top, *costlier], lambda a: 0.9 if a.key == top.key else 0.5 + 0.001 * toy.flops(a) / 100)
    done = study.get_trials()
    cheaper = {
        a.key
        for a in toy.all_archs(p.space)
        if toy.flops(a) <= toy.flops(top) and sum(a[k] != top[k] for k in top) == 1
    }
    assert len(cheaper) == 3  # depth 1, width 8, op pool
    s = SurrogateSampler(p, seed=0, n_initial=2, top_k=1, exploit=0.0, front_step="epsilon", anchors=False)
    s._seen = {t.user_attrs["arch_key"] for t in done}
    for number in range(10):
        trial = study.ask()
        child = s.propose(study, study._storage.get_trial(trial._trial_id), np.random.default_rng(number), done)
        assert child.key in cheaper
    with pytest.raises(ValueError, match="front_step"):
        SurrogateSampler(p, front_step="pareto")


@pytest.mark.parametrize("strategy", ["surrogate", "evolution", "nsga2", "tpe"])
def test_anchors_propose_the_cheapest_architecture(toy, strategy) -> None:  # type: ignore[no-untyped-def]
    """``anchors=True``: a step that is not an accuracy step descends on FLOPs alone from the
    cheapest scored architecture and proposes the cheapest one (depth 1, width 8, pool: 8 FLOPs)
    while it is unscored; once it is scored, the strategy proposes as usual. On by default for all
    but ``nsga2``."""
    p = _problem(toy)
    cheapest = p.space.canonical({"depth": 1, "width": 8, "op": "pool"})
    archs = [a for a in toy.all_archs(p.space) if toy.flops(a) >= 48][:10]
    study = _study_with(p, archs, toy.accuracy)
    done = study.get_trials()
    assert create_sampler(strategy, p).anchors is (strategy != "nsga2")  # docs/benchmarks_search.md, rounds 8 and 9
    options = {"exploit": 0.0} if strategy == "surrogate" else {}
    s = create_sampler(strategy, p, seed=0, n_initial=2, anchors=True, **options)
    s._seen = {t.user_attrs["arch_key"] for t in done}
    for number in range(4):
        trial = study.ask()
        child = s.propose(study, study._storage.get_trial(trial._trial_id), np.random.default_rng(number), done)
        assert child.key == cheapest.key
    study = _study_with(p, [*archs, cheapest], toy.accuracy)
    done = study.get_trials()
    trial = study.ask()
    params = s.sample_relative(study, study._storage.get_trial(trial._trial_id), distributions(p))
    assert p.space.canonical(params).key not in {t.user_attrs["arch_key"] for t in done}
    with pytest.raises(ValueError, match="anchors must be true or false, not 'no'"):
        create_sampler(strategy, p, anchors="no")


@pytest.mark.parametrize("when", ["mutate", "random"])
def test_evolution_exhausted_best(toy, when) -> None:  # type: ignore[no-untyped-def]
    """Under a budget every one-decision neighbour of the most accurate member that fits is scored:
    ``random`` makes an accuracy step propose a random architecture within the budget, ``mutate``
    (default) a child of the best as ever (a scored neighbour: the de-duplication walks on from it)."""
    p = SearchProblem(
        toy.space(),
        lambda a: {"accuracy": toy.accuracy(a)},
        costs=lambda a: {"flops": toy.flops(a)},
        budgets=["150FLOPs"],
    )
    best = p.space.canonical({"depth": 2, "width": 16, "op": "conv"})  # 96 FLOPs
    s = EvolutionSampler(
        p, seed=0, population_size=8, tournament_size=8, budget_exploit=1.0, anchors=False, when_exhausted=when
    )
    ring = [a for a in s._neighbours_of(best) if p.feasible(a)]
    assert len(ring) == 5 and len(s._neighbours_of(best)) == 6  # 3 depths + 2 widths + 1 op; depth 4 is over
    distance = lambda a: sum(a[k] != best[k] for k in best)
    study = _study_with(p, [best, *ring], lambda a: 1.0 - 0.1 * distance(a))
    done = study.get_trials()
    s._seen = {t.user_attrs["arch_key"] for t in done}
    assert s._exhausted(best) and not s._exhausted(ring[0])
    for number in range(5):
        trial = study.ask()
        child = s.propose(study, study._storage.get_trial(trial._trial_id), np.random.default_rng(number), done)
        assert p.feasible(child)
        if when == "random":  # the random stream (sample_relative's de-duplication redraws a scored one)
            assert child.key == p.sample(np.random.default_rng(number)).key
        else:
            assert distance(child) == 1
    with pytest.raises(ValueError, match="when_exhausted must be one of mutate, random"):
        EvolutionSampler(p, when_exhausted="deepen")


def test_evolution_and_nsga2_accuracy_steps_under_a_budget(toy) -> None:  # type: ignore[no-untyped-def]
    """``budget_exploit=1`` with a budget: evolution's tournament over the whole population is won by the
    most accurate member (its child is a one-decision neighbour of it); the child kept by either
    strategy is the one of highest estimated accuracy, not of largest hypervolume gain. Without a
    budget the option is off."""
    budgeted = SearchProblem(
        toy.space(),
        lambda a: {"accuracy": toy.accuracy(a)},
        costs=lambda a: {"flops": toy.flops(a)},
        budgets=["200FLOPs"],
    )
    rng = np.random.default_rng(1)
    archs = [
        a for a in {a.key: a for a in (budgeted.space.sample(rng) for _ in range(60))}.values() if budgeted.feasible(a)
    ][:8]
    study = _study_with(budgeted, archs, toy.accuracy)
    done = study.get_trials()
    top = max(archs, key=toy.accuracy)
    s = EvolutionSampler(budgeted, population_size=8, tournament_size=8, n_candidates=1, budget_exploit=1.0)
    s._seen = {t.user_attrs["arch_key"] for t in done}
    for number in range(5):
        trial = study.ask()
        child = s.propose(study, study._storage.get_trial(trial._trial_id), np.random.default_rng(number), done)
        assert sum(child[k] != top[k] for k in top) <= 1  # 0: repaired back onto the budget
    n = NSGA2Sampler(budgeted, budget_exploit=1.0)
    low, high = budgeted.space.canonical(archs[0]), budgeted.space.canonical(archs[1])
    assert n._choose([(low, 0.2), (high, 0.9)], done, np.random.default_rng(0), exploit=True) == high
    assert NSGA2Sampler(_problem(toy), budget_exploit=1.0).budget_exploit == 0.0
    with pytest.raises(ValueError):
        EvolutionSampler(budgeted, budget_exploit=1.5)
