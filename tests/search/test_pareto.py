"""Pareto extraction, non-dominated sorting, hypervolume and knee against brute force."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from autogtkd.search import hypervolume, hypervolume_gains, knee_index, nondominated_ranks, pareto_mask, to_minimisation


def _brute_front(p: np.ndarray) -> np.ndarray:
    n = len(p)
    keep = np.ones(n, dtype=bool)
    for i in range(n):
        for j in range(n):
            if i != j and all(p[j] <= p[i]) and any(p[j] < p[i]):
                keep[i] = False
                break
    return keep


@pytest.mark.parametrize("m", [2, 3, 4])
@pytest.mark.parametrize("seed", range(5))
def test_pareto_mask_equals_brute_force(m: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    for p in (rng.random((60, m)), rng.integers(0, 5, (60, m)).astype(float)):  # ties included
        assert pareto_mask(p).tolist() == _brute_front(p).tolist()


def test_nondominated_ranks_peel_fronts() -> None:
    rng = np.random.default_rng(1)
    p = rng.integers(0, 6, (40, 3)).astype(float)
    ranks = nondominated_ranks(p)
    remaining = np.arange(len(p))
    r = 0
    while remaining.size:
        front = remaining[_brute_front(p[remaining])]
        assert sorted(np.flatnonzero(ranks == r).tolist()) == sorted(front.tolist())
        remaining = np.setdiff1d(remaining, front)
        r += 1


def _brute_hv(p: np.ndarray, k: int) -> float:
    """Integer points in [0, k): count unit cells [c, c+1)^m dominated by some point (ref = k)."""
    count = 0
    for c in itertools.product(range(k), repeat=p.shape[1]):
        if (p <= np.array(c)).all(1).any():
            count += 1
    return float(count)


@pytest.mark.parametrize("m,k", [(2, 12), (3, 7), (4, 5)])
@pytest.mark.parametrize("seed", range(4))
def test_hypervolume_equals_grid_count(m: int, k: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    p = rng.integers(0, k, (12, m)).astype(float)
    assert hypervolume(p, [k] * m) == pytest.approx(_brute_hv(p, k))


def test_hypervolume_ignores_points_beyond_reference() -> None:
    assert hypervolume(np.array([[2.0, 0.5], [0.5, 0.5]]), [1.0, 1.0]) == pytest.approx(0.25)
    assert hypervolume(np.zeros((0, 2)), [1.0, 1.0]) == 0.0


@pytest.mark.parametrize("m,k", [(2, 12), (3, 7)])
@pytest.mark.parametrize("seed", range(4))
def test_hypervolume_gains_equal_grid_counts(m: int, k: int, seed: int) -> None:
    """Each candidate's gain = grid cells it adds to the front's (duplicates, dominated points and
    points beyond the reference included)."""
    rng = np.random.default_rng(seed)
    front = rng.integers(0, k + 1, (8, m)).astype(float)
    cands = rng.integers(0, k + 2, (10, m)).astype(float)
    base = _brute_hv(front, k)
    expected = [_brute_hv(np.vstack([front, c[None]]), k) - base for c in cands]
    assert hypervolume_gains(front, [k] * m, cands) == pytest.approx(expected)


def test_hypervolume_gains_of_an_empty_front_is_each_box() -> None:
    gains = hypervolume_gains(np.zeros((0, 2)), [1.0, 1.0], np.array([[0.5, 0.5], [0.0, 0.9], [1.5, 0.0]]))
    assert gains == pytest.approx([0.25, 0.1, 0.0])


def test_to_minimisation_negates_maximised() -> None:
    assert to_minimisation(np.array([[0.9, 10.0]]), [True, False]).tolist() == [[-0.9, 10.0]]


def test_knee_of_convex_front() -> None:
    # front of (flops, error): the corner point (1, 1) is the obvious knee
    p = np.array([[0.0, 10.0], [1.0, 1.0], [10.0, 0.0], [5.0, 0.5]])
    assert knee_index(p) == 1
