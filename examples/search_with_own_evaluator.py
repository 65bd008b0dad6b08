"""Search your own space with your own evaluator: no supernet, no training inside autogtkd.

The space is a plain :class:`~autogtkd.space.ChoiceSpace` (4 x 4 x 3 x 2 = 96 networks). The
"evaluator" is a lookup table standing in for your own training script (any function
``arch -> {"accuracy": fraction, ...}`` works); the costs are a closed-form function, so the budget
is checked before anything is evaluated. Because the space is small, the script also enumerates it
and checks that the search found the true Pareto front.

Run:  python examples/search_with_own_evaluator.py [--out DIR]
"""

from __future__ import annotations

import argparse
import itertools
import math

import numpy as np

from autogtkd.search import SearchProblem, pareto_mask, search
from autogtkd.space import Arch, ChoiceSpace

SPACE = ChoiceSpace(
    "my-cnn",
    {"depth": [2, 4, 6, 8], "width": [16, 32, 48, 64], "kernel": [3, 5, 7], "attention": [False, True]},
    input_size=32,
    num_classes=10,
)


def my_costs(arch: Arch) -> dict[str, float]:
    """MACs and parameters of my network family (closed form, known before training)."""
    k2 = arch["kernel"] ** 2
    macs = arch["depth"] * (32 * 32) * arch["width"] ** 2 * k2 / 4 + (2e5 if arch["attention"] else 0)
    params = arch["depth"] * arch["width"] ** 2 * k2 + (4 * arch["width"] ** 2 if arch["attention"] else 0)
    return {"flops": macs, "params": params}


def my_accuracy_table(arch: Arch) -> dict[str, float]:
    """Stand-in for "train this architecture and report validation top-1" (deterministic)."""
    capacity = math.log(my_costs(arch)["flops"])
    quirk = 0.012 * ((arch["depth"] + arch["kernel"]) % 3) + (0.02 if arch["attention"] else 0.0)
    return {"accuracy": min(0.99, 0.35 + 0.035 * capacity + quirk), "train_minutes": arch["depth"] * 0.5}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=None, help="write pareto.json/csv/png there (default: nothing written)")
    parser.add_argument("--budget", default="20MFLOPs")
    args = parser.parse_args()

    problem = SearchProblem(
        SPACE, my_accuracy_table, costs=my_costs, objectives=("accuracy", "flops"), budgets=[args.budget],
        scorer="my-table",
    )
    result = search(problem, strategy="evolution", n_trials=30, seed=0, out=args.out,
                    strategy_options={"population_size": 12, "tournament_size": 4})
    print(f"scored {len(result.trials)} of {SPACE.size()} architectures")
    print(result.table())
    knee = result.knee()
    print(f"knee: {knee.arch.to_dict()}  top-1 {100 * knee.accuracy:.1f}%  {knee.flops / 1e6:.2f} MFLOPs")
    best = result.best_under("5MFLOPs")
    print("best under 5MFLOPs:", None if best is None else (best.arch.to_dict(), round(best.accuracy, 4)))

    # the space is enumerable: compare with the true front under the budget
    names = [c.name for c in SPACE.choices]
    every = [SPACE.canonical(dict(zip(names, v))) for v in itertools.product(*(c.options for c in SPACE.choices))]
    feasible = [a for a in every if problem.feasible(a)]
    pts = np.array([[-my_accuracy_table(a)["accuracy"], my_costs(a)["flops"]] for a in feasible])
    true_front = {a for a, keep in zip(feasible, pareto_mask(pts)) if keep}
    found = {c.arch for c in result.candidates}
    print(f"true front: {len(true_front)} architectures; found {len(found & true_front)} of them "
          f"({len(found - true_front)} reported that are not on it)")


if __name__ == "__main__":
    main()
