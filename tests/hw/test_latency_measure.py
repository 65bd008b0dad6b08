"""Measurement on the local machine: runtimes, statistics, outlier rejection, metadata."""

from __future__ import annotations

import numpy as np
import pytest
from torch import nn

from autogtkd.exceptions import ConfigError
from autogtkd.hw.latency import (
    MeasureConfig,
    latency_metrics,
    machine_info,
    measure_arch,
    measure_latency,
    reject_outliers,
)
from autogtkd.space import create_space


def _net() -> nn.Module:
    return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
                         nn.Flatten(), nn.Linear(8, 4))


@pytest.mark.parametrize("runtime", ["eager", "onnxruntime"])
def test_measure_latency_runtimes(runtime: str) -> None:
    if runtime == "onnxruntime":
        pytest.importorskip("onnxruntime")
    net = _net().train()
    r = measure_latency(net, (2, 3, 16, 16), runtime=runtime, threads=1, warmup=2, repeats=7)  # type: ignore[arg-type]
    assert net.training  # mode restored
    assert len(r.samples_ms) == 7 and r.median_ms > 0 and r.iqr_ms >= 0 and 0 <= r.n_rejected < 7
    assert r.runtime == runtime and r.threads == 1 and r.input_shape == (2, 3, 16, 16) and r.clock == "cpu"
    assert min(r.samples_ms) <= r.median_ms <= max(r.samples_ms)
    rec = r.to_record()
    assert rec["latency_ms"] == r.median_ms and rec["n_samples"] == 7


def test_bigger_network_is_slower() -> None:
    space = create_space("resnet-cifar")
    cfg = MeasureConfig(runtime="eager", warmup=2, repeats=9)
    small, large = measure_arch(space, space.smallest(), cfg), measure_arch(space, space.largest(), cfg)
    assert large.median_ms > 2 * small.median_ms  # ~16x the MACs


def test_reject_outliers_tukey() -> None:
    x = np.array([1.0, 1.02, 0.98, 1.01, 0.99, 1.0, 5.0, 0.2])
    kept = reject_outliers(x)
    assert sorted(kept.tolist()) == [0.98, 0.99, 1.0, 1.0, 1.01, 1.02]
    assert reject_outliers(np.array([3.0, 1.0])).tolist() == [3.0, 1.0]  # too few to judge


def test_config_validation_and_metadata() -> None:
    with pytest.raises(ConfigError, match="unknown runtime"):
        MeasureConfig(runtime="tvm")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="repeats"):
        MeasureConfig(repeats=0)
    with pytest.raises(ConfigError, match="threads=1"):
        MeasureConfig(threads=2, clock="cpu")
    assert MeasureConfig().resolved_clock == "cpu" and MeasureConfig(threads=4).resolved_clock == "wall"
    info = machine_info()
    assert info["cpu"] and info["versions"]["torch"] and "autogtkd" in info["versions"]


def test_latency_metrics_by_hand() -> None:
    m = latency_metrics([1.0, 2.0, 4.0, 8.0], [1.04, 2.3, 3.5, 8.0])
    assert m["within_5pct"] == 0.5 and m["within_10pct"] == 0.5
    assert m["mape"] == pytest.approx((0.04 + 0.15 + 0.125 + 0) / 4)
    assert m["rmse_ms"] == pytest.approx(np.sqrt((0.04**2 + 0.3**2 + 0.5**2) / 4))
    assert m["kendall_tau"] == 1.0


def test_wall_clock_option() -> None:
    r = measure_latency(_net(), (1, 3, 8, 8), runtime="eager", warmup=1, repeats=4, clock="wall")
    assert r.clock == "wall" and r.median_ms > 0


def test_a_registered_runtime_measures_through_the_api_and_the_cli(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    """``register_runtime`` in one place: MeasureConfig, measure_latency and ``latency measure
    --runtime`` accept it, and the measurement file records its name."""
    import torch

    from autogtkd.cli import main
    from autogtkd.hw.latency import LATENCY_RUNTIMES, list_runtimes, read_measurements, register_runtime

    calls: list[int] = []

    def counted_eager(model: nn.Module, example: torch.Tensor, threads: int):  # type: ignore[no-untyped-def]
        def run() -> torch.Tensor:
            calls.append(threads)
            with torch.inference_mode():
                return model(example)

        return run

    register_runtime("counted-eager", counted_eager)
    try:
        assert "counted-eager" in list_runtimes() and MeasureConfig(runtime="counted-eager").runtime == "counted-eager"
        r = measure_latency(_net(), (1, 3, 8, 8), runtime="counted-eager", warmup=2, repeats=5)
        assert r.runtime == "counted-eager" and len(r.samples_ms) == 5 and calls == [1] * 7
        out = tmp_path / "m.jsonl"
        argv = ["latency", "measure", "--space", "resnet-cifar", "--target", "t", "--out", str(out), "--runtime",
                "counted-eager", "--warmup", "0", "--repeats", "2", "--n", "2", "--no-reference", "--no-progress"]
        assert main(argv) == 0
        assert read_measurements(out).header["runtime"] == "counted-eager" and len(read_measurements(out)) == 2
        assert len(calls) == 7 + 2 * 2
    finally:
        LATENCY_RUNTIMES.unregister("counted-eager")
    with pytest.raises(ConfigError, match="unknown runtime 'counted-eager'; valid: eager, onnxruntime"):
        MeasureConfig(runtime="counted-eager")
