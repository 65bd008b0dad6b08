"""A new hardware target from ~10 measurements: transfer from other targets' measurements of the same space."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from autogtkd.cli import main
from autogtkd.exceptions import PredictorError
from autogtkd.hw.latency import (
    LatencyPredictor,
    NonNegativeLinearRegressor,
    TransferLinearRegressor,
    latency_metrics,
    load_predictor_dir,
    make_header,
    sample_archs,
    space_hash,
    write_measurements,
)
from autogtkd.space import ChoiceSpace

OPS = ["none", "skip", "pool", "conv1", "conv3"]
# per-op costs of three devices; the edges sit at different resolutions (edge scale)
DEVICE_COST = {
    "gpu": {"none": 0.0, "skip": 0.05, "pool": 0.3, "conv1": 0.5, "conv3": 0.9},
    "cpu": {"none": 0.0, "skip": 0.02, "pool": 0.2, "conv1": 1.0, "conv3": 4.0},
    "phone": {"none": 0.0, "skip": 0.1, "pool": 0.8, "conv1": 0.9, "conv3": 2.6},  # no mix of the others
}
EDGE_SCALE = [1.0, 1.0, 2.0, 2.0, 4.0, 4.0]


def space() -> ChoiceSpace:
    return ChoiceSpace("cell6", {f"e{i}": OPS for i in range(6)})


def latency(archs: list, device: str) -> np.ndarray:  # type: ignore[type-arg]
    c = DEVICE_COST[device]
    return np.array([1.0 + sum(EDGE_SCALE[i] * c[a[f"e{i}"]] for i in range(6)) for a in archs])


def test_transfer_combines_other_devices_and_prices_unseen_positions() -> None:
    X = np.eye(4)
    priors = np.array([[1.0, 2.0, 3.0, 4.0, 0.5], [0.0, 1.0, 0.0, 2.0, 0.0]])
    m = TransferLinearRegressor(priors=priors).fit(X[:3], 3.0 * (X[:3] @ priors[0, :4] + 0.5) + 0.25)
    assert np.allclose(m.weights_, [3.0, 0.0], atol=1e-6)
    assert np.isclose(m.predict(X[3:])[0], 3.0 * 4.5 + 0.25)  # column 3 was never seen
    with pytest.raises(ValueError, match="priors must have shape"):
        TransferLinearRegressor(priors=priors[:, :3]).fit(X, np.ones(4))


def test_transfer_residual_learns_where_the_new_device_differs() -> None:
    """One block kind costs 3 ms more on the new device: the combination cannot express it, the shrunk
    per-column correction can (and stays near the combination where it has no evidence)."""
    rng = np.random.default_rng(0)
    X = rng.integers(0, 2, size=(30, 5)).astype(float)
    prior = np.array([[1.0, 2.0, 3.0, 4.0, 5.0, 0.5]])
    y = 2.0 * (X @ prior[0, :5] + 0.5) + 3.0 * X[:, 2]
    plain = TransferLinearRegressor(priors=prior).fit(X, y)
    fixed = TransferLinearRegressor(priors=prior, residual=1e-4).fit(X, y)
    assert np.allclose(fixed.coef_, [2.0, 4.0, 9.0, 8.0, 10.0], atol=0.05)
    assert np.isclose(fixed.intercept_, 1.0, atol=0.05)
    assert np.abs(fixed.predict(X) - y).max() < 0.1 < np.abs(plain.predict(X) - y).max()
    strong = TransferLinearRegressor(priors=prior, residual=1e4).fit(X, y)  # a huge penalty: the combination
    assert np.allclose(strong.predict(X), plain.predict(X), atol=0.05)


@pytest.mark.parametrize("alpha", [1e-2, 1e-1, 1.0])
def test_transfer_residual_few_shot_closed_form_is_the_same_fit(alpha: float) -> None:
    """With fewer measurements than columns the correction is profiled out in closed form (n x n);
    the fit is the one of the non-negative least squares over [combination, X, -X] it replaces."""
    rng = np.random.default_rng(1)
    X = (rng.random((12, 40)) < 0.3) * rng.random(40) * 5.0
    priors = np.hstack([np.abs(rng.normal(size=(3, 40))), np.ones((3, 1))])
    y = X @ (priors[0, :40] * 1.5 + rng.normal(0.0, 0.2, 40)) + 2.0 + rng.random(12)
    w = 1.0 / y**2
    fast = TransferLinearRegressor(priors=priors, residual=alpha).fit(X, y, sample_weight=w)
    Z = X @ priors[:, :40].T + priors[:, 40]
    slow = NonNegativeLinearRegressor(alpha=alpha, n_free=3).fit(np.hstack([Z, X, -X]), y, sample_weight=w)
    Xt = (rng.random((50, 40)) < 0.3) * rng.random(40) * 5.0
    Zt = Xt @ priors[:, :40].T + priors[:, 40]
    assert np.allclose(fast.predict(Xt), slow.predict(np.hstack([Zt, Xt, -Xt])), rtol=1e-8)
    assert np.allclose(fast.weights_, slow.coef_[:3], atol=1e-9)


def test_ten_measurements_of_a_new_device_with_sources() -> None:
    s = space()
    rng = np.random.default_rng(0)
    pool = sample_archs(s, 400, rng)
    sources = [(pool[:200], latency(pool[:200], "gpu")), (pool[200:], latency(pool[200:], "cpu"))]
    test = sample_archs(s, 300, np.random.default_rng(1))
    for device in ("gpu", "phone"):
        few = sample_archs(s, 10, np.random.default_rng(2))
        alone = LatencyPredictor(s, target=device).fit(few, latency(few, device))
        moved = LatencyPredictor(s, target=device).fit(few, latency(few, device), sources=sources)
        assert moved.regressor_.model_ == "transfer"
        assert "transfer_residual" not in {k for k, _ in moved.regressor_.candidates_}  # only when asked for
        got = latency_metrics(latency(test, device), moved.predict(test))
        base = latency_metrics(latency(test, device), alone.predict(test))
        assert got["kendall_tau"] > base["kendall_tau"]
        if device == "gpu":  # a source device itself: recovered exactly from 10 measurements
            assert got["within_10pct"] == 1.0
    asked = LatencyPredictor(s, model="transfer_residual").fit(few, latency(few, "phone"), sources=sources)
    assert asked.regressor_.model_ == "transfer_residual"
    with pytest.raises(PredictorError, match="source 1: need at least 3"):
        LatencyPredictor(s).fit(few, latency(few, "cpu"), sources=[sources[0], (pool[:2], [1.0, 2.0])])


def test_transfer_predictor_saves_and_the_cli_fits_it(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    s = space()
    header = {"space": s.name, "space_hash": space_hash(s), "space_def": s.to_dict(), "runtime": "table"}
    files = {}
    for device, n, seed in (("gpu", 150, 0), ("cpu", 150, 1), ("phone", 12, 2)):
        archs = sample_archs(s, n, np.random.default_rng(seed))
        files[device] = tmp_path / f"{device}.jsonl"
        write_measurements(files[device], make_header(**header, target=device), archs, latency(archs, device))
    out = tmp_path / "phone-pred"
    args = ["latency", "fit", str(files["phone"]), "--transfer-from", str(files["gpu"]), str(files["cpu"])]
    assert main([*args, "--out", str(out), "--json", "--cv", "3"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["model"] == "transfer" and res["n_train"] == 10
    man = json.loads((out / "manifest.json").read_text())
    assert man["model"]["kind"] == "transfer" and man["transfer"]["sources"] == 2
    test = sample_archs(s, 200, np.random.default_rng(5))
    loaded = load_predictor_dir(out, s)
    assert latency_metrics(latency(test, "phone"), loaded.predict(test))["kendall_tau"] > 0.8
    other = ChoiceSpace("other", {"e0": OPS})
    bad = tmp_path / "other.jsonl"
    write_measurements(bad, make_header(space="other", space_hash=space_hash(other), target="x"),
                       [{"e0": "skip"}] * 3, [1.0, 1.0, 1.0])  # fmt: skip
    assert main(["latency", "fit", str(files["phone"]), "--transfer-from", str(bad)]) == 2
    assert "measured on space 'other'" in capsys.readouterr().err
