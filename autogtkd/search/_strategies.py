"""Search strategies behind one interface: a factory ``(problem, seed, **options) -> optuna sampler``.

* ``nsga2``: Optuna's NSGA-II (constrained domination through ``Trial.set_constraint``);
* ``tpe``: Optuna's multi-objective TPE (multivariate, constraint-aware);
* ``evolution``: aging (regularised) evolution with Pareto-rank tournament selection and
  constraint-aware mutation (:class:`EvolutionSampler`);
* ``random``: constraint-aware uniform sampling (:class:`ConstrainedRandomSampler`), the floor.

Every strategy proposes *all* decisions of the space as categorical parameters (scalars), so one
trial = one architecture. Custom samplers draw from ``np.random.default_rng([seed, trial.number])``:
reproducible, and different in every trial of a resumed or shared study.
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

from autogtkd.registry import Registry
from autogtkd.search._pareto import nondominated_ranks, to_minimisation
from autogtkd.search._problem import SearchProblem
from autogtkd.space import Arch

__all__ = [
    "STATUS_ATTR",
    "STRATEGIES",
    "ConstrainedRandomSampler",
    "EvolutionSampler",
    "create_sampler",
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


class _ArchSampler(BaseSampler):
    """Base of the custom samplers: propose a whole architecture in ``sample_relative``."""

    def __init__(self, problem: SearchProblem, *, seed: int = 0) -> None:
        self.problem = problem
        self.seed = int(seed)
        self._dists = distributions(problem)

    def _rng(self, trial: FrozenTrial) -> np.random.Generator:
        return np.random.default_rng([self.seed, trial.number])

    def infer_relative_search_space(self, study: Study, trial: FrozenTrial) -> dict[str, BaseDistribution]:
        return dict(self._dists)

    def sample_relative(
        self, study: Study, trial: FrozenTrial, search_space: dict[str, BaseDistribution]
    ) -> dict[str, Any]:
        arch = self.propose(study, trial, self._rng(trial))
        return {k: v for k, v in arch.items() if k in search_space}

    def sample_independent(
        self, study: Study, trial: FrozenTrial, param_name: str, param_distribution: BaseDistribution
    ) -> Any:
        assert isinstance(param_distribution, CategoricalDistribution)
        rng = np.random.default_rng([self.seed, trial.number, len(param_name)])
        return param_distribution.choices[int(rng.integers(len(param_distribution.choices)))]

    def propose(self, study: Study, trial: FrozenTrial, rng: np.random.Generator) -> Arch:
        raise NotImplementedError


class ConstrainedRandomSampler(_ArchSampler):
    """Uniform per-decision sampling under the budgets (bounded rejection, then repair)."""

    def propose(self, study: Study, trial: FrozenTrial, rng: np.random.Generator) -> Arch:
        return self.problem.sample(rng)


class EvolutionSampler(_ArchSampler):
    """Aging (regularised) evolution (Real et al. 2019) for several objectives.

    The population is the ``population_size`` most recent evaluated trials (the oldest die). Each
    proposal draws ``tournament_size`` members, keeps those of best non-dominated rank within the
    population (ties broken at random), and mutates it with :meth:`SearchProblem.mutate` (bounded
    retries, then repair toward smaller choices, so the child meets the budgets). Until the
    population is full, proposals are constraint-aware random samples.
    """

    def __init__(self, problem: SearchProblem, *, seed: int = 0, population_size: int = 16, tournament_size: int = 4) -> None:
        super().__init__(problem, seed=seed)
        if population_size < 2 or not 1 <= tournament_size <= population_size:
            raise ValueError("need population_size >= 2 and 1 <= tournament_size <= population_size")
        self.population_size = population_size
        self.tournament_size = tournament_size

    def propose(self, study: Study, trial: FrozenTrial, rng: np.random.Generator) -> Arch:
        done = evaluated_trials(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)))
        if len(done) < self.population_size:
            return self.problem.sample(rng)
        population = sorted(done, key=lambda t: t.number)[-self.population_size :]
        values = to_minimisation(np.array([t.values for t in population]), self.problem.maximise)
        ranks = nondominated_ranks(values)
        picks = rng.choice(len(population), size=self.tournament_size, replace=False)
        best = picks[ranks[picks] == ranks[picks].min()]
        parent = population[int(rng.choice(best))]
        return self.problem.mutate(Arch.from_dict(parent.user_attrs["arch"]), rng)


@STRATEGIES.register("nsga2")
def _nsga2(problem: SearchProblem, *, seed: int = 0, population_size: int = 16, **kw: Any) -> BaseSampler:
    return optuna.samplers.NSGAIISampler(population_size=population_size, seed=seed, **kw)


@STRATEGIES.register("tpe")
def _tpe(problem: SearchProblem, *, seed: int = 0, n_startup_trials: int = 10, **kw: Any) -> BaseSampler:
    return optuna.samplers.TPESampler(
        n_startup_trials=n_startup_trials, multivariate=True, seed=seed, **kw
    )


@STRATEGIES.register("evolution")
def _evolution(problem: SearchProblem, *, seed: int = 0, **kw: Any) -> BaseSampler:
    return EvolutionSampler(problem, seed=seed, **kw)


@STRATEGIES.register("random")
def _random(problem: SearchProblem, *, seed: int = 0, **kw: Any) -> BaseSampler:
    return ConstrainedRandomSampler(problem, seed=seed, **kw)


def list_strategies() -> list[str]:
    """Names of the registered strategies."""
    return STRATEGIES.list()


def create_sampler(name: str, problem: SearchProblem, *, seed: int = 0, **options: Any) -> BaseSampler:
    """The Optuna sampler of strategy ``name`` for ``problem``."""
    return STRATEGIES.create(name, problem=problem, seed=seed, **options)
