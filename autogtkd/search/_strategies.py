"""Search strategies behind one interface: a factory ``(problem, seed, **options) -> optuna sampler``.

* ``tpe``: Optuna's multivariate, constraint-aware multi-objective TPE (:class:`TPEArchSampler`),
  after a constraint-aware random initial design and, once per cost, the cheapest architecture,
  never proposing an architecture already scored;
* ``evolution``: aging (regularised) evolution with Pareto-rank tournaments, cost-aware children
  and, once per cost, the cheapest architecture (:class:`EvolutionSampler`);
* ``nsga2``: steady-state NSGA-II -- elitist survival by non-dominated rank and crowding distance,
  binary tournaments, uniform crossover and mutation (:class:`NSGA2Sampler`);
* ``surrogate`` (the default of :func:`~autogtkd.search.search` and the CLI): model-based local
  search -- a bootstrapped regression tree of accuracy on ``space.encode`` (Thompson sampling)
  picks among neighbours of the best architectures the one it rates most accurate (nine trials in
  ten under a budget, every other trial without one) or, on the other trials, the neighbour of the
  front that would add most hypervolume, once per cost the cheapest architecture first
  (:class:`SurrogateSampler`);
* ``random``: constraint-aware uniform sampling (:class:`ConstrainedRandomSampler`), the floor.

Every strategy proposes *all* decisions of the space as categorical parameters (scalars), so one
trial = one architecture. The guided strategies start from the same random initial design as
``random`` (same seeded stream), so they equal it until their ``n_initial`` architectures are scored,
and they skip architectures that are already scored (a duplicate proposal would only cost a trial).
Custom samplers draw from ``np.random.default_rng([seed, trial.number])``: reproducible, and
different in every trial of a resumed or shared study.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import optuna
from optuna.distributions import BaseDistribution, CategoricalDistribution
from optuna.samplers import BaseSampler
from optuna.study import Study
from optuna.trial import FrozenTrial, TrialState

from autogtkd.exceptions import ConfigError
from autogtkd.registry import Registry
from autogtkd.search._pareto import hypervolume_gains, nondominated_ranks, to_minimisation
from autogtkd.search._problem import SearchProblem
from autogtkd.space import Arch

__all__ = [
    "STATUS_ATTR",
    "STRATEGIES",
    "ConstrainedRandomSampler",
    "EvolutionSampler",
    "NSGA2Sampler",
    "SurrogateSampler",
    "TPEArchSampler",
    "create_sampler",
    "crowding_distance",
    "distributions",
    "list_strategies",
]

#: User attribute holding a trial's status: evaluated | over_budget | duplicate | screened.
STATUS_ATTR = "status"

StrategyFactory = Callable[..., BaseSampler]
STRATEGIES: Registry[BaseSampler] = Registry("search strategy")


def distributions(problem: SearchProblem) -> dict[str, BaseDistribution]:
    """One categorical distribution per decision of the problem's space."""
    return {c.name: CategoricalDistribution(list(c.options)) for c in problem.space.choices}


def evaluated_trials(trials: list[FrozenTrial]) -> list[FrozenTrial]:
    """Complete trials whose architecture was really scored (not over budget, duplicate or screened)."""
    return [t for t in trials if t.state == TrialState.COMPLETE and t.user_attrs.get(STATUS_ATTR) == "evaluated"]


def claimed_keys(trials: list[FrozenTrial]) -> set[str]:
    """Keys of the architectures scored, screened or being scored (proposing one again is wasted)."""
    return {
        t.user_attrs["arch_key"]
        for t in trials
        if t.state in (TrialState.COMPLETE, TrialState.RUNNING) and t.user_attrs.get("arch_key")
    }


def crowding_distance(points: np.ndarray) -> np.ndarray:
    """NSGA-II crowding distance of each point among ``points`` (shape ``(n, m)``): the sum over
    objectives of the normalised gap between its neighbours; boundary points get ``inf``."""
    p = np.asarray(points, dtype=np.float64)
    n = p.shape[0]
    out = np.zeros(n)
    if n <= 2:
        return np.full(n, np.inf)
    for j in range(p.shape[1]):
        order = np.argsort(p[:, j], kind="stable")
        span = p[order[-1], j] - p[order[0], j]
        out[order[0]] = out[order[-1]] = np.inf
        if span > 0:
            out[order[1:-1]] += (p[order[2:], j] - p[order[:-2], j]) / span
    return out


def accuracy_step(number: int, share: float) -> bool:
    """Whether trial ``number`` is one of a ``share`` of trials spread evenly by number (``share=0.5``:
    the even numbers; ``1``: every trial; ``0``: none)."""
    return bool(np.floor(number * share + 1e-9) > np.floor((number - 1) * share + 1e-9))


def _accuracies(trials: list[FrozenTrial]) -> np.ndarray:
    """The recorded accuracy of each trial (0 when it has none)."""
    return np.array([float(t.user_attrs["metrics"].get("accuracy", 0.0)) for t in trials])


def _check(cond: bool, message: str) -> None:
    if not cond:
        raise ConfigError(message)


def _check_choice(name: str, value: object, choices: tuple[str, ...]) -> None:
    """An option that takes one of a few words: anything else is one line naming them."""
    _check(value in choices, f"{name} must be one of {', '.join(choices)}, not {value!r}")


class _ArchSampler(BaseSampler):
    """Base of the custom samplers: propose a whole architecture in ``sample_relative``.

    Args:
        problem: the search problem.
        seed: seeds the per-trial generators.
        n_initial: random (constraint-aware) architectures scored before the strategy takes over.
        dedupe_tries: proposals drawn per trial to find an architecture that is not scored yet;
            then as many one-decision mutations of the last one (``1``: no de-duplication).
        anchors: propose the cheap end of the front first (:meth:`_anchor`), where the strategy
            asks for it (on the trials that are not accuracy steps).
    """

    def __init__(
        self,
        problem: SearchProblem,
        *,
        seed: int = 0,
        n_initial: int = 0,
        dedupe_tries: int = 20,
        anchors: bool = False,
    ) -> None:
        _check(n_initial >= 0 and dedupe_tries >= 1, "need n_initial >= 0 and dedupe_tries >= 1")
        _check(isinstance(anchors, bool), f"anchors must be true or false, not {anchors!r}")
        self.problem = problem
        self.seed = int(seed)
        self.n_initial = int(n_initial)
        self.dedupe_tries = int(dedupe_tries)
        self.anchors = anchors
        self._dists = distributions(problem)
        self._seen: set[str] = set()

    def _rng(self, trial: FrozenTrial) -> np.random.Generator:
        return np.random.default_rng([self.seed, trial.number])

    def infer_relative_search_space(self, study: Study, trial: FrozenTrial) -> dict[str, BaseDistribution]:
        return dict(self._dists)

    def sample_relative(
        self, study: Study, trial: FrozenTrial, search_space: dict[str, BaseDistribution]
    ) -> dict[str, Any]:
        rng = self._rng(trial)
        trials = study.get_trials(deepcopy=False)
        done = sorted(evaluated_trials(trials), key=lambda t: t.number)
        if len(done) < self.n_initial:
            arch = self.problem.sample(rng)  # the same stream as ``random``
        else:
            seen = self._seen = claimed_keys(trials)
            arch = self.propose(study, trial, rng, done)
            for _ in range(self.dedupe_tries - 1):
                if arch.key not in seen:
                    break
                arch = self.propose(study, trial, rng, done)
            for _ in range(self.dedupe_tries if self.dedupe_tries > 1 else 0):
                if arch.key not in seen:
                    break
                arch = self._mutate(arch, rng, 0.0)  # the proposals keep repeating: a new neighbour
        return {k: v for k, v in arch.items() if k in search_space}

    def sample_independent(
        self, study: Study, trial: FrozenTrial, param_name: str, param_distribution: BaseDistribution
    ) -> Any:
        assert isinstance(param_distribution, CategoricalDistribution)
        rng = np.random.default_rng([self.seed, trial.number, len(param_name)])
        return param_distribution.choices[int(rng.integers(len(param_distribution.choices)))]

    def propose(self, study: Study, trial: FrozenTrial, rng: np.random.Generator, done: list[FrozenTrial]) -> Arch:
        """One proposal, given the evaluated trials ``done`` (in trial order)."""
        raise NotImplementedError

    # ------------------------------------------------------------------ shared variation
    def _objectives(self, done: list[FrozenTrial]) -> np.ndarray:
        return to_minimisation(np.array([t.values for t in done], dtype=np.float64), self.problem.maximise)

    def _points(self, archs: list[Arch], accuracy: list[float] | None = None) -> np.ndarray:
        """Objectives (minimisation form) of ``archs`` from their known costs and an ``accuracy``
        each (estimated; 0 when not given)."""
        accs = [0.0] * len(archs) if accuracy is None else accuracy
        return to_minimisation(
            np.array(
                [self.problem.values({**self.problem.costs(a), "accuracy": acc}) for a, acc in zip(archs, accs)],
                dtype=np.float64,
            ),
            self.problem.maximise,
        )

    def _best_by_improvement(
        self, candidates: list[tuple[Arch, float]], done: list[FrozenTrial], rng: np.random.Generator
    ) -> Arch:
        """The candidate ``(arch, estimated accuracy)`` whose point -- its costs are known before
        scoring, its accuracy estimated -- adds most hypervolume to the evaluated trials (objectives
        normalised to their range so far, reference 1.1); ties (often: no gain) broken at random."""
        if len(candidates) == 1 or "accuracy" not in self.problem.objectives:
            return candidates[int(rng.integers(len(candidates)))][0]
        pts = self._objectives(done)
        cand = self._points([a for a, _ in candidates], [acc for _, acc in candidates])
        lo, hi = pts.min(0), pts.max(0)
        span = np.where(hi > lo, hi - lo, 1.0)
        gain = hypervolume_gains((pts - lo) / span, np.full(pts.shape[1], 1.1), (cand - lo) / span)
        best = np.flatnonzero(gain >= gain.max() - 1e-12)
        return candidates[int(rng.choice(best))][0]

    def _choose(
        self, candidates: list[tuple[Arch, float]], done: list[FrozenTrial], rng: np.random.Generator, exploit: bool
    ) -> Arch:
        """An accuracy step keeps the candidate of highest estimated accuracy (ties at random), any
        other step the one adding most hypervolume (:meth:`_best_by_improvement`)."""
        if not exploit:
            return self._best_by_improvement(candidates, done, rng)
        est = np.array([a for _, a in candidates])
        return candidates[int(rng.choice(np.flatnonzero(est >= est.max() - 1e-12)))][0]

    def _mutate(self, arch: Arch, rng: np.random.Generator, prob: float, tries: int = 10) -> Arch:
        """A feasible mutant: each decision resampled with probability ``prob`` and at least one
        changed (``prob=0``: exactly one decision), retried ``tries`` times, then repaired."""
        child = self.problem.space.mutate(arch, rng, prob=prob)
        for _ in range(tries - 1):
            if self.problem.feasible(child):
                return child
            child = self.problem.space.mutate(arch, rng, prob=prob)
        return self.problem.repair(child, rng)

    def _anchor_of(self, done: list[FrozenTrial], rng: np.random.Generator) -> Arch | None:
        """:meth:`_anchor` of the evaluated trials ``done`` when ``anchors`` is on, else ``None``."""
        if not self.anchors:
            return None
        return self._anchor([Arch.from_dict(t.user_attrs["arch"]) for t in done], self._objectives(done), rng)

    def _anchor(self, archs: list[Arch], pts: np.ndarray, rng: np.random.Generator) -> Arch | None:
        """The end of a greedy descent on each cost objective in turn from the cheapest scored
        architecture (one-decision moves among feasible neighbours, costs only), when it is unscored.
        The cheapest architecture is always on the true front, and its costs are known before
        scoring: in practice one trial per cost objective, right after the initial design."""
        for j in self._cost_columns():
            arch, cost = archs[int(np.argmin(pts[:, j]))], float(pts[:, j].min())
            while True:
                near = [a for a in self._neighbours_of(arch) if self.problem.feasible(a)]
                if not near:
                    break
                costs = self._points(near)[:, j]
                if costs.min() >= cost:
                    break
                arch, cost = near[int(rng.choice(np.flatnonzero(costs == costs.min())))], float(costs.min())
            if arch.key not in self._seen:  # moved: a feasible neighbour (the start is scored)
                return arch
        return None

    def _neighbours_of(self, arch: Arch) -> list[Arch]:
        """Every one-decision change of ``arch`` (an inactive decision's change is the same network:
        not a neighbour)."""
        space = self.problem.space
        return [
            space.canonical({**arch, c.name: o})
            for c in space.choices
            if space.is_active(c.name, arch)
            for o in c.options
            if o != arch[c.name]
        ]

    def _exhausted(self, arch: Arch) -> bool:
        """Whether every one-decision neighbour of ``arch`` that meets the budgets is scored (or being
        scored): a local optimum that one-decision mutation cannot leave."""
        return all(a.key in self._seen or not self.problem.feasible(a) for a in self._neighbours_of(arch))

    def _cost_columns(self) -> list[int]:
        """Indices of the objectives other than accuracy (the costs, known before scoring)."""
        return [j for j, name in enumerate(self.problem.objectives) if name != "accuracy"]


class ConstrainedRandomSampler(_ArchSampler):
    """Uniform per-decision sampling under the budgets (bounded rejection, then repair)."""

    def __init__(self, problem: SearchProblem, *, seed: int = 0) -> None:
        super().__init__(problem, seed=seed, dedupe_tries=1)

    def propose(self, study: Study, trial: FrozenTrial, rng: np.random.Generator, done: list[FrozenTrial]) -> Arch:
        return self.problem.sample(rng)


_EVOLUTION_EXHAUSTED = ("mutate", "random")


class EvolutionSampler(_ArchSampler):
    """Aging (regularised) evolution (Real et al. 2019) for several objectives.

    After ``n_initial`` random architectures (default: ``population_size``), the population is the
    ``population_size`` most recent evaluated trials (the oldest die). Each proposal draws
    ``tournament_size`` members, keeps those of best non-dominated rank within the population (ties
    broken at random), and mutates the winner: each decision resampled with probability
    ``mutation_prob``, at least one changed (``0``, the default: exactly one decision -- the
    textbook mutation), until the child meets the budgets (10 tries, then repair).

    With ``n_candidates > 1`` (default 16; ``1`` with ``anchors=False`` and, under a budget,
    ``budget_exploit=0`` is the textbook algorithm) each proposal runs that many tournaments and mutations and keeps the
    new child that would add most hypervolume if it scored its parent's accuracy (its costs are
    known before scoring): the search fills gaps of the front's cost axis first.

    With budgets, a share ``budget_exploit`` (default 0.5; 0: the above only) of the proposals are
    *accuracy steps*: the tournament is won by accuracy and the child kept is the one whose parent is
    most accurate. On NAS-Bench-201 (docs/benchmarks_search.md, sixth round) 0.5 lowered the regret
    under a budget on all three accuracy columns (0.25-0.57 points at 100 scored) and kept the front
    under it.

    ``anchors`` (default ``True``): on a trial that is not an accuracy step, the cheap end of the
    front first (:meth:`_ArchSampler._anchor`: in practice one trial per cost objective, right after
    the initial design). On NAS-Bench-201 (docs/benchmarks_search.md, ninth round) it left one cell
    fewer below random search over the three accuracy columns (7 instead of 8; ImageNet16-120 4 -> 3)
    and tied elsewhere (hypervolume at 300 scored -0.0002 / +0.0014 / -0.0003).

    ``when_exhausted`` decides what an accuracy step does once the population's most accurate member
    is a local optimum of one-decision moves (:meth:`_ArchSampler._exhausted`: every neighbour that
    meets the budgets is scored): ``"mutate"`` (default) mutates the tournament winner as ever (the
    de-duplication then walks on from a scored child); ``"random"`` proposes a random architecture
    that meets the budgets (a random immigrant; the aging population then moves on from it if it is
    better).
    """

    def __init__(
        self,
        problem: SearchProblem,
        *,
        seed: int = 0,
        population_size: int = 50,
        tournament_size: int = 10,
        mutation_prob: float = 0.0,
        n_candidates: int = 16,
        budget_exploit: float = 0.5,
        n_initial: int | None = None,
        dedupe_tries: int = 20,
        anchors: bool = True,
        when_exhausted: str = "mutate",
    ) -> None:
        _check(n_candidates >= 1, "need n_candidates >= 1")
        _check_choice("when_exhausted", when_exhausted, _EVOLUTION_EXHAUSTED)
        _check(0.0 <= budget_exploit <= 1.0, "need 0 <= budget_exploit <= 1")
        _check(
            population_size >= 2 and 1 <= tournament_size <= population_size,
            "need population_size >= 2 and 1 <= tournament_size <= population_size",
        )
        _check(0.0 <= mutation_prob <= 1.0, "need 0 <= mutation_prob <= 1")
        super().__init__(
            problem,
            seed=seed,
            n_initial=population_size if n_initial is None else max(n_initial, 1),
            dedupe_tries=dedupe_tries,
            anchors=anchors,
        )
        self.population_size = population_size
        self.tournament_size = tournament_size
        self.mutation_prob = mutation_prob
        self.n_candidates = n_candidates
        self.budget_exploit = budget_exploit if problem.budgets else 0.0
        self.when_exhausted = when_exhausted

    def propose(self, study: Study, trial: FrozenTrial, rng: np.random.Generator, done: list[FrozenTrial]) -> Arch:
        exploit = accuracy_step(trial.number, self.budget_exploit)
        if not exploit and (anchor := self._anchor_of(done, rng)) is not None:
            return anchor
        population = done[-self.population_size :]
        acc = _accuracies(population)
        if (
            exploit
            and self.when_exhausted == "random"
            and self._exhausted(Arch.from_dict(population[int(np.argmax(acc))].user_attrs["arch"]))
        ):
            return self.problem.sample(rng)  # a random immigrant: the most accurate member is stuck
        # lower is better: non-dominated rank, or (accuracy step) minus accuracy
        order = -acc if exploit else nondominated_ranks(self._objectives(population))
        children: list[tuple[Arch, float]] = []
        for _ in range(self.n_candidates):
            picks = rng.choice(len(population), size=min(self.tournament_size, len(population)), replace=False)
            best = picks[order[picks] == order[picks].min()]
            p = int(rng.choice(best))
            child = self._mutate(Arch.from_dict(population[p].user_attrs["arch"]), rng, self.mutation_prob)
            if self.n_candidates == 1 or child.key not in self._seen:
                children.append((child, float(acc[p])))  # estimated: its parent's accuracy
        return self._choose(children, done, rng, exploit) if children else child


class NSGA2Sampler(_ArchSampler):
    """Steady-state NSGA-II (Deb et al. 2002) over whole architectures.

    After ``n_initial`` random architectures (default: ``population_size``), each proposal ranks
    *all* evaluated trials by non-dominated rank, then crowding distance, keeps the best
    ``population_size`` (elitist survival), picks two parents by binary tournaments on that order,
    applies uniform crossover with probability ``crossover_prob`` and mutation (each decision
    resampled with probability ``mutation_prob``, default ``1 / number of decisions``, at least one
    changed), and repairs the child onto the budgets. ``n_candidates`` works as in
    :class:`EvolutionSampler` (estimated accuracy: the parents' mean); its default here is 4, not 16:
    on NAS-Bench-201 (docs/benchmarks_search.md, "Candidates per proposal") 4 children per proposal
    kept NSGA-II's front spread (never below random search) and lowered its regret, where 16 made it
    greedy. ``budget_exploit`` works as in :class:`EvolutionSampler` (binary tournaments by accuracy).
    ``anchors`` (default ``False``) too: on NAS-Bench-201 (docs/benchmarks_search.md, ninth round) it
    raised the hypervolume at 50 scored (+0.007 to +0.011) but left more cells below random search
    (5 instead of 2 over the three accuracy columns), so it stays off.
    """

    def __init__(
        self,
        problem: SearchProblem,
        *,
        seed: int = 0,
        population_size: int = 20,
        crossover_prob: float = 0.9,
        mutation_prob: float | None = None,
        n_candidates: int = 4,
        budget_exploit: float = 0.5,
        n_initial: int | None = None,
        dedupe_tries: int = 20,
        anchors: bool = False,
    ) -> None:
        _check(population_size >= 2 and n_candidates >= 1, "need population_size >= 2 and n_candidates >= 1")
        _check(0.0 <= budget_exploit <= 1.0, "need 0 <= budget_exploit <= 1")
        _check(0.0 <= crossover_prob <= 1.0, "need 0 <= crossover_prob <= 1")
        _check(mutation_prob is None or 0.0 <= mutation_prob <= 1.0, "need 0 <= mutation_prob <= 1")
        super().__init__(
            problem,
            seed=seed,
            n_initial=population_size if n_initial is None else max(n_initial, 2),
            dedupe_tries=dedupe_tries,
            anchors=anchors,
        )
        self.population_size = population_size
        self.crossover_prob = crossover_prob
        n = len(problem.space.choices)
        self.mutation_prob = 1.0 / n if mutation_prob is None else mutation_prob
        self.n_candidates = n_candidates
        self.budget_exploit = budget_exploit if problem.budgets else 0.0

    def propose(self, study: Study, trial: FrozenTrial, rng: np.random.Generator, done: list[FrozenTrial]) -> Arch:
        exploit = accuracy_step(trial.number, self.budget_exploit)
        if not exploit and (anchor := self._anchor_of(done, rng)) is not None:
            return anchor
        values = self._objectives(done)
        ranks = nondominated_ranks(values)
        crowd = np.zeros(len(done))
        for r in np.unique(ranks):
            idx = np.flatnonzero(ranks == r)
            crowd[idx] = crowding_distance(values[idx])
        order = np.lexsort((-crowd, ranks))[: self.population_size]  # best first
        acc = _accuracies(done) if exploit else np.empty(0)  # read only by an accuracy step's tournaments

        def tournament() -> FrozenTrial:
            i, j = rng.choice(len(order), size=2, replace=len(order) < 2)
            if exploit:  # the more accurate of the two (ties: the better by rank and crowding)
                return done[order[min((i, j), key=lambda k: (-acc[order[k]], k))]]
            return done[order[min(i, j)]]

        children: list[tuple[Arch, float]] = []
        for _ in range(self.n_candidates):
            parents = [tournament()]
            child = Arch.from_dict(parents[0].user_attrs["arch"])
            if rng.random() < self.crossover_prob:
                parents.append(tournament())
                child = self.problem.space.crossover(child, Arch.from_dict(parents[1].user_attrs["arch"]), rng)
            child = self._mutate(child, rng, self.mutation_prob)
            if self.n_candidates == 1 or child.key not in self._seen:
                children.append((child, float(_accuracies(parents).mean())))
        return self._choose(children, done, rng, exploit) if children else child


class TPEArchSampler(_ArchSampler):
    """Optuna's multivariate multi-objective TPE (constraint-aware through ``Trial.set_constraint``),
    after ``n_initial`` constraint-aware random architectures (20; 10 is better at 20 scored on both
    NB201 columns but lowered the main job's front, docs/benchmarks_search.md "TPE's random start");
    a proposal that is already scored is redrawn (``dedupe_tries`` times), then mutated until it is
    new (see :class:`_ArchSampler`). ``anchors`` (default ``True``): the first trial after the
    initial design is the cheap end of the front, once per cost objective (:meth:`_ArchSampler._anchor`);
    on NAS-Bench-201 (docs/benchmarks_search.md, ninth round) that one trial per cost raised the
    hypervolume at 50 scored by 0.012-0.017 on all three accuracy columns, lowered the regret at 100
    on CIFAR-10 by 0.15 points, and left no cell below random search (2 before). ``n_ei_candidates``
    and other keyword options go to :class:`optuna.samplers.TPESampler`."""

    def __init__(
        self,
        problem: SearchProblem,
        *,
        seed: int = 0,
        n_initial: int = 20,
        n_ei_candidates: int = 24,
        dedupe_tries: int = 3,
        anchors: bool = True,
        **tpe_options: Any,
    ) -> None:
        super().__init__(problem, seed=seed, n_initial=max(n_initial, 1), dedupe_tries=dedupe_tries, anchors=anchors)
        self._tpe = optuna.samplers.TPESampler(
            n_startup_trials=1, n_ei_candidates=n_ei_candidates, multivariate=True, seed=seed, **tpe_options
        )

    def propose(self, study: Study, trial: FrozenTrial, rng: np.random.Generator, done: list[FrozenTrial]) -> Arch:
        if (anchor := self._anchor_of(done, rng)) is not None:
            return anchor
        params = self._tpe.sample_relative(study, trial, dict(self._dists))
        if not params:  # TPE needs one complete trial
            return self.problem.sample(rng)
        return self.problem.space.canonical(params)

    def before_trial(self, study: Study, trial: FrozenTrial) -> None:
        self._tpe.before_trial(study, trial)

    def after_trial(self, study: Study, trial: FrozenTrial, state: TrialState, values: Any) -> None:
        self._tpe.after_trial(study, trial, state, values)


_EXHAUSTED = ("random", "widen", "deepen")
_FRONT_STEPS = ("hypervolume", "epsilon")


class SurrogateSampler(_ArchSampler):
    """Model-based local search: a surrogate of accuracy chooses among neighbours of what scored well.

    After ``n_initial`` random architectures, each proposal fits one regression tree of accuracy on
    ``space.encode`` of the evaluated architectures, on a bootstrap sample (a draw from an ensemble:
    Thompson sampling, so the proposals explore where the model is unsure), and rates candidates
    with it. Candidates: ``n_neighbours`` one-decision mutations (two with probability
    ``two_decisions``) of the parents that meet the budgets and are not scored yet. A share
    ``exploit`` of the trials (spread evenly by trial number) are *accuracy steps*: the parents are
    the ``top_k`` most accurate architectures and the proposal is the candidate the tree rates most
    accurate. The other trials are *front steps*: the parents are the first two non-dominated ranks,
    ``n_random`` random architectures join the candidates, and the proposal is the one whose point
    -- known costs, rated accuracy -- adds most hypervolume to the evaluated front. Ties (often: no
    gain) are broken at random. ``exploit=None`` (default) is 0.5, or ``budget_exploit`` (default
    0.9: nine accuracy steps in ten) when the problem has budgets, where the question is mostly the
    best architecture that fits. On NAS-Bench-201 (docs/benchmarks_search.md, "A model-based
    strategy") 0.9 lowered the regret under a budget against 0.5 and kept the front under it above
    random search's, which 1.0 (accuracy steps only, a little lower regret at 100) did not.
    When an accuracy step's candidates run out (every such neighbour scored -- on NAS-Bench-201 most
    accuracy steps after the first ~100 trials), ``when_exhausted`` decides: ``"deepen"`` (default)
    tries two-decision neighbours of the same parents, then widens; ``"widen"`` doubles the parents
    (the ``2 top_k``, ``4 top_k``, ... most accurate) until a neighbour is new; ``"random"`` proposes
    a random architecture (the behaviour before the fifth round of docs/benchmarks_search.md, where
    ``"deepen"`` lowered the regret under a budget on all three accuracy columns: by 0.14 points at
    300 scored on the held-out one).
    ``front_step`` decides what a front step does: ``"hypervolume"`` (default, the above) or
    ``"epsilon"`` (the epsilon-constraint scalarisation): draw one member of the scored front at
    random, cap every cost objective at its costs, and make an accuracy step under that cap
    (parents the ``top_k`` most accurate scored architectures within it, candidates their neighbours
    within it), so every part of the front's cost axis is pushed up, not only the most accurate end.
    ``anchors`` (default ``True``) adds the cheap end of the front: a front step first descends, for
    each cost objective, from the cheapest scored architecture to the cheapest one-decision neighbour
    (ties at random) while that lowers the cost -- costs only, nothing scored on the way -- and
    proposes the end when it is new and meets the budgets (in practice once per cost objective,
    right after the initial design): the cheapest architecture is always on the true front. On
    NAS-Bench-201 (docs/benchmarks_search.md, eighth round) it raised the hypervolume ratio at 300
    scored on the two tuning columns (ImageNet16-120: 5 of 9 problems at 0.995 or more instead of 1)
    and tied on the held-out one; ``False`` is the fifth round's form.
    Needs an ``accuracy`` objective; without one it mutates a random front member.

    Costs are computed for every candidate (``problem.costs``), so cheap cost functions (a table,
    a FLOPs count, a latency predictor) suit it; the model costs milliseconds per trial.
    """

    def __init__(
        self,
        problem: SearchProblem,
        *,
        seed: int = 0,
        n_initial: int = 20,
        n_neighbours: int = 128,
        n_random: int = 16,
        two_decisions: float = 0.0,
        exploit: float | None = None,
        budget_exploit: float = 0.9,
        top_k: int = 3,
        when_exhausted: str = "deepen",
        front_step: str = "hypervolume",
        anchors: bool = True,
        dedupe_tries: int = 3,
    ) -> None:
        _check(n_neighbours >= 1 and n_random >= 0 and top_k >= 1, "need n_neighbours >= 1, n_random >= 0, top_k >= 1")
        _check_choice("when_exhausted", when_exhausted, _EXHAUSTED)
        _check_choice("front_step", front_step, _FRONT_STEPS)
        _check(0.0 <= two_decisions <= 1.0, "need 0 <= two_decisions <= 1")
        _check(
            0.0 <= budget_exploit <= 1.0 and (exploit is None or 0.0 <= exploit <= 1.0),
            "need 0 <= exploit <= 1 and 0 <= budget_exploit <= 1",
        )
        super().__init__(problem, seed=seed, n_initial=max(n_initial, 2), dedupe_tries=dedupe_tries, anchors=anchors)
        self.n_neighbours = n_neighbours
        self.n_random = n_random
        self.two_decisions = two_decisions
        self.exploit = (budget_exploit if problem.budgets else 0.5) if exploit is None else float(exploit)
        self.top_k = top_k
        self.when_exhausted = when_exhausted
        self.front_step = front_step

    def _neighbours(
        self,
        parents: list[Arch],
        rng: np.random.Generator,
        two: float | None = None,
        fits: Callable[[Arch], bool] | None = None,
    ) -> dict[str, Arch]:
        """Unscored, feasible one-decision mutations of ``parents`` (two decisions with probability
        ``two``, default ``two_decisions``) that pass ``fits`` too, from ``n_neighbours`` draws."""
        space, pool = self.problem.space, {}
        two = self.two_decisions if two is None else two
        for _ in range(self.n_neighbours):
            child = space.mutate(parents[int(rng.integers(len(parents)))], rng, prob=0.0)
            if two and rng.random() < two:
                child = space.mutate(child, rng, prob=0.0)
            if (
                child.key not in self._seen
                and child.key not in pool
                and self.problem.feasible(child)
                and (fits is None or fits(child))
            ):
                pool[child.key] = child
        return pool

    def _accuracy_pool(
        self, ranked: list[Arch], rng: np.random.Generator, fits: Callable[[Arch], bool] | None = None
    ) -> dict[str, Arch]:
        """An accuracy step's candidates: neighbours of the ``top_k`` first of ``ranked`` (most
        accurate first) that pass ``fits``; when none is new, what ``when_exhausted`` says."""
        pool = self._neighbours(ranked[: self.top_k], rng, fits=fits)
        if not pool and self.when_exhausted != "random":
            if self.when_exhausted == "deepen":  # two-decision neighbours of the same parents first
                pool = self._neighbours(ranked[: self.top_k], rng, two=1.0, fits=fits)
            k = self.top_k
            while not pool and k < len(ranked):  # widen: the 2k, 4k, ... most accurate
                k *= 2
                pool = self._neighbours(ranked[:k], rng, fits=fits)
        return pool

    def propose(self, study: Study, trial: FrozenTrial, rng: np.random.Generator, done: list[FrozenTrial]) -> Arch:
        from sklearn.tree import DecisionTreeRegressor

        archs = [Arch.from_dict(t.user_attrs["arch"]) for t in done]
        pts = self._objectives(done)
        ranks = nondominated_ranks(pts)
        front = [a for a, r in zip(archs, ranks) if r < 2]
        if "accuracy" not in self.problem.objectives:
            return self._mutate(front[int(rng.integers(len(front)))], rng, 0.0)
        acc = _accuracies(done)
        exploit = accuracy_step(trial.number, self.exploit)
        if not exploit and self.anchors and (anchor := self._anchor(archs, pts, rng)) is not None:
            return anchor
        by_acc = np.argsort(-acc, kind="stable")
        if exploit:
            pool = self._accuracy_pool([archs[i] for i in by_acc], rng)
        elif self.front_step == "epsilon":  # an accuracy step under a random front member's costs
            exploit = True
            cost = self._cost_columns()
            cap = pts[int(rng.choice(np.flatnonzero(ranks == 0))), cost]
            within = [archs[i] for i in by_acc if (pts[i, cost] <= cap).all()]
            pool = self._accuracy_pool(within, rng, fits=lambda a: bool((self._points([a])[0, cost] <= cap).all()))
        else:
            pool = self._neighbours(front, rng)
        for _ in range(0 if exploit else self.n_random):
            arch = self.problem.sample(rng)
            if arch.key not in self._seen:
                pool.setdefault(arch.key, arch)
        cands = list(pool.values())
        if not cands:
            return self.problem.sample(rng)
        boot = rng.integers(len(done), size=len(done))
        space = self.problem.space
        tree = DecisionTreeRegressor(random_state=int(rng.integers(2**31))).fit(
            space.encode_many(archs)[boot], acc[boot]
        )
        rated = tree.predict(space.encode_many(cands))
        return self._choose(list(zip(cands, rated.tolist())), done, rng, exploit)


@STRATEGIES.register("tpe")
def _tpe(problem: SearchProblem, *, seed: int = 0, **kw: Any) -> BaseSampler:
    return TPEArchSampler(problem, seed=seed, **kw)


@STRATEGIES.register("evolution")
def _evolution(problem: SearchProblem, *, seed: int = 0, **kw: Any) -> BaseSampler:
    return EvolutionSampler(problem, seed=seed, **kw)


@STRATEGIES.register("nsga2")
def _nsga2(problem: SearchProblem, *, seed: int = 0, **kw: Any) -> BaseSampler:
    return NSGA2Sampler(problem, seed=seed, **kw)


@STRATEGIES.register("surrogate")
def _surrogate(problem: SearchProblem, *, seed: int = 0, **kw: Any) -> BaseSampler:
    return SurrogateSampler(problem, seed=seed, **kw)


@STRATEGIES.register("random")
def _random(problem: SearchProblem, *, seed: int = 0, **kw: Any) -> BaseSampler:
    return ConstrainedRandomSampler(problem, seed=seed, **kw)


def list_strategies() -> list[str]:
    """Names of the registered strategies."""
    return STRATEGIES.list()


def create_sampler(name: str, problem: SearchProblem, *, seed: int = 0, **options: Any) -> BaseSampler:
    """The Optuna sampler of strategy ``name`` for ``problem``; an option the strategy does not take
    raises :class:`~autogtkd.exceptions.ConfigError` (as does a value out of range)."""
    try:
        return STRATEGIES.create(name, problem=problem, seed=seed, **options)
    except TypeError as exc:
        if "unexpected keyword argument" not in str(exc):
            raise
        raise ConfigError(f"strategy {name!r}: {exc}") from None
