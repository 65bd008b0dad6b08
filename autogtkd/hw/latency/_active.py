"""Active sampling: which architectures to measure next so that fewer measurements are needed.

Query-by-committee with a coverage bonus. A committee of ``committee`` regressors of the kind the
predictor would choose is fitted on bootstrap resamples of the measurements; each candidate gets

    score = d / max(d) + coverage_weight * u / max(u)
    d = std(committee predictions) / mean(committee predictions)    (disagreement)
    u = number of its layer signatures not measured yet             (new look-up-table entries)

and candidates are picked greedily; after each pick its signatures count as covered, so a batch
spreads over the look-up table instead of repeating one uncertain region.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from autogtkd.exceptions import PredictorError
from autogtkd.hw.latency._features import ArchFeaturizer
from autogtkd.hw.latency._models import LatencyRegressor
from autogtkd.space import Arch, SearchSpace

__all__ = ["sample_archs", "suggest_archs"]


def sample_archs(space: SearchSpace, n: int, rng: np.random.Generator, *, include_extremes: bool = True) -> list[Arch]:
    """``n`` distinct architectures: the smallest and largest first (if asked), then random samples.

    Stops early when the space has fewer than ``n`` distinct members (after ``50 n`` draws).
    """
    out: list[Arch] = []
    seen: set[Arch] = set()
    if include_extremes:
        for a in (space.smallest(), space.largest()):
            if a not in seen and len(out) < n:
                out.append(a)
                seen.add(a)
    tries = 0
    while len(out) < n and tries < 50 * max(n, 1):
        a = space.sample(rng)
        tries += 1
        if a not in seen:
            out.append(a)
            seen.add(a)
    return out


def suggest_archs(
    space: SearchSpace,
    archs: Sequence[Mapping[str, Any]],
    latency_ms: Sequence[float] | np.ndarray,
    n: int,
    *,
    rng: np.random.Generator,
    candidates: Sequence[Mapping[str, Any]] | None = None,
    pool_size: int = 1000,
    committee: int = 5,
    coverage_weight: float = 1.0,
) -> list[Arch]:
    """The ``n`` architectures to measure next (see the module docstring).

    Args:
        space: the search space.
        archs: architectures measured so far (at least 5).
        latency_ms: their latencies, shape ``(len(archs),)``.
        n: how many to suggest.
        rng: randomness for the candidate pool and the bootstrap.
        candidates: where to choose from (default: ``pool_size`` random architectures); measured
            ones are skipped.
        committee: bootstrap committee size.
        coverage_weight: weight of the new-signature bonus.
    """
    measured = [space.canonical(a) for a in archs]
    y = np.asarray(latency_ms, dtype=np.float64)
    if len(measured) < 5:
        raise PredictorError(f"active sampling needs at least 5 measurements, got {len(measured)}")
    done = set(measured)
    pool = [space.canonical(a) for a in candidates] if candidates is not None else sample_archs(
        space, pool_size, rng, include_extremes=False)
    pool = list(dict.fromkeys(a for a in pool if a not in done))
    if not pool or n <= 0:
        return []
    feat = ArchFeaturizer.fit(space, measured)
    X, Xp = feat.transform(measured), feat.transform(pool)
    kind = "lut" if feat.n_lut else "ridge"
    chooser = LatencyRegressor(model=kind, n_analytic=feat.n_analytic, n_lut=feat.n_lut, cv=3, few_shot_max=0).fit(X, y)
    preds = np.empty((committee, len(pool)))
    for m in range(committee):
        idx = rng.integers(0, len(measured), len(measured))
        est, log_t, cols = chooser._fit_one(chooser.model_, chooser.params_, X[idx], y[idx])
        preds[m] = chooser._predict_one(est, log_t, cols, Xp)
    mean = np.abs(preds.mean(axis=0))
    disagreement = preds.std(axis=0) / np.where(mean > 0, mean, 1.0)
    has_lut = callable(getattr(space, "layer_costs", None))
    pool_sigs = [[c.signature for c in space.layer_costs(a)] for a in pool] if has_lut else [[] for _ in pool]  # type: ignore[attr-defined]
    covered = set(feat.signatures)
    d = disagreement / max(float(disagreement.max()), 1e-12)
    chosen: list[int] = []
    for _ in range(min(n, len(pool))):
        unseen = np.array([len(set(sigs) - covered) for sigs in pool_sigs], dtype=np.float64)
        u = unseen / unseen.max() if unseen.max() > 0 else unseen
        score = d + coverage_weight * u
        score[chosen] = -np.inf
        best = int(np.argmax(score))
        chosen.append(best)
        covered.update(pool_sigs[best])
    return [pool[i] for i in chosen]
