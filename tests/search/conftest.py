"""Fixtures of the search tests: a small enumerable toy space with a known accuracy table."""

from __future__ import annotations

import itertools
from types import SimpleNamespace

import numpy as np
import pytest

from autogtkd.search import SearchProblem
from autogtkd.space import Arch, ChoiceSpace


def toy_space() -> ChoiceSpace:
    return ChoiceSpace("toy", {"depth": [1, 2, 3, 4], "width": [8, 16, 24], "op": ["conv", "pool"]})


def toy_accuracy(arch: Arch) -> float:
    """A deterministic, non-monotone table: more depth/width helps, with diminishing returns."""
    base = 0.5 + 0.1 * np.log(arch["depth"]) + 0.004 * arch["width"] + (0.03 if arch["op"] == "conv" else 0.0)
    bump = 0.01 * ((arch["depth"] * 7 + arch["width"]) % 5)
    return float(min(1.0, base + bump))


def toy_flops(arch: Arch) -> float:
    return float(arch["depth"] * arch["width"] * (3 if arch["op"] == "conv" else 1))


def all_archs(space: ChoiceSpace) -> list[Arch]:
    names = [c.name for c in space.choices]
    return [space.canonical(dict(zip(names, v))) for v in itertools.product(*(c.options for c in space.choices))]


@pytest.fixture
def toy() -> SimpleNamespace:
    """The toy helpers: ``space()``, ``accuracy(arch)``, ``flops(arch)``, ``all_archs(space)``."""
    return SimpleNamespace(space=toy_space, accuracy=toy_accuracy, flops=toy_flops, all_archs=all_archs)


@pytest.fixture
def toy_problem() -> SearchProblem:
    space = toy_space()
    return SearchProblem(
        space,
        lambda a: {"accuracy": toy_accuracy(a)},
        costs=lambda a: {"flops": toy_flops(a), "params": float(a["width"])},
        budgets=["150FLOPs"],
        scorer="table",
    )
