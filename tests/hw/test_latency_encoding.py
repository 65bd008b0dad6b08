"""Encodings for predictors: one-hot categorical decisions, option counts, declarations, custom
features, and the one-standard-error model selection."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from autogtkd.exceptions import PredictorError, SpaceError
from autogtkd.hw.latency import ArchFeaturizer, LatencyPredictor, LatencyRegressor
from autogtkd.hw.latency._models import one_standard_error
from autogtkd.space import ChoiceSpace, create_space

OPS = ["none", "skip", "conv1", "conv3"]
COST = {"none": 0.0, "skip": 0.1, "conv1": 1.0, "conv3": 3.0}


def cell_space(**kw) -> ChoiceSpace:  # type: ignore[no-untyped-def]
    return ChoiceSpace("cell", {f"e{i}": OPS for i in range(4)} | {"width": [8, 16]}, **kw)


def cell_table(space: ChoiceSpace) -> tuple[list[dict], np.ndarray]:
    names = [c.name for c in space.choices]
    archs = [dict(zip(names, v)) for v in itertools.product(*(c.options for c in space.choices))]
    # additive per-op costs, edge 0 twice as expensive, times width: a per-decision LUT is exact in log
    y = np.array([(1 + sum(COST[a[f"e{i}"]] * (2 if i == 0 else 1) for i in range(4))) * a["width"] / 8 for a in archs])
    return archs, y


def test_onehot_and_counts() -> None:
    s = cell_space()
    names = s.encoding_names
    assert names[:4] == ["e0=none", "e0=skip", "e0=conv1", "e0=conv3"]
    assert "width" in names and names[-4:] == [f"count/{o}" for o in sorted(OPS)]
    x = s.encode({"e0": "conv3", "e1": "conv3", "e2": "none", "e3": "skip", "width": 16})
    assert x.shape == (len(names),)
    assert x[names.index("e0=conv3")] == 1 and x[names.index("e0=none")] == 0
    assert x[names.index("width")] == 16
    assert x[names.index("count/conv3")] == 2 and x[names.index("count/conv1")] == 0
    assert s.encode_many([]).shape == (0, len(names))


def test_declared_encodings() -> None:
    s = cell_space(encoding={"e0": "ordinal", "width": "categorical"})
    names = s.encoding_names
    assert "e0" in names and "e0=none" not in names  # ordinal: the option's position
    assert "width" in names  # two options stay one 0/1 column
    x = s.encode({"e0": "conv1", "e1": "conv3", "e2": "none", "e3": "skip", "width": 16})
    assert x[names.index("e0")] == 2 and x[names.index("width")] == 1
    assert ChoiceSpace.from_dict(s.to_dict()).encoding_names == names
    with pytest.raises(SpaceError):
        cell_space(encoding={"nope": "ordinal"})
    with pytest.raises(SpaceError):
        cell_space(encoding={"e0": "fancy"})


def test_builtin_spaces_keep_their_encoding() -> None:
    """All decisions of the built-in spaces are numeric: one ordinal column each, as before."""
    for name in ("mbv3-cifar", "resnet-cifar"):
        s = create_space(name)
        assert s.encoding_names == [c.name for c in s.choices]


def test_lut_on_onehot_learns_per_option_costs() -> None:
    s = cell_space()
    archs, y = cell_table(s)
    rng = np.random.default_rng(0)
    idx = rng.choice(len(archs), 60, replace=False)
    p = LatencyPredictor(s, target="t", model="lut").fit([archs[i] for i in idx], np.log(y[idx]) + 5)
    m = p.featurizer_
    assert m.n_lut == len(s.encoding_names) and m.n_analytic == 4  # the option counts
    pred = p.predict(archs)
    assert np.mean(np.abs(pred - (np.log(y) + 5)) / (np.log(y) + 5) <= 0.10) > 0.9


def test_custom_features() -> None:
    s = cell_space()
    archs, y = cell_table(s)

    def feats(a):  # type: ignore[no-untyped-def]
        return [sum(COST[a[f"e{i}"]] * (2 if i == 0 else 1) for i in range(4)) * a["width"], a["width"]]

    p = LatencyPredictor(s, target="t", features=feats).fit(archs[:40], y[:40])
    assert p.featurizer_.n_lut == 2
    assert np.allclose(p.predict(archs[40:60]), y[40:60], rtol=0.05)
    with pytest.raises(PredictorError, match="cannot be saved"):
        p.save("/nonexistent/never-written")
    bad = ArchFeaturizer.fit(s, archs[:3], features=lambda a: [1.0] if a["e0"] == "none" else [1.0, 2.0])
    with pytest.raises(PredictorError):
        bad.transform(archs[:200])


def test_one_standard_error_rule() -> None:
    assert one_standard_error([0.09, 0.08, 0.07], [0.01, 0.01, 0.02]) == 0  # 0.09 <= 0.07 + 0.02
    assert one_standard_error([0.20, 0.08, 0.07], [0.01, 0.01, 0.005]) == 2
    assert one_standard_error([0.20, 0.08, 0.07], [0.01, 0.01, 0.02]) == 1


def test_auto_selection_takes_lowest_error_with_layer_costs() -> None:
    """``selection="auto"``: the lowest CV error on per-layer cost columns (issue 5's rule, better on
    the built-in spaces), the one-SE rule on an encoding (``layer_costs=False``) and with priors."""
    rng = np.random.default_rng(0)
    X = rng.integers(0, 2, size=(40, 8)).astype(float)
    y = 2 + X @ rng.uniform(0.5, 2, 8) + rng.normal(0, 0.3, 40)

    def choice(**kw: object) -> tuple[str, dict]:
        reg = LatencyRegressor(n_lut=8, **kw).fit(X, y)  # type: ignore[arg-type]
        return reg.model_, reg.params_

    assert choice(selection="min") != choice(selection="one_se")  # the two rules differ on these data
    assert choice() == choice(selection="min")
    assert choice(layer_costs=False) == choice(layer_costs=False, selection="one_se")
    priors = np.hstack([rng.uniform(0.5, 2, (2, 8)), np.full((2, 1), 2.0)])
    assert choice(priors=priors) == choice(priors=priors, selection="one_se")


def test_selection_prefers_simple_model_at_small_n() -> None:
    """On a linear target with noise, min-CV may pick trees; the 1-SE rule keeps a linear kind."""
    rng = np.random.default_rng(1)
    X = rng.integers(0, 2, size=(30, 8)).astype(float)
    y = 5 + X @ rng.uniform(0.5, 2, 8) + rng.normal(0, 0.3, 30)
    reg = LatencyRegressor(candidates=("ridge", "gbr", "extra_trees"), random_state=0).fit(X, y)
    assert reg.model_ == "ridge"
    assert set(reg.cv_se_) == set(reg.cv_scores_)
    with pytest.raises(ValueError):
        LatencyRegressor(selection="best").fit(X, y)
    # the compared candidates and the folds are kept: refitting a candidate on them gives its CV score
    assert sorted(k for k, _ in reg.candidates_) == ["extra_trees", "gbr", "ridge"] and len(reg.cv_folds_) == 5
    errs = []
    for tr, te in reg.cv_folds_:
        est, lt, cols = reg._fit_one("ridge", {}, X[tr], y[tr])
        errs.append(np.mean(np.abs(reg._predict_one(est, lt, cols, X[te]) - y[te]) / y[te]))
    assert reg.cv_scores_["ridge"] == pytest.approx(np.mean(errs))


def test_factor_layout_marks_the_shared_option_table(tmp_path) -> None:  # type: ignore[no-untyped-def]
    s = cell_space()
    archs, y = cell_table(s)
    f = ArchFeaturizer.fit(s, archs[:5])
    layout = f.factor_layout
    names = f.feature_names
    assert len(layout) == f.n_analytic + f.n_lut
    cols = dict(zip(names, layout))
    assert cols["enc/e0=conv3"] == (0, sorted(OPS).index("conv3")) and cols["enc/e3=none"][0] == 3
    assert cols["enc/width"] == (-1, -1)  # a two-option decision: free linear column
    assert cols["enc/count/skip"] == (-2, -2)  # counts: already in the table
    assert ArchFeaturizer.fit(create_space("resnet-cifar"), []).factor_layout == ()  # layer costs: no table
    # at one width the table is additive with edge 0 twice as expensive: rank one, exact from 40
    base = y / (np.array([a["width"] for a in archs]) / 8)
    idx = np.random.default_rng(0).choice(len(archs), 40, replace=False)
    p = LatencyPredictor(s, target="t", model="factorised").fit([archs[i] for i in idx], base[idx])
    assert p.regressor_.model_ == "factorised"
    assert np.allclose(p.predict(archs), base, rtol=1e-3)  # saved and loaded like any predictor
    p.save(tmp_path / "pred")
    from autogtkd.hw.latency import load_predictor_dir

    assert np.allclose(load_predictor_dir(tmp_path / "pred", s).predict(archs), base, rtol=1e-3)
