"""Latency regressors following the scikit-learn estimator contract.

* :class:`NonNegativeLinearRegressor` -- (weighted) least squares with non-negative coefficients
  and an optional ridge penalty on some columns. On look-up-table features it is the OFA-style
  per-block model: each layer signature gets a latency ``>= 0`` and a network's latency is the sum
  of its blocks', fitted from whole-network measurements (we do not time blocks in isolation:
  block timings miss the fusion and memory effects of the whole graph).
* :class:`FactorisedLUTRegressor` -- a per-decision look-up table of rank one for spaces whose
  decisions share an option set (a cell's edges, a network's layers choosing among the same
  blocks): one cost per option times one scale per decision, the scales shrunk toward 1 (the
  op-count regression). Few parameters, so it learns position-dependent costs from tens of points.
* :func:`huber_refit` -- refits such a weighted least-squares model as a Huber M-estimator
  (iteratively reweighted least squares), so a few outlying measurements (a phone's background
  load, a throttled run) do not pull the fit.
* :class:`LatencyRegressor` -- picks a model kind from the :data:`MODEL_KINDS` registry by
  K-fold cross-validated mean absolute percentage error with the one-standard-error rule (the
  simplest kind whose error is within one standard error of the best; CV on tens of points is
  noisy and would otherwise over-pick flexible models) and refits it on all data.

Both take a numeric feature matrix ``X`` of shape ``(n, d)`` (see
:class:`~autogtkd.hw.latency.ArchFeaturizer` for the column layout) and latencies ``y`` in ms.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.optimize import nnls
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.ensemble import ExtraTreesRegressor, GradientBoostingRegressor, RandomForestRegressor
from sklearn.linear_model import RidgeCV
from sklearn.model_selection import KFold, RepeatedKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.validation import _check_sample_weight, check_is_fitted, validate_data

from autogtkd.registry import Registry

__all__ = [
    "COMPLEXITY",
    "FACTOR_ALPHAS",
    "FEW_SHOT_KINDS",
    "FEW_SHOT_KINDS_NO_COSTS",
    "HUBER_K",
    "LOSSES",
    "LUT_ALPHAS",
    "MANY_SHOT_KINDS",
    "MODEL_KINDS",
    "RESIDUAL_ALPHAS",
    "SELECTIONS",
    "SOURCE_KINDS",
    "FactorisedLUTRegressor",
    "KindContext",
    "LatencyRegressor",
    "ModelKind",
    "NonNegativeLinearRegressor",
    "TransferLinearRegressor",
    "huber_refit",
    "one_standard_error",
]


class _LinearModel(RegressorMixin, BaseEstimator):
    """Shared parts of the linear latency models: input checks and ``predict = X @ coef_ + intercept_``."""

    alpha: float

    def _check_fit_input(self, X: Any, y: Any, sample_weight: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        X, y = validate_data(self, X, y, dtype=np.float64, y_numeric=True)
        w = _check_sample_weight(sample_weight, X, dtype=np.float64)
        if self.alpha < 0:
            raise ValueError(f"alpha must be >= 0, got {self.alpha}")
        return X, y, w

    def predict(self, X: Any) -> np.ndarray:
        """Predicted latency, shape ``(n,)``."""
        check_is_fitted(self)
        X = validate_data(self, X, dtype=np.float64, reset=False)
        return X @ self.coef_ + self.intercept_


@dataclass(frozen=True)
class _Standardised:
    """How :func:`_standardise` scaled and centred (to map coefficients back to ms)."""

    scale: np.ndarray  # per column: max |x| over the rows of positive weight (1 for an all-zero column)
    x_mean: np.ndarray  # weighted mean of the scaled columns (0 without centring)
    y_scale: float  # weighted mean |y|
    y_mean: float  # weighted mean of y / y_scale (0 without centring)
    wsum: float  # sum of the weights


def _standardise(
    X: np.ndarray, y: np.ndarray, w: np.ndarray, *, centre: bool = True
) -> tuple[np.ndarray, np.ndarray, _Standardised]:
    """The scale-free weighted least-squares form of the linear models: columns divided by their
    largest magnitude, ``y`` by its weighted mean magnitude, both centred by their weighted means
    (the intercept profiled out) and multiplied by ``sqrt(w)``. Returns ``(A, b, how)``."""
    pos = w > 0
    scale = np.abs(X[pos]).max(axis=0) if pos.any() else np.ones(X.shape[1])
    scale = np.where(scale > 0, scale, 1.0)
    wsum = float(w.sum()) or 1.0
    y_scale = float(np.sum(w * np.abs(y)) / wsum) or 1.0
    Xs = X / scale
    ys = y / y_scale
    if centre:
        x_mean = (w @ Xs) / wsum
        y_mean = float(w @ ys) / wsum
    else:
        x_mean, y_mean = np.zeros(X.shape[1]), 0.0
    sw = np.sqrt(w)
    return (Xs - x_mean) * sw[:, None], (ys - y_mean) * sw, _Standardised(scale, x_mean, y_scale, y_mean, wsum)


class NonNegativeLinearRegressor(_LinearModel):
    """Linear regression with coefficients ``>= 0`` and a free intercept.

    Minimises ``sum_i w_i (y_i - x_i . c - b)^2 / s_y^2 + alpha * sum(w) * sum_{j >= n_free} (c_j s_j / s_y)^2``
    subject to ``c >= 0``, where ``s_j = max_i |x_ij|`` (column scale) and ``s_y`` the weighted mean
    of ``|y|``: the penalty is scale-free. Columns before ``n_free`` are not penalised.

    Args:
        alpha: ridge strength on the penalised columns (``0``: plain non-negative least squares).
        n_free: number of leading columns without penalty.
        fit_intercept: whether to fit a (sign-free, unpenalised) intercept.

    Attributes:
        coef_: coefficients, shape ``(n_features,)``, all ``>= 0`` (ms per unit of the column).
        intercept_: intercept in ms.

    Example:
        >>> X = np.array([[1, 0], [0, 1], [1, 1], [2, 1]], dtype=float)
        >>> m = NonNegativeLinearRegressor(alpha=0.0).fit(X, X @ [2.0, 3.0] + 1.0)
        >>> np.round(m.coef_, 6).tolist(), round(m.intercept_, 6)
        ([2.0, 3.0], 1.0)
    """

    def __init__(self, alpha: float = 0.0, n_free: int = 0, fit_intercept: bool = True) -> None:
        self.alpha = alpha
        self.n_free = n_free
        self.fit_intercept = fit_intercept

    def fit(self, X: Any, y: Any, sample_weight: Any = None) -> NonNegativeLinearRegressor:
        """Fit on ``X`` (n, d) and ``y`` (n,); ``sample_weight`` (n,) optional. Returns ``self``."""
        X, y, w = self._check_fit_input(X, y, sample_weight)
        d = X.shape[1]
        # the intercept is free, so it is profiled out by weighted centring; then plain NNLS
        A, b, st = _standardise(X, y, w, centre=self.fit_intercept)
        penalised = np.zeros(d, dtype=bool)
        penalised[min(int(self.n_free), d) :] = True
        if self.alpha > 0 and penalised.any():
            P = np.zeros((int(penalised.sum()), d))
            P[np.arange(P.shape[0]), np.flatnonzero(penalised)] = np.sqrt(self.alpha * st.wsum)
            A = np.vstack([A, P])
            b = np.concatenate([b, np.zeros(P.shape[0])])
        c, _ = nnls(A, b, maxiter=50 * max(d, 1))
        c = np.clip(c, 0.0, None)
        self.coef_ = c / st.scale * st.y_scale
        self.intercept_ = float((st.y_mean - st.x_mean @ c) * st.y_scale) if self.fit_intercept else 0.0
        return self

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.regressor_tags.poor_score = True  # c >= 0 cannot fit targets that fall with a feature
        return tags


class TransferLinearRegressor(_LinearModel):
    """A new device's latency as a non-negative combination of other devices' linear models.

    ``priors`` holds K fitted linear models of the same feature columns (rows ``[coef..., intercept]``,
    e.g. look-up tables fitted on other hardware targets' measurements); the new device's latency is
    ``b + sum_k a_k * prior_k(x)`` with ``a_k >= 0``, fitted (relative weights when given) on its few
    measurements: K + 1 parameters, so ~10 measurements suffice where a LUT of its own needs hundreds.
    The fitted model is again linear in ``x`` (``coef_ = a @ priors[:, :-1]``), so it is saved and
    predicts like any other.

    With ``residual`` (a penalty strength), each column also gets a signed correction ``delta_j``
    shrunk toward 0 (scale-free ridge, as :class:`NonNegativeLinearRegressor`): ``b + sum_k a_k *
    prior_k(x) + x . delta``, so with few measurements the model is the combination and with more it
    learns where this device's costs differ from the others' (e.g. by block kind).

    Args:
        priors: shape ``(K, d + 1)``; ``None``: no transfer (plain least squares on ``x``).
        residual: penalty of the per-column correction; ``None`` (default): no correction.

    Attributes:
        weights_: ``a``, shape ``(K,)``.
        coef_: per-column coefficients in ms, shape ``(d,)``.
        intercept_: ms.

    Example:
        >>> X = np.eye(4)
        >>> priors = np.array([[1.0, 2.0, 3.0, 4.0, 0.0], [1.0, 1.0, 5.0, 1.0, 0.0]])
        >>> m = TransferLinearRegressor(priors=priors).fit(X[:3], 2.0 * X[:3] @ [1.0, 2.0, 3.0, 4.0] + 1.0)
        >>> np.round(m.predict(X[3:]), 6).tolist()   # the unseen column, priced by the first prior
        [9.0]
    """

    alpha = 0.0  # no penalty on the combination: K + 1 parameters
    residual: float | None = None  # class default: payloads saved before the parameter existed load and print

    def __init__(self, priors: np.ndarray | None = None, residual: float | None = None) -> None:
        self.priors = priors
        self.residual = residual

    def fit(self, X: Any, y: Any, sample_weight: Any = None) -> TransferLinearRegressor:
        """Fit on ``X`` (n, d) and ``y`` (n,); ``sample_weight`` (n,) optional. Returns ``self``."""
        X, y, w = self._check_fit_input(X, y, sample_weight)
        d = X.shape[1]
        P = np.zeros((0, d + 1)) if self.priors is None else np.asarray(self.priors, dtype=np.float64)
        if P.ndim != 2 or P.shape[1] != d + 1:
            raise ValueError(f"priors must have shape (K, {d + 1}), got {P.shape}")
        if not len(P):
            m = NonNegativeLinearRegressor().fit(np.hstack([X, -X]), y, sample_weight=w)  # signed least squares
            self.weights_ = np.zeros(0)
            self.coef_, self.intercept_ = m.coef_[:d] - m.coef_[d:], m.intercept_
            return self
        Z = X @ P[:, :d].T + P[:, d]
        if self.residual is None:
            m = NonNegativeLinearRegressor().fit(Z, y, sample_weight=w)
            weights, delta, intercept = m.coef_, np.zeros(d), m.intercept_
        else:  # the combination unpenalised, the signed correction shrunk
            weights, delta, intercept = _combination_with_correction(Z, X, y, w, float(self.residual))
        self.weights_ = weights
        self.coef_ = weights @ P[:, :d] + delta
        self.intercept_ = float(intercept + weights @ P[:, d])
        return self


def _combination_with_correction(
    Z: np.ndarray, X: np.ndarray, y: np.ndarray, w: np.ndarray, alpha: float
) -> tuple[np.ndarray, np.ndarray, float]:
    """``y ~ b + Z a + X delta`` with ``a >= 0`` unpenalised and ``delta`` signed, shrunk as the
    columns past ``n_free`` of :class:`NonNegativeLinearRegressor` are (scale-free ridge with
    ``alpha``): the same problem as that class on ``[Z, X, -X]``, whose optimum has one half of each
    correction at zero. With fewer measurements than those 2 d + K columns (the few-shot case) the
    correction is profiled out in closed form instead: with the weighted, centred, scaled columns
    ``A`` of ``X`` and ``lam = alpha * sum(w)``, the objective in ``a`` is ``r' M r`` with
    ``r = b - A_Z a`` and ``M = lam (A A' + lam I)^-1`` (n x n), so only a K-column non-negative
    least squares remains. Returns ``(a, delta, b)`` in the units of ``Z``, ``X`` and ``y``."""
    k, d = Z.shape[1], X.shape[1]
    if alpha <= 0 or len(y) > 2 * d + k:  # no shrinkage, or more rows than columns: the NNLS itself
        m = NonNegativeLinearRegressor(alpha=alpha, n_free=k).fit(np.hstack([Z, X, -X]), y, sample_weight=w)
        return m.coef_[:k], m.coef_[k : k + d] - m.coef_[k + d :], m.intercept_
    A, b, st = _standardise(np.hstack([Z, X]), y, w)
    Az, Ax = A[:, :k], A[:, k:]
    lam = alpha * st.wsum
    vals, vecs = np.linalg.eigh(Ax @ Ax.T)
    inv = 1.0 / (np.clip(vals, 0.0, None) + lam)
    root = (vecs * np.sqrt(lam * inv)) @ vecs.T  # M^(1/2)
    a, _ = nnls(root @ Az, root @ b, maxiter=50 * max(k, 1))
    a = np.clip(a, 0.0, None)
    u = Ax.T @ (vecs @ (inv * (vecs.T @ (b - Az @ a))))  # (A'A + lam I)^-1 A' r
    intercept = float((st.y_mean - st.x_mean[:k] @ a - st.x_mean[k:] @ u) * st.y_scale)
    return a / st.scale[:k] * st.y_scale, u / st.scale[k:] * st.y_scale, intercept


#: layout codes of :class:`FactorisedLUTRegressor` for columns outside the factorised table
FREE, IGNORED = -1, -2


class FactorisedLUTRegressor(_LinearModel):
    """A per-decision look-up table of rank one, with free linear terms beside it.

    ``latency = b + sum_j s[d_j] * c[o_j] * x_j + sum_k beta_k * x_k``: each indicator column ``j``
    of the table belongs to decision ``d_j`` and option ``o_j``; every option has one cost ``c[o]``
    (ms), every decision one scale ``s[d]`` (how expensive that position is: a layer's resolution x
    width, an edge's place in the cell), so a table of ``D x K`` entries costs ``D + K``
    parameters. The scales are shrunk toward 1 with ``alpha``: a large ``alpha`` gives the op-count
    regression (one cost per option, wherever it sits), ``alpha -> 0`` a free rank-one table.
    Columns marked :data:`FREE` get an ordinary linear coefficient ``beta_k``; :data:`IGNORED`
    columns (e.g. option counts, which the table already holds) none. Fitted by alternating weighted
    least squares on ``y / mean|y|``, minimising
    ``mean_i w_i (y_i - pred_i)^2 / mean(w) + alpha * sum_d (s_d - 1)^2`` (scale-free).

    Args:
        layout: per column ``(decision, option)`` indices of the table, or ``(FREE, FREE)`` /
            ``(IGNORED, IGNORED)``; empty (default): every column free (plain least squares).
        alpha: shrinkage of the decision scales toward 1.
        max_iter: alternating steps at most (stops earlier when the objective settles).

    Attributes:
        coef_: effective per-column coefficients in ms (``s[d_j] * c[o_j]`` or ``beta_k``; 0 when
            ignored), so ``predict(X) = X @ coef_ + intercept_``.
        intercept_: ms.
        scales_: ``s``, shape ``(D,)``.
        option_costs_: ``c`` in ms, shape ``(K,)``.
        n_iter_: alternating steps taken.

    Example:
        >>> X = np.array([[1, 0, 0, 1], [0, 1, 1, 0], [1, 0, 1, 0], [0, 1, 0, 1], [1, 0, 0, 1]], dtype=float)
        >>> layout = ((0, 0), (0, 1), (1, 0), (1, 1))   # 2 decisions x 2 options
        >>> y = 1.0 + X @ [1.0, 3.0, 2.0, 6.0]          # decision 1 costs twice decision 0
        >>> m = FactorisedLUTRegressor(layout=layout, alpha=1e-9).fit(X, y)
        >>> bool(np.allclose(m.predict(X), y, atol=1e-6))
        True
    """

    def __init__(self, layout: tuple[tuple[int, int], ...] = (), alpha: float = 1e-2, max_iter: int = 50) -> None:
        self.layout = layout
        self.alpha = alpha
        self.max_iter = max_iter

    def fit(self, X: Any, y: Any, sample_weight: Any = None) -> FactorisedLUTRegressor:
        """Fit on ``X`` (n, d) and ``y`` (n,); ``sample_weight`` (n,) optional. Returns ``self``."""
        X, y, w = self._check_fit_input(X, y, sample_weight)
        n, d = X.shape
        lay = np.asarray(self.layout, dtype=np.int64).reshape(-1, 2) if len(self.layout) else np.full((d, 2), FREE)
        if lay.shape[0] != d:
            raise ValueError(f"layout has {lay.shape[0]} columns, X has {d}")
        table = np.flatnonzero(lay[:, 0] >= 0)
        free = np.flatnonzero(lay[:, 0] == FREE)
        dec, opt = lay[table, 0], lay[table, 1]
        n_dec = int(dec.max()) + 1 if table.size else 0
        n_opt = int(opt.max()) + 1 if table.size else 0
        y_scale = float(np.sum(w * np.abs(y)) / (w.sum() or 1.0)) or 1.0
        ys = y / y_scale
        sw = np.sqrt(w / (w.mean() or 1.0))
        Xt, Xf, ones = X[:, table], X[:, free], np.ones((n, 1))
        # indicator matrices: column j of the table -> its decision / option
        to_dec = np.zeros((table.size, n_dec))
        to_dec[np.arange(table.size), dec] = 1.0
        to_opt = np.zeros((table.size, n_opt))
        to_opt[np.arange(table.size), opt] = 1.0

        def solve(A: np.ndarray, prior: np.ndarray | None = None, n_pen: int = 0) -> np.ndarray:
            A = A * sw[:, None]
            b = ys * sw
            if n_pen and self.alpha > 0:
                P = np.zeros((n_pen, A.shape[1]))
                P[np.arange(n_pen), np.arange(n_pen)] = np.sqrt(self.alpha * n)
                A = np.vstack([A, P])
                b = np.concatenate([b, np.sqrt(self.alpha * n) * prior])  # type: ignore[operator]
            return np.linalg.lstsq(A, b, rcond=None)[0]

        s = np.ones(n_dec)
        last = np.inf
        self.n_iter_ = 0
        for _ in range(max(int(self.max_iter), 1)):
            self.n_iter_ += 1
            # options' costs, free coefficients and intercept for the current scales
            sol = solve(np.hstack([(Xt * (to_dec @ s)) @ to_opt, Xf, ones]))
            c, beta, b0 = sol[:n_opt], sol[n_opt : n_opt + free.size], sol[-1]
            if not n_dec:
                break
            # decisions' scales (shrunk toward 1), free coefficients and intercept for those costs
            sol = solve(np.hstack([(Xt * (to_opt @ c)) @ to_dec, Xf, ones]), prior=np.ones(n_dec), n_pen=n_dec)
            s, beta, b0 = sol[:n_dec], sol[n_dec : n_dec + free.size], sol[-1]
            r = ys - (Xt * ((to_dec @ s) * (to_opt @ c))).sum(axis=1) - Xf @ beta - b0
            obj = float(np.mean((sw * r) ** 2) + self.alpha * np.sum((s - 1.0) ** 2))
            if last - obj <= 1e-9 * max(obj, 1e-12):
                break
            last = obj
        coef = np.zeros(d)
        coef[table] = (to_dec @ s) * (to_opt @ c) * y_scale
        coef[free] = beta * y_scale
        self.coef_, self.intercept_ = coef, float(b0 * y_scale)
        self.scales_, self.option_costs_ = s, c * y_scale
        return self


#: losses of the linear kinds: ``"squared"`` (least squares) or ``"huber"`` (see :func:`huber_refit`)
LOSSES: tuple[str, ...] = ("squared", "huber")
#: Huber's tuning constant, in robust standard deviations of the weighted residuals (95 % efficiency
#: under normal errors; Huber 1964)
HUBER_K = 1.345


def huber_refit(
    est: Any, X: np.ndarray, y: np.ndarray, sample_weight: np.ndarray, *, k: float = HUBER_K, max_iter: int = 20
) -> Any:
    """Refit a fitted weighted least-squares estimator as a Huber M-estimator; returns ``est``.

    Iteratively reweighted least squares: with residuals ``r_i = sqrt(w_i) (y_i - pred_i)`` (relative
    errors when ``w_i = 1 / y_i^2``) and their robust scale ``s = 1.4826 * median|r|``, each step
    refits with weights ``w_i * min(1, k s / |r_i|)``: points within ``k`` robust standard deviations
    keep their weight, farther ones count as if their error grew linearly. Stops when no weighted
    prediction moves by more than 1e-4 ``s``, or after ``max_iter`` steps.

    Args:
        est: an estimator already fitted on ``(X, y, sample_weight)``, whose ``fit`` takes
            ``sample_weight``.
        X: features, shape ``(n, d)``.
        y: targets (ms), shape ``(n,)``.
        sample_weight: the base weights ``w``, shape ``(n,)``.
        k: Huber's constant.
        max_iter: reweighting steps at most.

    Example:
        >>> X = np.arange(10, dtype=float)[:, None]
        >>> y = 2.0 * X[:, 0] + 1.0
        >>> y[3] = 40.0                                   # one wild measurement
        >>> w = np.ones(10)
        >>> m = huber_refit(NonNegativeLinearRegressor().fit(X, y, sample_weight=w), X, y, w)
        >>> round(float(m.coef_[0]), 1)
        2.0
    """
    sw = np.sqrt(np.asarray(sample_weight, dtype=np.float64))
    pred = np.asarray(est.predict(X), dtype=np.float64)
    for _ in range(max(int(max_iter), 0)):
        r = sw * (y - pred)
        s = 1.4826 * float(np.median(np.abs(r)))
        if s <= 0:
            break
        w = sample_weight * np.minimum(1.0, k * s / np.maximum(np.abs(r), 1e-300))
        est.fit(X, y, sample_weight=w)
        new = np.asarray(est.predict(X), dtype=np.float64)
        moved = float(np.max(sw * np.abs(new - pred)))
        pred = new
        if moved <= 1e-4 * s:
            break
    return est


# ---------------------------------------------------------------------- model kinds
@dataclass(frozen=True)
class KindContext:
    """What a model kind's factory gets from :class:`LatencyRegressor`.

    Attributes:
        random_state: seed of the tree models.
        n_free: leading columns of the kind's view without penalty (the analytic ones).
        layout: per column of the kind's view, its ``(decision, option)`` in a shared option set
            (see :class:`FactorisedLUTRegressor`); empty when the space has none.
        priors: other devices' linear models of all columns (see :class:`TransferLinearRegressor`).
    """

    random_state: int = 0
    n_free: int = 0
    layout: tuple[tuple[int, int], ...] = ()
    priors: np.ndarray | None = None


@dataclass(frozen=True)
class ModelKind:
    """A candidate of :class:`LatencyRegressor`.

    Attributes:
        make: ``KindContext -> estimator`` (unfitted).
        view: which columns it sees: ``"additive"`` (analytic + lut), ``"analytic"`` or ``"all"``.
        log_target: fit ``log(latency)`` (relative errors) instead of latency.
        relative_weights: fit with ``sample_weight = 1 / y^2`` (relative squared error).
        needs_layout: usable only when the columns form a table of shared options (``layout``).
        needs_priors: usable only with other devices' models (``priors``).
    """

    make: Callable[[KindContext], Any]
    view: str = "all"
    log_target: bool = False
    relative_weights: bool = False
    needs_layout: bool = False
    needs_priors: bool = False


MODEL_KINDS: Registry[ModelKind] = Registry("latency model kind")
MODEL_KINDS.register(
    "lut",
    lambda **kw: ModelKind(
        lambda ctx: NonNegativeLinearRegressor(alpha=kw.get("alpha", 1e-3), n_free=ctx.n_free),
        view="additive",
        relative_weights=True,
    ),
)
MODEL_KINDS.register(
    "analytic",
    lambda **kw: ModelKind(lambda ctx: NonNegativeLinearRegressor(alpha=0.0), view="analytic", relative_weights=True),
)
MODEL_KINDS.register(
    "factorised",
    lambda **kw: ModelKind(
        lambda ctx: FactorisedLUTRegressor(layout=ctx.layout, alpha=kw.get("alpha", 1e-2)),
        view="additive",
        relative_weights=True,
        needs_layout=True,
    ),
)
MODEL_KINDS.register(
    "transfer",
    lambda **kw: ModelKind(
        lambda ctx: TransferLinearRegressor(priors=ctx.priors), relative_weights=True, needs_priors=True
    ),
)
MODEL_KINDS.register(
    "transfer_residual",
    lambda **kw: ModelKind(
        lambda ctx: TransferLinearRegressor(priors=ctx.priors, residual=kw.get("alpha", 0.1)),
        relative_weights=True,
        needs_priors=True,
    ),
)
MODEL_KINDS.register(
    "ridge",
    lambda **kw: ModelKind(
        lambda ctx: make_pipeline(StandardScaler(), RidgeCV(alphas=np.logspace(-3, 3, 13))), log_target=True
    ),
)
MODEL_KINDS.register(
    "gbr",
    lambda **kw: ModelKind(
        lambda ctx: GradientBoostingRegressor(
            n_estimators=200, learning_rate=0.05, max_depth=3, subsample=0.8, random_state=ctx.random_state
        ),
        log_target=True,
    ),
)
MODEL_KINDS.register(
    "rf",
    lambda **kw: ModelKind(
        lambda ctx: RandomForestRegressor(n_estimators=100, random_state=ctx.random_state, n_jobs=1), log_target=True
    ),
)
MODEL_KINDS.register(
    "extra_trees",
    lambda **kw: ModelKind(
        lambda ctx: ExtraTreesRegressor(n_estimators=100, random_state=ctx.random_state, n_jobs=1), log_target=True
    ),
)

#: penalty strengths tried for "lut" (chosen by the same cross-validation as the model kind)
LUT_ALPHAS: tuple[float, ...] = (1e-4, 1e-3, 1e-2, 1e-1, 1.0)
#: shrinkage of the decision scales tried for "factorised" (the same cross-validation)
FACTOR_ALPHAS: tuple[float, ...] = (1e-4, 1e-3, 1e-2, 1e-1, 1.0)
#: penalties of the per-column correction tried for "transfer_residual"
RESIDUAL_ALPHAS: tuple[float, ...] = (1e-2, 1e-1, 1.0)
#: kinds tried by ``model="auto"`` in few-shot mode (n <= few_shot_max): strong priors, cheap to refit
FEW_SHOT_KINDS: tuple[str, ...] = ("lut", "analytic", "ridge")
#: few-shot kinds when the space gives no per-layer costs (only its encoding): additive LUTs on the
#: encoding (full, and of rank one where decisions share options), and trees for interactions
#: (depth x width) that no per-option cost captures
FEW_SHOT_KINDS_NO_COSTS: tuple[str, ...] = ("analytic", "factorised", "lut", "ridge", "gbr", "extra_trees")
#: kinds tried by ``model="auto"`` with more data
MANY_SHOT_KINDS: tuple[str, ...] = ("lut", "analytic", "factorised", "ridge", "gbr", "rf", "extra_trees")


#: kinds a source target's model is chosen from when it serves as a prior of "transfer" (linear in the
#: features, see LatencyRegressor.linear_model)
SOURCE_KINDS: tuple[str, ...] = ("analytic", "factorised", "lut")

_LINEAR_KINDS = ("lut", "analytic", "factorised", "ridge", "transfer", "transfer_residual")
#: simplicity order of the one-standard-error rule (lower = simpler; unlisted kinds come last)
COMPLEXITY: dict[str, int] = {
    "transfer": -2,
    "transfer_residual": -1,
    "analytic": 0,
    "factorised": 1,
    "lut": 2,
    "ridge": 3,
    "extra_trees": 4,
    "rf": 4,
    "gbr": 5,
}
_PENALTIES = {"lut": LUT_ALPHAS, "factorised": FACTOR_ALPHAS, "transfer_residual": RESIDUAL_ALPHAS}
SELECTIONS = ("auto", "one_se", "min")


def _candidates(kinds: tuple[str, ...]) -> list[tuple[str, dict[str, Any]]]:
    """Candidates ordered simplest first (a stronger penalty is simpler)."""
    out: list[tuple[str, dict[str, Any]]] = []
    for k in kinds:
        if k in _PENALTIES:
            out += [(k, {"alpha": a}) for a in sorted(_PENALTIES[k], reverse=True)]
        else:
            out.append((k, {}))
    return sorted(out, key=lambda c: COMPLEXITY.get(c[0], len(COMPLEXITY)))


def one_standard_error(means: Sequence[float], ses: Sequence[float]) -> int:
    """Index of the first (simplest) candidate whose mean error is within one standard error of
    the best one's (Breiman et al. 1984); candidates are ordered simplest first.

    Example:
        >>> one_standard_error([0.10, 0.08, 0.07], [0.01, 0.01, 0.02])   # 0.08 <= 0.07 + 0.02
        1
    """
    m, se = np.asarray(means, dtype=np.float64), np.asarray(ses, dtype=np.float64)
    best = int(np.argmin(m))
    return int(np.flatnonzero(m <= m[best] + se[best])[0])


def _mape(y: np.ndarray, pred: np.ndarray) -> float:
    if np.all(y > 0):
        return float(np.mean(np.abs(pred - y) / y))
    return float(np.mean((pred - y) ** 2))  # generic targets (not latencies): MSE


class LatencyRegressor(RegressorMixin, BaseEstimator):
    """Pick a latency model by cross-validation and refit it on all data.

    Args:
        model: a kind from :data:`MODEL_KINDS` (``"lut"``, ``"analytic"``, ``"ridge"``, ``"gbr"``,
            ``"rf"``, ``"extra_trees"``) or ``"auto"`` (cross-validate several).
        n_analytic: leading analytic columns of ``X`` (see ``ArchFeaturizer``).
        n_lut: look-up-table columns after them. The remaining columns are tabular.
        cv: folds of the K-fold cross-validation.
        few_shot_max: at most this many samples is *few-shot mode*: ``"auto"`` tries only
            :data:`FEW_SHOT_KINDS` (:data:`FEW_SHOT_KINDS_NO_COSTS` when the columns do not come
            from per-layer costs) and, when every candidate is linear (cheap), the folds are
            repeated 3 times (less variance in the choice).
        selection: ``"one_se"`` (the simplest candidate within one standard error of the best CV
            error, in :data:`COMPLEXITY` order, a stronger penalty being simpler), ``"min"`` (the
            lowest CV error) or ``"auto"`` (default): ``"min"`` when the columns hold per-layer costs
            and no ``priors`` are given (the built-in families: every candidate an additive cost
            model, and the lowest error predicted better there), ``"one_se"`` otherwise (a space's
            encoding, where the lowest error over-picks flexible kinds at small n; and with
            ``priors``, so that ``"transfer"`` is kept unless a model of the target's own is clearly
            better). Both measured in docs/benchmarks_latency.md.
        candidates: kinds ``"auto"`` tries instead of the defaults above (``None``: defaults).
        random_state: seed of the folds and the tree models.
        layer_costs: whether the analytic / LUT columns come from per-layer costs (``False``: from
            a space's encoding, see ``ArchFeaturizer``).
        layout: per analytic + LUT column, its ``(decision, option)`` in a table of shared options
            or ``(FREE, FREE)`` / ``(IGNORED, IGNORED)`` (``ArchFeaturizer.factor_layout``); the
            ``"factorised"`` kind is tried only when it is given.
        priors: other hardware targets' linear models of all columns, shape ``(K, d + 1)`` (see
            :meth:`linear_model`); ``"auto"`` then also tries (and prefers, being the simplest)
            ``"transfer"``, their non-negative combination.
        loss: ``"squared"`` (default) or ``"huber"``: the linear kinds (``analytic``, ``factorised``,
            ``lut``, ``transfer``) are then refitted as Huber M-estimators of the relative error
            (:func:`huber_refit`), in the cross-validation as in the final fit. For noisy targets
            (phones): it raised the share within +-10 % on NB201/FBNet phone tables by up to 6 points
            at 50 measurements and cost up to 0.008 Kendall tau on GPUs (docs/benchmarks_latency.md).
            The log-target kinds (``ridge``, trees) ignore it.

    Attributes:
        model_: the kind chosen (``"lut"``, ...).
        params_: its options (``{"alpha": ...}`` for ``"lut"``).
        estimator_: the fitted estimator.
        cv_scores_: ``{candidate: mean CV MAPE}`` (MSE when some target is <= 0).
        cv_se_: ``{candidate: standard error of that mean}`` (over the folds).
        candidates_: the ``(kind, options)`` pairs that were compared (the first wins without CV).
        cv_folds_: the ``(train, test)`` index arrays the comparison used (empty without CV), so a
            study of the choice can reuse exactly these folds.
        log_target_: whether ``estimator_`` predicts ``log(latency)``.
        columns_: ``(start, stop)`` of the columns the estimator sees.
        few_shot_: whether few-shot mode was used.
    """

    loss = "squared"  # class default: payloads saved before the parameter existed load and print

    def __init__(
        self,
        model: str = "auto",
        n_analytic: int = 0,
        n_lut: int = 0,
        cv: int = 5,
        few_shot_max: int = 100,
        random_state: int = 0,
        candidates: tuple[str, ...] | None = None,
        selection: str = "auto",
        layer_costs: bool = True,
        layout: tuple[tuple[int, int], ...] = (),
        priors: np.ndarray | None = None,
        loss: str = "squared",
    ) -> None:
        self.loss = loss
        self.layout = layout
        self.priors = priors
        self.model = model
        self.selection = selection
        self.layer_costs = layer_costs
        self.n_analytic = n_analytic
        self.n_lut = n_lut
        self.cv = cv
        self.few_shot_max = few_shot_max
        self.random_state = random_state
        self.candidates = candidates

    # columns each view sees
    def _view(self, view: str, d: int) -> tuple[int, int]:
        if view == "additive":
            return (0, self.n_analytic + self.n_lut) if self.n_analytic + self.n_lut else (0, d)
        if view == "analytic":
            return (0, self.n_analytic) if self.n_analytic else (0, d)
        return (0, d)

    def _has_priors(self) -> bool:
        return self.priors is not None and len(self.priors) > 0

    def _usable(self, name: str) -> bool:
        kind = MODEL_KINDS.create(name)
        if kind.needs_layout and not any(dec >= 0 for dec, _ in self.layout):
            return False
        if kind.needs_priors and not self._has_priors():
            return False
        if name == "lut":
            return self.n_lut > 0 or self.model == "lut" or self.candidates is not None
        if name == "analytic":
            return self.n_analytic > 0 or self.model == "analytic" or self.candidates is not None
        return True

    def _fit_one(
        self, name: str, params: dict[str, Any], X: np.ndarray, y: np.ndarray
    ) -> tuple[Any, bool, tuple[int, int]]:
        kind = MODEL_KINDS.create(name, **params)
        start, stop = self._view(kind.view, X.shape[1])
        layout = tuple(self.layout[start:stop]) if len(self.layout) >= stop else ()
        est = kind.make(KindContext(self.random_state, min(self.n_analytic, stop), layout, self.priors))
        log_target = kind.log_target and bool(np.all(y > 0))
        target = np.log(y) if log_target else y
        Xv = X[:, start:stop]
        if kind.relative_weights and np.all(y > 0):
            w = 1.0 / y**2
            est.fit(Xv, target, sample_weight=w)
            if self.loss == "huber":
                huber_refit(est, Xv, target, w)
        else:
            est.fit(Xv, target)
        return est, log_target, (start, stop)

    @staticmethod
    def _predict_one(est: Any, log_target: bool, cols: tuple[int, int], X: np.ndarray) -> np.ndarray:
        pred = np.asarray(est.predict(X[:, cols[0] : cols[1]]), dtype=np.float64)
        return np.exp(pred) if log_target else pred

    def fit(self, X: Any, y: Any) -> LatencyRegressor:
        """Fit on ``X`` (n, d) and latencies ``y`` (n,) in ms. Returns ``self``."""
        X, y = validate_data(self, X, y, dtype=np.float64, y_numeric=True)
        n = X.shape[0]
        self.few_shot_ = n <= self.few_shot_max
        costs = self.layer_costs and self.n_analytic + self.n_lut > 0
        if self.model == "auto" and self.candidates is not None:
            for k in self.candidates:
                MODEL_KINDS.get(k)
            kinds = tuple(self.candidates)
        elif self.model == "auto":
            kinds = (FEW_SHOT_KINDS if costs else FEW_SHOT_KINDS_NO_COSTS) if self.few_shot_ else MANY_SHOT_KINDS
            kinds = ("transfer", *kinds)  # tried only with priors
        else:
            MODEL_KINDS.get(self.model)  # unknown names raise with the valid ones listed
            kinds = (self.model,)
        cands = [(k, p) for k, p in _candidates(tuple(kinds)) if self._usable(k)]
        if not cands:
            cands = [("ridge", {})]
        if self.selection not in SELECTIONS:
            raise ValueError(f"selection must be one of {', '.join(SELECTIONS)}, got {self.selection!r}")
        if self.loss not in LOSSES:
            raise ValueError(f"loss must be one of {', '.join(LOSSES)}, got {self.loss!r}")
        self.candidates_ = cands
        self.cv_scores_: dict[str, float] = {}
        self.cv_se_: dict[str, float] = {}
        self.cv_folds_: list[tuple[np.ndarray, np.ndarray]] = []
        n_splits = min(int(self.cv), n)
        if len(cands) > 1 and n_splits >= 2:
            cheap = all(k in _LINEAR_KINDS for k, _ in cands)
            splitter: Any = (
                RepeatedKFold(n_splits=n_splits, n_repeats=3, random_state=self.random_state)
                if self.few_shot_ and cheap
                else KFold(n_splits=n_splits, shuffle=True, random_state=self.random_state)
            )
            folds = list(splitter.split(X))
            self.cv_folds_ = folds
            for name, params in cands:
                errs = []
                for tr, te in folds:
                    est, lt, cols = self._fit_one(name, params, X[tr], y[tr])
                    errs.append(_mape(y[te], self._predict_one(est, lt, cols, X[te])))
                self.cv_scores_[_label(name, params)] = float(np.mean(errs))
                self.cv_se_[_label(name, params)] = float(np.std(errs, ddof=1) / np.sqrt(len(errs)))
            means = [self.cv_scores_[_label(*c)] for c in cands]
            one_se = self.selection == "one_se" or (self.selection == "auto" and (self._has_priors() or not costs))
            ses = [self.cv_se_[_label(*c)] if one_se else 0.0 for c in cands]
            best = one_standard_error(means, ses)
        else:
            best = 0
        self.model_, self.params_ = cands[best]
        self.estimator_, self.log_target_, self.columns_ = self._fit_one(self.model_, self.params_, X, y)
        return self

    def linear_model(self) -> np.ndarray | None:
        """The fitted model as one row ``[coef over all columns..., intercept]`` (ms) when it is linear
        in the features (``lut``, ``analytic``, ``factorised``, ``transfer``), else ``None``: what
        :class:`TransferLinearRegressor` takes as a prior."""
        check_is_fitted(self)
        est = self.estimator_
        if self.log_target_ or not isinstance(est, _LinearModel):
            return None
        row = np.zeros(self.n_features_in_ + 1)
        row[self.columns_[0] : self.columns_[1]] = est.coef_
        row[-1] = est.intercept_
        return row

    def predict(self, X: Any) -> np.ndarray:
        """Predicted latency in ms, shape ``(n,)``."""
        check_is_fitted(self)
        X = validate_data(self, X, dtype=np.float64, reset=False)
        return self._predict_one(self.estimator_, self.log_target_, self.columns_, X)


def _label(name: str, params: dict[str, Any]) -> str:
    return name + "".join(f"({k}={v:g})" for k, v in sorted(params.items()))
