"""The accuracy predictor follows the scikit-learn contract and ranks architectures."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.utils.estimator_checks import check_estimator

from autogtkd.evaluate import AccuracyPredictor, kendall_tau
from autogtkd.exceptions import ConfigError
from autogtkd.space import create_space


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.SkipTestWarning")
@pytest.mark.parametrize("kind", ["rf", "ridge"])
def test_sklearn_estimator_checks(kind: str) -> None:
    check_estimator(AccuracyPredictor(kind=kind, n_estimators=5))


@pytest.mark.parametrize("kind", ["rf", "gbr", "ridge"])
def test_predictor_ranks_a_smooth_target(kind: str) -> None:
    space = create_space("mbv3-cifar")
    rng = np.random.default_rng(0)
    archs = [space.sample(rng) for _ in range(80)]
    y = np.array([np.log(space.flops(a)) for a in archs])
    y = (y - y.min()) / (y.max() - y.min())
    x = space.encode_many(archs)
    p = AccuracyPredictor(kind=kind, n_estimators=100).fit(x[:50], y[:50])
    assert kendall_tau(p.predict(x[50:]), y[50:]) > 0.5


def test_unknown_kind_and_tau_edge_cases() -> None:
    with pytest.raises(ConfigError, match="unknown predictor kind"):
        AccuracyPredictor(kind="svm").fit(np.zeros((3, 2)), np.zeros(3))
    assert np.isnan(kendall_tau([1.0], [2.0]))
    assert kendall_tau([1, 2, 3], [3, 2, 1]) == pytest.approx(-1.0)
