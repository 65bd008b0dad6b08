"""Pareto fronts, non-dominated sorting, hypervolume and the knee point (all in minimisation form).

Every function here takes a ``(n, m)`` array of objective values that are **minimised** (negate
accuracy first, or use :func:`to_minimisation`). Sizes are small (hundreds of points, 2-4
objectives), so plain O(n^2 m) code is used and checked against brute force in the tests.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["hypervolume", "hypervolume_gains", "knee_index", "nondominated_ranks", "pareto_mask", "to_minimisation"]


def to_minimisation(values: np.ndarray, maximise: Sequence[bool]) -> np.ndarray:
    """Negate the columns that are maximised. ``values``: shape ``(n, m)``; returns ``(n, m)`` floats."""
    v = np.asarray(values, dtype=np.float64).reshape(-1, len(maximise))
    sign = np.where(np.asarray(maximise, dtype=bool), -1.0, 1.0)
    return v * sign


def _dominates(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``out[i, j]``: point ``a[i]`` dominates ``b[j]`` (<= everywhere, < somewhere). Shapes (n,m),(k,m)->(n,k)."""
    le = (a[:, None, :] <= b[None, :, :]).all(-1)
    lt = (a[:, None, :] < b[None, :, :]).any(-1)
    return np.asarray(le & lt, dtype=bool)


def pareto_mask(points: np.ndarray) -> np.ndarray:
    """Boolean mask of the non-dominated rows of ``points`` (shape ``(n, m)``, minimised).

    Duplicated points are all kept (none dominates the other).

    Example:
        >>> pareto_mask(np.array([[1.0, 2.0], [2.0, 1.0], [2.0, 2.0]])).tolist()
        [True, True, False]
    """
    p = np.asarray(points, dtype=np.float64)
    if p.shape[0] == 0:
        return np.zeros(0, dtype=bool)
    return np.asarray(~_dominates(p, p).any(0), dtype=bool)


def nondominated_ranks(points: np.ndarray) -> np.ndarray:
    """Non-dominated sorting: rank 0 is the Pareto front, rank 1 the front of the rest, ...; shape ``(n,)``."""
    p = np.asarray(points, dtype=np.float64)
    ranks = np.full(p.shape[0], -1, dtype=np.int64)
    dom = _dominates(p, p)  # (n, n)
    remaining = np.ones(p.shape[0], dtype=bool)
    rank = 0
    while remaining.any():
        dominated = dom[remaining][:, remaining].any(0)
        idx = np.flatnonzero(remaining)[~dominated]
        ranks[idx] = rank
        remaining[idx] = False
        rank += 1
    return ranks


def hypervolume(points: np.ndarray, reference: Sequence[float] | np.ndarray) -> float:
    """Exact hypervolume dominated by ``points`` (minimised) and bounded by ``reference``.

    Points not strictly better than the reference in every objective contribute nothing. Uses
    recursive slicing over the last objective (exact for any number of objectives; fast enough for
    the fronts of a search: tens of points, 2-4 objectives).

    Example:
        >>> hypervolume(np.array([[1.0, 2.0], [2.0, 1.0]]), [3.0, 3.0])
        3.0
    """
    ref = np.asarray(reference, dtype=np.float64)
    p = np.asarray(points, dtype=np.float64).reshape(-1, ref.size)
    p = p[(p < ref).all(1)]
    if p.shape[0] == 0:
        return 0.0
    return _hv(p[pareto_mask(p)], ref)


def _hv(p: np.ndarray, ref: np.ndarray) -> float:
    if p.shape[1] == 1:
        return float(ref[0] - p[:, 0].min())
    if p.shape[1] == 2:
        order = np.argsort(p[:, 0], kind="stable")
        xs, ys = p[order, 0], p[order, 1]
        total, best_y = 0.0, ref[1]
        for x, y in zip(xs, ys):
            if y < best_y:
                total += (ref[0] - x) * (best_y - y)
                best_y = y
        return float(total)
    # slice along the last objective: between consecutive values, the (m-1)-D volume is constant
    order = np.argsort(p[:, -1], kind="stable")
    p = p[order]
    total = 0.0
    for i in range(p.shape[0]):
        upper = p[i + 1, -1] if i + 1 < p.shape[0] else ref[-1]
        depth = upper - p[i, -1]
        if depth > 0:
            head = p[: i + 1, :-1]
            total += depth * _hv(head[pareto_mask(head)], ref[:-1])
    return float(total)


def hypervolume_gains(front: np.ndarray, reference: Sequence[float] | np.ndarray, candidates: np.ndarray) -> np.ndarray:
    """Hypervolume each candidate alone would add to ``front`` (all minimised), shape ``(k,)``.

    ``front``: ``(n, m)`` points (dominated ones are ignored); ``candidates``: ``(k, m)``. With two
    objectives the gains are computed at once (area under the front's staircase, O(k n)); with more,
    one exact :func:`hypervolume` per candidate.

    Example:
        >>> hypervolume_gains(np.array([[1.0, 2.0]]), [3.0, 3.0], np.array([[2.0, 1.0], [2.0, 2.5]])).tolist()
        [1.0, 0.0]
    """
    ref = np.asarray(reference, dtype=np.float64)
    f = np.asarray(front, dtype=np.float64).reshape(-1, ref.size)
    c = np.asarray(candidates, dtype=np.float64).reshape(-1, ref.size)
    f = f[(f < ref).all(1)]
    f = f[pareto_mask(f)]
    if ref.size != 2:
        base = hypervolume(f, ref)
        return np.array([hypervolume(np.vstack([f, x[None]]), ref) - base for x in c])
    f = f[np.argsort(f[:, 0], kind="stable")]  # staircase: x ascending, y descending
    left = np.concatenate([[-np.inf], f[:, 0]])  # segment i spans [left_i, right_i) at height level_i
    right = np.concatenate([f[:, 0], [np.inf]])
    level = np.concatenate([[ref[1]], f[:, 1]])
    width = np.clip(np.minimum(right[None], ref[0]) - np.maximum(left[None], c[:, :1]), 0.0, None)
    height = np.clip(np.minimum(level[None], ref[1]) - c[:, 1:2], 0.0, None)
    return np.asarray((width * height).sum(1), dtype=np.float64)


def knee_index(points: np.ndarray) -> int:
    """Index of the knee of a front (minimised, shape ``(n, m)``): the point farthest below the
    hyperplane through the per-objective extremes, after normalising each objective to [0, 1].

    With two objectives this is the classic "maximum distance to the line joining the extremes";
    on a straight front every point ties and the point closest to the utopia point wins.
    """
    p = np.asarray(points, dtype=np.float64)
    if p.shape[0] == 0:
        raise ValueError("knee_index of an empty front")
    lo, hi = p.min(0), p.max(0)
    span = np.where(hi > lo, hi - lo, 1.0)
    z = (p - lo) / span  # (n, m) in [0, 1]
    # the hyperplane sum(z) = 1 passes through every extreme point (1 in one objective, 0 elsewhere)
    below = 1.0 - z.sum(1)
    best = below.max()
    ties = np.flatnonzero(np.isclose(below, best))
    return int(ties[np.argmin(np.linalg.norm(z[ties], axis=1))])
