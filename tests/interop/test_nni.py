"""NNI 3.0 interop (runs where the optional extra is installed; CI runs it in its own environment)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

pytestmark = pytest.mark.nni
nni = pytest.importorskip("nni")
pytest.importorskip("pytorch_lightning")

from torch import nn

from autogtkd.exceptions import SpaceError
from autogtkd.hw.costs import count_macs, count_params


def _model_space():  # type: ignore[no-untyped-def]
    from nni.nas.nn.pytorch import LayerChoice, ModelSpace, MutableConv2d, MutableLinear

    class TinyNet(ModelSpace):
        def __init__(self) -> None:
            super().__init__()
            width = nni.choice("width", [8, 16, 32])
            self.conv = MutableConv2d(3, width, 3, padding=1)
            self.act = LayerChoice([nn.ReLU(), nn.Hardswish(), nn.Identity()], label="act")
            self.pool = nn.AdaptiveAvgPool2d(1)
            self.fc = MutableLinear(width, 10)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.fc(self.pool(self.act(self.conv(x))).flatten(1))

    return TinyNet()


def test_nni_space_imports_choices_samples_builds_and_counts() -> None:
    from autogtkd.interop.nni import NNISpace

    space = NNISpace(_model_space(), input_size=16)
    assert [c.name for c in space.choices] == ["width", "act"]
    assert space.size() == 9
    arch = space.sample(np.random.default_rng(0))
    model = space.build_model(arch)
    assert model(torch.zeros(2, 3, 16, 16)).shape == (2, 10)
    w = int(arch["width"])
    assert space.flops(arch) == count_macs(model, (1, 3, 16, 16)) == 16 * 16 * 3 * w * 9 + w * 10
    assert space.params(arch) == count_params(model)


def test_nni_space_rejects_non_model_spaces() -> None:
    from autogtkd.interop.nni import NNISpace

    with pytest.raises(SpaceError, match="expected an NNI ModelSpace"):
        NNISpace(nn.Linear(2, 2))


def test_nni_space_searched_with_a_user_evaluator() -> None:
    from autogtkd.interop.nni import NNISpace
    from autogtkd.search import SearchProblem, search

    space = NNISpace(_model_space(), input_size=16)
    seen: list[dict] = []

    def evaluator(arch):  # type: ignore[no-untyped-def]
        """A user's own evaluator: any function arch -> {"accuracy": fraction}."""
        seen.append(arch.to_dict())
        return {"accuracy": {8: 0.5, 16: 0.7, 32: 0.8}[arch["width"]] - 0.1 * (arch["act"] == 2)}

    problem = SearchProblem(space, evaluator, objectives=("accuracy", "flops"), scorer="user")
    result = search(problem, strategy="random", n_trials=6, seed=0)
    assert len(result.trials) == 6 and len(seen) == 6
    assert all(c.scorer == "user" and c.flops == space.flops(c.arch) for c in result.trials)
    # the front is non-dominated in (accuracy up, FLOPs down)
    for a in result.candidates:
        assert not any(b.accuracy >= a.accuracy and b.flops < a.flops for b in result.trials)
    assert result.knee().arch in {c.arch for c in result.candidates}


def test_nni_frozen_student_distilled_from_a_teacher(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from autogtkd.data import load_data
    from autogtkd.export import load_student_dir
    from autogtkd.interop.nni import NNISpace
    from autogtkd.teachers import create_teacher
    from autogtkd.train import KDConfig, MetricsLog, distill

    torch.set_num_threads(1)
    data = load_data("digits", image_size=16, val_fraction=0.2, seed=0, subset=240)
    space = NNISpace(_model_space(), input_size=16, in_channels=data.in_channels, num_classes=data.num_classes)
    teacher = create_teacher("resnet8", num_classes=10, in_channels=data.in_channels)
    arch = space.canonical({"width": 16, "act": 0})
    cfg = KDConfig(epochs=2, batch_size=32, max_steps_per_epoch=3, eval_batches=1, device="cpu")
    before = {k: v.clone() for k, v in teacher.state_dict().items()}
    model, metrics = distill(teacher, arch, space=space, data=data, config=cfg, out_dir=tmp_path / "s", progress=False)
    assert 0.0 <= metrics["val_top1"] <= 1.0 and metrics["flops"] == space.flops(arch)
    assert len(MetricsLog.read(tmp_path / "s")) == 2
    assert all(torch.equal(v, before[k]) for k, v in teacher.state_dict().items())  # teacher frozen
    # the student directory reloads with the NNI space given explicitly, with the trained weights
    loaded, loaded_arch, _, _ = load_student_dir(tmp_path / "s", space=space)
    x = torch.randn(2, data.in_channels, 16, 16)
    assert loaded_arch == arch
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), model(x))


def test_nni_latency_predictor_from_a_measurement_file(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from autogtkd.hw.latency import MeasureConfig, fit_predictor, measure_space, read_measurements
    from autogtkd.interop.nni import NNISpace

    space = NNISpace(_model_space(), input_size=16)
    path = tmp_path / "nni.jsonl"
    cfg = MeasureConfig(runtime="eager", threads=1, warmup=2, repeats=7)
    measure_space(space, path, n=9, target="local-eager", config=cfg, progress=False, reference=False)
    measurements = read_measurements(path)
    assert len(measurements) == 9 and measurements.header["target"] == "local-eager"
    predictor, metrics = fit_predictor(measurements, space, test_size=0.3, cv=3, seed=0)
    assert metrics["n_train"] + metrics["n_test"] == 9
    measured = [float(r["latency_ms"]) for r in measurements.records]
    pred = predictor.predict_archs([space.canonical(r["arch"]) for r in measurements.records])
    assert np.all(np.isfinite(pred)) and np.all(pred > 0)
    # refitted on all nine: predictions stay within the measured range (x2 margin for timing noise)
    assert min(measured) / 2 <= pred.min() and pred.max() <= 2 * max(measured)
