"""Multi-objective search over a search space: problem, strategies, Optuna study, Pareto results.

Example:
    >>> from autogtkd.search import SearchProblem, search
    >>> from autogtkd.space import ChoiceSpace
    >>> space = ChoiceSpace("toy", {"depth": [1, 2, 3], "width": [8, 16]})
    >>> problem = SearchProblem(space, lambda a: {"accuracy": 0.1 * a["depth"] + a["width"] / 100},
    ...                         costs=lambda a: {"flops": a["depth"] * a["width"]})
    >>> result = search(problem, strategy="random", n_trials=6, seed=0)
    >>> len(result.trials)
    6
"""

from autogtkd.search._pareto import (
    hypervolume,
    hypervolume_gains,
    knee_index,
    nondominated_ranks,
    pareto_mask,
    to_minimisation,
)
from autogtkd.search._plot import AXIS_METRICS, plot_front, plot_fronts
from autogtkd.search._problem import OBJECTIVES, LatencyModel, SearchProblem
from autogtkd.search._results import Candidate, SearchResult
from autogtkd.search._search import DEFAULT_STUDY, Prescreen, Rescore, search
from autogtkd.search._strategies import (
    STRATEGIES,
    ConstrainedRandomSampler,
    EvolutionSampler,
    create_sampler,
    list_strategies,
)
from autogtkd.search._study import collect_result, load_result, open_storage, study_result

__all__ = [
    "AXIS_METRICS",
    "DEFAULT_STUDY",
    "OBJECTIVES",
    "STRATEGIES",
    "Candidate",
    "ConstrainedRandomSampler",
    "EvolutionSampler",
    "LatencyModel",
    "Prescreen",
    "Rescore",
    "SearchProblem",
    "SearchResult",
    "collect_result",
    "create_sampler",
    "hypervolume",
    "hypervolume_gains",
    "knee_index",
    "list_strategies",
    "load_result",
    "nondominated_ranks",
    "open_storage",
    "pareto_mask",
    "plot_front",
    "plot_fronts",
    "search",
    "study_result",
    "to_minimisation",
]
