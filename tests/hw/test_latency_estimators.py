"""scikit-learn estimator contract of the latency regressors (``parametrize_with_checks``).

No check is skipped by us. sklearn itself skips a few (shown as skipped by pytest) because they
cannot apply here: the pandas-input checks (pandas is not installed) and the array-API checks
(``SCIPY_ARRAY_API`` is unset). ``NonNegativeLinearRegressor``, ``FactorisedLUTRegressor`` (here without a layout: every column
free) and ``TransferLinearRegressor`` (here without priors: least squares) accept sample weights and pass the weight-equivalence checks; ``LatencyRegressor`` takes none, so sklearn does not run them for it.
``NonNegativeLinearRegressor`` declares ``poor_score`` (its coefficients are constrained to be
>= 0, so it cannot fit targets that fall with a feature; the score check is relaxed by sklearn).

``LatencyRegressor(candidates=("lut", "analytic", "ridge"), cv=3)`` keeps the cross-validated
selection but over cheap candidates, so the checks stay fast; the tree candidates are tested below.
"""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.utils.estimator_checks import parametrize_with_checks

from autogtkd.hw.latency import (
    LOSSES,
    FactorisedLUTRegressor,
    LatencyRegressor,
    NonNegativeLinearRegressor,
    TransferLinearRegressor,
)
from autogtkd.hw.latency._models import huber_refit

ESTIMATORS = [
    NonNegativeLinearRegressor(),
    NonNegativeLinearRegressor(alpha=0.1, n_free=1),
    FactorisedLUTRegressor(),
    TransferLinearRegressor(),
    LatencyRegressor(model="ridge"),
    LatencyRegressor(candidates=("lut", "analytic", "ridge"), cv=3),
    LatencyRegressor(model="extra_trees"),
    LatencyRegressor(candidates=("analytic", "lut"), loss="huber", cv=3),
]


@parametrize_with_checks(ESTIMATORS)
def test_sklearn_contract(estimator, check):  # type: ignore[no-untyped-def]
    check(estimator)


def test_nonnegative_coefficients_and_exact_recovery() -> None:
    rng = np.random.default_rng(0)
    X = rng.integers(0, 4, size=(80, 6)).astype(float)
    w = np.array([0.5, 0.0, 1.5, 2.0, 0.1, 0.0])
    y = X @ w + 0.3
    m = NonNegativeLinearRegressor().fit(X, y)
    assert np.all(m.coef_ >= 0)
    np.testing.assert_allclose(m.coef_, w, atol=1e-8)
    assert m.intercept_ == pytest.approx(0.3, abs=1e-8)
    # a target that falls with a feature cannot get a negative coefficient
    m2 = NonNegativeLinearRegressor().fit(X, -X[:, 0] + 10)
    assert m2.coef_[0] == 0.0


def test_ridge_penalty_spares_free_columns() -> None:
    rng = np.random.default_rng(1)
    X = rng.random((50, 3))
    y = X @ [2.0, 1.0, 1.0]
    heavy = NonNegativeLinearRegressor(alpha=100.0, n_free=1, fit_intercept=False).fit(X, y)
    assert heavy.coef_[0] > 1.0 and heavy.coef_[1:].max() < 0.2


def test_auto_picks_the_generating_model_family() -> None:
    rng = np.random.default_rng(2)
    X = rng.integers(0, 3, size=(90, 8)).astype(float)
    y = X @ rng.uniform(0.1, 1.0, 8) + 0.5  # additive, positive: the look-up table model is exact
    reg = LatencyRegressor(n_lut=8).fit(X, y)
    assert reg.model_ == "lut" and reg.few_shot_
    assert set(reg.cv_scores_) >= {"ridge", "lut(alpha=0.001)"}
    np.testing.assert_allclose(reg.predict(X), y, rtol=0.01)


def test_unknown_model_kind_lists_valid_ones() -> None:
    from autogtkd.exceptions import UnknownNameError

    with pytest.raises(UnknownNameError, match="valid: analytic, extra_trees, factorised, gbr, lut, rf, ridge"):
        LatencyRegressor(model="svm").fit(np.ones((10, 2)), np.arange(10.0) + 1)


@pytest.mark.slow
def test_many_shot_auto_tries_tree_models() -> None:
    rng = np.random.default_rng(3)
    X = rng.random((130, 4))
    y = np.exp(np.sin(3 * X[:, 0]) + X[:, 1] * X[:, 2])  # not additive: trees should win
    reg = LatencyRegressor().fit(X, y)
    assert not reg.few_shot_
    assert {"gbr", "rf", "extra_trees"} <= set(reg.cv_scores_)
    assert reg.model_ in ("gbr", "rf", "extra_trees")


def _rank_one_table(rng: np.random.Generator, n: int) -> tuple[np.ndarray, tuple[tuple[int, int], ...], np.ndarray]:
    """4 decisions x 3 shared options, one free column and one ignored (count) column."""
    scales, costs = np.array([1.0, 2.0, 0.5, 3.0]), np.array([0.0, 1.0, 4.0])
    choice = rng.integers(0, 3, size=(n, 4))
    onehot = np.zeros((n, 12))
    onehot[np.arange(n)[:, None], np.arange(4) * 3 + choice] = 1.0
    width = rng.integers(1, 4, size=(n, 1)).astype(float)
    count = (choice == 2).sum(axis=1, keepdims=True).astype(float)
    X = np.hstack([onehot, width, count])
    layout = tuple((d, o) for d in range(4) for o in range(3)) + ((-1, -1), (-2, -2))
    y = 2.0 + (scales[None] * costs[choice]).sum(axis=1) + 0.7 * width[:, 0]
    return X, layout, y


def test_factorised_recovers_a_rank_one_table() -> None:
    X, layout, y = _rank_one_table(np.random.default_rng(0), 40)
    m = FactorisedLUTRegressor(layout=layout, alpha=1e-8).fit(X, y)
    assert np.allclose(m.predict(X), y, atol=1e-4)
    assert m.coef_[-1] == 0.0 and np.isclose(m.coef_[-2], 0.7, atol=1e-4)  # ignored / free column
    # per position costs: decision 3 (scale 3) prices option 2 (cost 4) at 12 ms above option 0
    assert np.isclose(m.coef_[3 * 3 + 2] - m.coef_[3 * 3 + 0], 12.0, atol=1e-3)
    # the 14-parameter table generalises from 40 points where a full 12-entry LUT has no shrinkage to lean on
    Xt, _, yt = _rank_one_table(np.random.default_rng(1), 200)
    assert np.allclose(m.predict(Xt), yt, atol=1e-3)


def test_factorised_strong_shrinkage_is_the_op_count_regression() -> None:
    X, layout, y = _rank_one_table(np.random.default_rng(2), 60)
    m = FactorisedLUTRegressor(layout=layout, alpha=1e6).fit(X, y)
    assert np.allclose(m.scales_, 1.0, atol=1e-3)
    # every decision prices an option alike: the fit is a regression on option counts
    table = m.coef_[:12].reshape(4, 3)
    assert np.allclose(table, table[0], atol=1e-3)
    with pytest.raises(ValueError, match="layout has"):
        FactorisedLUTRegressor(layout=layout[:3]).fit(X, y)


def test_auto_tries_factorised_only_with_a_layout() -> None:
    X, layout, y = _rank_one_table(np.random.default_rng(3), 50)
    with_layout = LatencyRegressor(candidates=("factorised", "ridge"), layout=layout).fit(X, y)
    assert with_layout.model_ == "factorised" and any(k.startswith("factorised") for k in with_layout.cv_scores_)
    without = LatencyRegressor(candidates=("factorised", "ridge")).fit(X, y)
    assert without.model_ == "ridge" and not any(k.startswith("factorised") for k in without.cv_scores_)


def _with_outliers(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Additive latency with 2 % noise and one measurement in ten three times too slow."""
    X = rng.integers(0, 4, size=(n, 5)).astype(float)
    clean = X @ [0.5, 1.0, 0.2, 2.0, 0.0] + 1.0
    y = clean * (1 + 0.02 * rng.standard_normal(n))
    y[rng.random(n) < 0.1] *= 3.0
    return X, clean, y


def _median_gap(model, X: np.ndarray, clean: np.ndarray) -> float:  # type: ignore[no-untyped-def]
    """Median relative error of ``model`` against the noise-free latency."""
    return float(np.median(np.abs(model.predict(X) / clean - 1)))


def test_huber_refit_ignores_outlying_measurements() -> None:
    X, clean, y = _with_outliers(np.random.default_rng(5), 80)
    w = 1.0 / y**2
    squared = NonNegativeLinearRegressor().fit(X, y, sample_weight=w)
    huber = huber_refit(NonNegativeLinearRegressor().fit(X, y, sample_weight=w), X, y, w)
    assert _median_gap(huber, X, clean) < 0.02 < _median_gap(squared, X, clean)
    # without outliers the two agree (Huber weights only the tails down)
    w0 = 1.0 / clean**2
    exact = huber_refit(NonNegativeLinearRegressor().fit(X, clean, sample_weight=w0), X, clean, w0)
    np.testing.assert_allclose(exact.predict(X), clean, rtol=1e-6)


def test_regressor_loss_option() -> None:
    X, clean, y = _with_outliers(np.random.default_rng(6), 80)
    fits = {loss: LatencyRegressor(model="analytic", n_analytic=5, loss=loss).fit(X, y) for loss in LOSSES}
    assert _median_gap(fits["huber"], X, clean) < _median_gap(fits["squared"], X, clean)
    with pytest.raises(ValueError, match="loss must be one of squared, huber"):
        LatencyRegressor(loss="l1").fit(X, y)
