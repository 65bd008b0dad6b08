"""An accuracy predictor over architecture encodings (scikit-learn estimator contract)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.utils.validation import check_is_fitted, validate_data

from autogtkd.exceptions import ConfigError

__all__ = ["AccuracyPredictor", "kendall_tau"]

_KINDS = ("rf", "gbr", "ridge")


class AccuracyPredictor(RegressorMixin, BaseEstimator):
    """Predict a scorer's accuracy from ``space.encode(arch)`` features, to pre-screen candidates.

    Follows the scikit-learn estimator contract: ``__init__`` stores, :meth:`fit` returns ``self``,
    fitted attributes end in ``_``.

    Args:
        kind: ``rf`` (random forest, default: robust with tens of samples), ``gbr`` (gradient
            boosting) or ``ridge`` (linear baseline on standardised features).
        n_estimators: trees of ``rf``/``gbr``.
        random_state: seed of the trees.

    Example:
        >>> import numpy as np
        >>> x = np.arange(20.0).reshape(10, 2); y = x[:, 0] / 20
        >>> p = AccuracyPredictor(n_estimators=20).fit(x, y)
        >>> p.predict(x[:2]).shape
        (2,)
    """

    def __init__(self, kind: str = "rf", n_estimators: int = 200, random_state: int | None = 0) -> None:
        self.kind = kind
        self.n_estimators = n_estimators
        self.random_state = random_state

    def _make(self) -> Any:
        if self.kind == "rf":
            from sklearn.ensemble import RandomForestRegressor

            return RandomForestRegressor(n_estimators=self.n_estimators, min_samples_leaf=1, random_state=self.random_state)
        if self.kind == "gbr":
            from sklearn.ensemble import GradientBoostingRegressor

            return GradientBoostingRegressor(
                n_estimators=self.n_estimators, max_depth=3, learning_rate=0.05, subsample=0.8, random_state=self.random_state
            )
        if self.kind == "ridge":
            from sklearn.linear_model import Ridge
            from sklearn.pipeline import make_pipeline
            from sklearn.preprocessing import StandardScaler

            return make_pipeline(StandardScaler(), Ridge(alpha=1.0))
        raise ConfigError(f"unknown predictor kind {self.kind!r}; valid: {', '.join(_KINDS)}")

    def fit(self, X: Any, y: Any) -> AccuracyPredictor:
        """Fit on encodings ``X`` (shape ``(n, d)``) and accuracies ``y`` (shape ``(n,)``)."""
        X, y = validate_data(self, X, y, y_numeric=True)
        self.model_ = self._make().fit(X, y)
        return self

    def predict(self, X: Any) -> np.ndarray:
        """Predicted accuracies, shape ``(n,)``."""
        check_is_fitted(self, "model_")
        X = validate_data(self, X, reset=False)
        return np.asarray(self.model_.predict(X), dtype=np.float64)


def kendall_tau(a: Sequence[float] | np.ndarray, b: Sequence[float] | np.ndarray) -> float:
    """Kendall's tau-b rank correlation of two score lists (``nan`` with fewer than 2 pairs)."""
    from scipy.stats import kendalltau

    if len(a) < 2:
        return float("nan")
    return float(kendalltau(np.asarray(a), np.asarray(b)).statistic)
