"""Latency predictors: recovery of known formulas, save/load, tampering, targets, custom spaces."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import pickle
from pathlib import Path

import numpy as np
import pytest

from autogtkd.exceptions import PredictorError
from autogtkd.hw.latency import (
    ArchFeaturizer,
    LatencyPredictor,
    Measurements,
    fit_predictor,
    latency_metrics,
    list_targets,
    load_predictor,
    register_target,
    sample_archs,
    suggest_archs,
)
from autogtkd.hw.latency._features import kind_positions, layer_kind
from autogtkd.space import ChoiceSpace, MobileNetV3Space, create_space


def _analytic_latency(space, archs):  # type: ignore[no-untyped-def]
    """A known latency formula: per layer 20 us + type-dependent ns/MAC + 1 ns per output element."""
    rate = {"stem": 2.0, "mb": 3.0, "head": 1.0, "bottleneck": 1.5}
    out = []
    for a in archs:
        ms = 0.0
        for c in space.layer_costs(a):
            ms += 0.02 + rate[c.signature.split(":")[0]] * c.flops * 1e-8 + c.activations * 1e-6
        out.append(ms)
    return np.array(out)


@pytest.fixture(scope="module")
def mbv3():  # type: ignore[no-untyped-def]
    return create_space("mbv3-cifar")


@pytest.fixture(scope="module")
def fitted(mbv3):  # type: ignore[no-untyped-def]
    archs = sample_archs(mbv3, 90, np.random.default_rng(0))
    y = _analytic_latency(mbv3, archs)
    return LatencyPredictor(mbv3, target="synthetic", cv=3).fit(archs[:60], y[:60]), archs, y


def test_recovers_a_known_latency_formula(fitted) -> None:  # type: ignore[no-untyped-def]
    pred, archs, y = fitted
    m = latency_metrics(y[60:], pred.predict_archs(archs[60:]))
    assert pred.regressor_.few_shot_ and pred.regressor_.model_ in ("lut", "analytic")
    assert m["within_5pct"] == 1.0 and m["mape"] < 0.01 and m["kendall_tau"] > 0.97


def test_lut_recovers_per_block_table() -> None:
    space = create_space("resnet-cifar")

    def table(sig: str) -> float:  # a fixed pseudo-random latency per block signature, 0.05-0.55 ms
        return 0.05 + int(hashlib.sha256(sig.encode()).hexdigest()[:6], 16) / 0xFFFFFF / 2

    archs = sample_archs(space, 260, np.random.default_rng(1))
    y = np.array([sum(table(c.signature) for c in space.layer_costs(a)) for a in archs])
    pred = LatencyPredictor(space, model="lut").fit(archs[:200], y[:200])
    seen = [i for i in range(200, 260) if not pred.featurizer_.unseen_signatures(archs[i])]
    assert len(seen) >= 20
    err = np.abs(pred.predict([archs[i] for i in seen]) / y[seen] - 1)
    assert err.max() < 0.02


def test_save_load_roundtrip_is_exact(fitted, mbv3, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    pred, archs, _ = fitted
    pred.save(tmp_path / "p")
    back = load_predictor(str(tmp_path / "p"), mbv3)
    assert np.array_equal(back.predict_archs(archs), pred.predict_archs(archs))
    assert back.target == "synthetic"
    man = back.manifest
    assert man["space"] == "mbv3-cifar" and man["target"] == "synthetic" and len(man["payload"]["sha256"]) == 64
    assert {"autogtkd", "scikit-learn", "skops"} <= set(man["versions"])
    assert load_predictor(str(tmp_path / "p" / "manifest.json"), mbv3).target == "synthetic"
    # saving again over an existing predictor replaces it
    pred.save(tmp_path / "p")
    assert np.array_equal(load_predictor(str(tmp_path / "p"), mbv3).predict_archs(archs[:3]), pred.predict_archs(archs[:3]))


def test_tampered_predictor_is_refused(fitted, mbv3, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    pred, _, _ = fitted
    d = pred.save(tmp_path / "p")
    man = json.loads((d / "manifest.json").read_text())
    man["target"] = "other"
    (d / "manifest.json").write_text(json.dumps(man))
    with pytest.raises(PredictorError, match="modified or corrupted"):
        load_predictor(str(d), mbv3)
    d = pred.save(tmp_path / "q")
    data = bytearray((d / "model.skops").read_bytes())
    data[len(data) // 2] ^= 0xFF
    (d / "model.skops").write_bytes(bytes(data))
    with pytest.raises(PredictorError, match="modified or corrupted"):
        load_predictor(str(d), mbv3)


def test_a_predictor_saved_with_the_legacy_16_digit_space_hash_loads(fitted, mbv3, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Predictors written before the space digest was unified recorded its first 16 hex digits."""
    from autogtkd.hw.latency._predictor import _payload_hash

    pred, archs, _ = fitted
    d = pred.save(tmp_path / "p")
    man = json.loads((d / "manifest.json").read_text())
    assert len(man["space_hash"]) == 64
    man["space_hash"] = man["space_hash"][:16]  # as the old writer recorded it, hash included
    man["payload"]["sha256"] = _payload_hash((d / "model.skops").read_bytes(), man)
    (d / "manifest.json").write_text(json.dumps(man))
    assert np.array_equal(load_predictor(str(d), mbv3).predict_archs(archs[:3]), pred.predict_archs(archs[:3]))
    with pytest.raises(PredictorError, match="fitted for space"):
        load_predictor(str(d), MobileNetV3Space(dataclasses.replace(mbv3.config, num_classes=100)))


class _Evil:
    def predict(self, X):  # type: ignore[no-untyped-def]
        return X[:, 0]


def test_untrusted_types_are_refused_even_with_a_matching_hash(fitted, mbv3, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    import skops.io as sio

    from autogtkd.hw.latency._predictor import _payload_hash

    pred, _, _ = fitted
    d = pred.save(tmp_path / "p")
    reg = pred.regressor_
    old = reg.estimator_
    try:
        reg.estimator_ = _Evil()
        payload = sio.dumps(reg)
    finally:
        reg.estimator_ = old
    man = json.loads((d / "manifest.json").read_text())
    man["payload"]["sha256"] = _payload_hash(payload, man)  # an attacker can recompute the hash
    (d / "model.skops").write_bytes(payload)
    (d / "manifest.json").write_text(json.dumps(man))
    with pytest.raises(PredictorError, match="not trusted: .*_Evil"):
        load_predictor(str(d), mbv3)


def test_foreign_files_are_refused(fitted, mbv3, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    pickled = tmp_path / "model.pkl"
    pickled.write_bytes(pickle.dumps({"a": 1}))
    with pytest.raises(PredictorError, match="not a latency predictor"):
        load_predictor(str(pickled), mbv3)
    other = tmp_path / "other"
    other.mkdir()
    (other / "manifest.json").write_text(json.dumps({"format": "something-else"}))
    with pytest.raises(PredictorError, match="not an autogtkd latency predictor"):
        load_predictor(str(other), mbv3)
    (other / "manifest.json").write_text("{not json")
    with pytest.raises(PredictorError, match="not a valid predictor manifest"):
        load_predictor(str(other), mbv3)
    pred, _, _ = fitted
    d = pred.save(tmp_path / "p")
    (d / "model.skops").write_bytes(pickle.dumps(pred.regressor_))
    with pytest.raises(PredictorError):
        load_predictor(str(d), mbv3)
    with pytest.raises(PredictorError, match="fitted for space 'mbv3-cifar'"):
        load_predictor(str(pred.save(tmp_path / "r")), create_space("mbv3-cifar", num_classes=100))


def test_target_registry(fitted, mbv3, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("AUTOGTKD_HOME", str(tmp_path / "home"))
    assert list_targets() == []
    pred, archs, _ = fitted
    register_target(pred, "edge-1")
    rows = list_targets()
    assert [r["name"] for r in rows] == ["edge-1"] and rows[0]["space"] == "mbv3-cifar"
    back = load_predictor("edge-1", mbv3)
    assert back.target == "edge-1"
    assert np.array_equal(back.predict_archs(archs[:5]), pred.predict_archs(archs[:5]))
    with pytest.raises(PredictorError, match=r"no latency predictor for target 'nope' \(registered: edge-1\)"):
        load_predictor("nope", mbv3)
    with pytest.raises(PredictorError, match="invalid target name"):
        register_target(pred, "../escape")


def test_custom_space_without_supernet_or_costs() -> None:
    space = ChoiceSpace("toy", {"depth": [1, 2, 3, 4, 5, 6], "width": [8, 16, 24, 32, 48], "op": ["conv", "sep", "pool"]})
    archs = sample_archs(space, 90, np.random.default_rng(0))
    cost = {"conv": 1.0, "sep": 0.4, "pool": 0.1}
    y = np.array([0.2 + 0.02 * a["depth"] * a["width"] * cost[a["op"]] + 0.05 * a["depth"] for a in archs])
    meas = Measurements({"space": "toy"}, tuple({"arch": a.to_dict(), "latency_ms": float(v)} for a, v in zip(archs, y)))
    pred, metrics = fit_predictor(meas, space, test_size=0.3, cv=3)
    # no shared option set, so no option counts; the LUT block is the encoding (op one-hot)
    assert pred.featurizer_.n_lut == len(space.encoding_names) == 5 and pred.featurizer_.n_analytic == 0
    assert metrics["n_train"] == 63 and metrics["n_test"] == 27
    assert metrics["model"] in ("gbr", "extra_trees")  # the interaction defeats the linear candidate
    assert metrics["kendall_tau"] > 0.85 and metrics["within_10pct"] > 0.5


def test_featurizer_layout_and_unseen_signatures(mbv3) -> None:  # type: ignore[no-untyped-def]
    archs = sample_archs(mbv3, 5, np.random.default_rng(0))
    f = ArchFeaturizer.fit(mbv3, archs[:1])
    X = f.transform(archs)
    assert X.shape == (5, f.n_features) == (5, len(f.feature_names))
    assert X[0, f.n_analytic:f.n_analytic + f.n_lut].sum() == len(mbv3.layer_costs(archs[0]))
    assert f.unseen_signatures(archs[0]) == [] and f.unseen_signatures(mbv3.largest())
    with pytest.raises(PredictorError):
        ArchFeaturizer.from_dict(create_space("resnet-cifar"), f.to_dict())


def test_active_sampling_covers_more_new_blocks_than_random() -> None:
    space = create_space("mbv3-cifar")
    rng = np.random.default_rng(0)
    pool = sample_archs(space, 300, rng)
    measured = pool[:12]
    y = _analytic_latency(space, measured)
    picks = suggest_archs(space, measured, y, 10, rng=np.random.default_rng(1), candidates=pool)
    assert len(set(picks)) == 10 and not set(picks) & set(measured)
    seen = {c.signature for a in measured for c in space.layer_costs(a)}

    def new_blocks(archs):  # type: ignore[no-untyped-def]
        return len({c.signature for a in archs for c in space.layer_costs(a)} - seen)

    random_picks = pool[12:22]
    assert new_blocks(picks) > new_blocks(random_picks)


def test_layer_kinds_keep_kernels_and_flags_not_widths() -> None:
    sigs = ["mb:16:96:24:7:1:32:False:relu:True", "mb:24:72:24:3:2:16:True:hswish:True", "head:160:960:10:8"]
    pos = kind_positions(sigs)
    assert pos == {"head": [], "mb": [4, 5, 7, 8, 9]}
    assert layer_kind(sigs[0], pos) == "mb|4=7|5=1|7=False|8=relu|9=True"
    assert layer_kind(sigs[2], pos) == "head"


def test_latency_predictor_estimator_conventions(mbv3) -> None:  # type: ignore[no-untyped-def]
    from sklearn.base import clone

    p = LatencyPredictor(mbv3, model="analytic", target="t", cv=3)
    assert p.get_params()["model"] == "analytic" and p.get_params()["target"] == "t"
    q = clone(p)
    assert q.get_params()["cv"] == 3 and not hasattr(q, "regressor_")
    archs = sample_archs(mbv3, 12, np.random.default_rng(4))
    assert q.fit(archs, _analytic_latency(mbv3, archs)) is q and q.n_train_ == 12
    with pytest.raises(PredictorError, match="at least 3"):
        clone(p).fit(archs[:2], [1.0, 2.0])
