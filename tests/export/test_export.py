"""Export: ONNX Runtime == PyTorch for students of every built-in space, TorchScript and state-dict
round trips, the student-directory layout and the ``autogtkd export`` command."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from autogtkd.cli import main
from autogtkd.exceptions import CheckpointError, ConfigError
from autogtkd.export import export_model, load_student_dir, save_student_dir
from autogtkd.space import create_space, list_spaces

BUILTIN = ["mbv3-cifar", "mbv3-imagenet", "resnet-cifar", "resnet-imagenet"]
#: Students exported per space: both ends of the space and two seeded random ones.
STUDENTS = ["smallest", "largest", "random-0", "random-1"]
# The torch.export-based ONNX exporter takes 5-15 s per small model here and ~100 s for the larger
# mbv3-cifar students; those, resnet-cifar's largest and every ImageNet-space case (224x224 input) run
# with -m slow (in CI) to keep the default test set fast.
_FAST = {
    ("mbv3-cifar", "smallest"),
    ("resnet-cifar", "smallest"),
    ("resnet-cifar", "random-0"),
    ("resnet-cifar", "random-1"),
}
ONNX_CASES = [
    (n, which) if (n, which) in _FAST else pytest.param(n, which, marks=pytest.mark.slow)
    for n in BUILTIN
    for which in STUDENTS
]


def _randomise(model: nn.Module, seed: int = 0) -> nn.Module:
    """Non-trivial BatchNorm statistics and affine parameters, so outputs are far from zero."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                n = m.num_features
                m.running_mean.copy_(torch.randn(n, generator=g) * 0.1)
                m.running_var.copy_(torch.rand(n, generator=g) + 0.5)
                m.weight.copy_(torch.rand(n, generator=g) + 0.5)
                m.bias.copy_(torch.randn(n, generator=g) * 0.1)
            elif isinstance(m, nn.Linear):
                m.weight.normal_(0, 0.1, generator=g)
    return model.eval()


def _arch(space, which: str):  # type: ignore[no-untyped-def]
    """``smallest``, ``largest`` or ``random-SEED`` (a seeded uniform draw) of ``space``."""
    if which.startswith("random-"):
        return space.sample(np.random.default_rng(int(which.split("-")[1])))
    return getattr(space, which)()


def _student(name: str, which: str = "smallest") -> tuple[nn.Module, object, object]:
    """A student of space ``name`` (see :func:`_arch`) with randomised BatchNorm, in eval mode."""
    space = create_space(name, num_classes=10)
    arch = _arch(space, which)
    torch.manual_seed(0)
    return _randomise(space.build_model(arch)), arch, space


def test_the_students_differ() -> None:
    """The four students of each space are four architectures (a check of the cases themselves)."""
    for name in BUILTIN:
        space = create_space(name, num_classes=10)
        assert len({_arch(space, which).key for which in STUDENTS}) == len(STUDENTS), name


def test_builtin_spaces_are_covered() -> None:
    assert set(BUILTIN) <= set(list_spaces())


@pytest.mark.parametrize(("name", "which"), ONNX_CASES)
def test_onnx_runtime_matches_pytorch(name: str, which: str, tmp_path: Path) -> None:
    ort = pytest.importorskip("onnxruntime")
    pytest.importorskip("onnxscript")
    model, arch, space = _student(name, which)
    n = space.input_size
    res = export_model(model, tmp_path, format="onnx", input_shape=(3, n, n), arch=arch, metrics={"top1": 0.5})
    assert res.path == tmp_path / "model.onnx" and res.max_abs_diff is not None  # export checked it (same rule)
    assert not list(tmp_path.glob("*.data"))  # weights inside the one file
    session = ort.InferenceSession(str(res.path), providers=["CPUExecutionProvider"])
    x = torch.randn(3, 3, n, n, generator=torch.Generator().manual_seed(1))  # another batch size
    with torch.no_grad():
        expected = model(x).numpy()
    got = session.run(None, {"input": x.numpy()})[0]
    assert got.shape == (3, 10) and np.abs(expected).max() > 1e-2
    # export_model's rule: float32 rounding grows with the logits (the largest ImageNet ResNet, with
    # randomised BatchNorm, has large logits and differed by 8.5e-4 in export's own check)
    assert np.abs(got - expected).max() <= 1e-4 + 1e-5 * np.abs(expected).max()
    info = json.loads((tmp_path / "arch.json").read_text())
    assert info["arch"] == arch.to_dict() and info["flops"] == space.flops(arch) and info["input_shape"] == [3, n, n]
    assert json.loads((tmp_path / "metrics.json").read_text()) == {"top1": 0.5}


@pytest.mark.filterwarnings("ignore:`torch.jit.load` is deprecated")
def test_torchscript_round_trip(tmp_path: Path) -> None:
    model, arch, _ = _student("resnet-cifar")
    res = export_model(model, tmp_path, format="torchscript", input_shape=(1, 3, 32, 32), arch=arch)
    loaded = torch.jit.load(str(res.path))
    x = torch.randn(4, 3, 32, 32)
    with torch.no_grad():
        assert torch.allclose(loaded(x), model(x), atol=1e-5)
    assert res.max_abs_diff is not None and res.max_abs_diff <= 1e-5


def test_state_dict_round_trip(tmp_path: Path) -> None:
    model, arch, _ = _student("resnet-cifar")
    model.train()
    res = export_model(model, tmp_path, format="state-dict", input_shape=(3, 32, 32), arch=arch, space="resnet-cifar")
    assert model.training  # the caller's model is untouched
    info = json.loads(res.arch_json.read_text())
    rebuilt = create_space(info["space"]).build_model(info["arch"]).eval()
    rebuilt.load_state_dict(torch.load(res.path, weights_only=True))
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(rebuilt(x), model.eval()(x))
    with pytest.raises(ConfigError, match="unknown export format"):
        export_model(model, tmp_path, format="tflite", input_shape=(3, 32, 32))  # type: ignore[arg-type]


def test_student_dir_round_trip(tmp_path: Path) -> None:
    space = create_space("resnet-cifar", num_classes=100)
    arch = space.sample(np.random.default_rng(0))
    model = _randomise(space.build_model(arch))
    save_student_dir(tmp_path / "s", model, arch, space, {"top1": 0.61, "teacher": "resnet32x4"})
    assert sorted(p.name for p in (tmp_path / "s").iterdir()) == ["arch.json", "metrics.json", "student.pt"]
    info = json.loads((tmp_path / "s" / "arch.json").read_text())
    assert info["space"] == "resnet-cifar" and info["num_classes"] == 100
    loaded, arch2, space2, metrics = load_student_dir(tmp_path / "s")
    assert arch2 == arch and space2.num_classes == 100 and metrics["top1"] == 0.61 and not loaded.training
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(loaded(x), model(x))
    # a space that is not a registered one is stored by its description
    custom = create_space("resnet-cifar").to_dict() | {"name": "my-resnet"}
    from autogtkd.space import space_from_dict

    cspace = space_from_dict(custom)
    cmodel = cspace.build_model(cspace.smallest())
    save_student_dir(tmp_path / "c", cmodel, cspace.smallest(), cspace)
    assert isinstance(json.loads((tmp_path / "c" / "arch.json").read_text())["space"], dict)
    assert load_student_dir(tmp_path / "c")[2].name == "my-resnet"


def test_student_dir_errors(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="does not exist"):
        load_student_dir(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(CheckpointError, match="arch.json is missing"):
        load_student_dir(tmp_path / "empty")
    space = create_space("resnet-cifar")
    save_student_dir(tmp_path / "s", space.build_model(space.smallest()), space.smallest(), space)
    with pytest.raises(CheckpointError, match="another search space"):
        load_student_dir(tmp_path / "s", space=create_space("resnet-cifar", num_classes=100))


def test_cli_export(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    space = create_space("resnet-cifar")
    model = _randomise(space.build_model(space.smallest()))
    save_student_dir(tmp_path / "s", model, space.smallest(), space, {"top1": 0.4})
    assert main(["export", str(tmp_path / "s"), "--format", "torchscript"]) == 0
    assert "model.torchscript.pt" in capsys.readouterr().out
    out = tmp_path / "s" / "export-torchscript"
    assert json.loads((out / "metrics.json").read_text()) == {"top1": 0.4}
    assert json.loads((out / "arch.json").read_text())["space"] == "resnet-cifar"
    assert main(["export", str(tmp_path / "s"), "--format", "state-dict", "--out", str(tmp_path / "sd")]) == 0
    assert (tmp_path / "sd" / "model.pt").is_file()
    assert main(["export", str(tmp_path / "missing")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "does not exist" in err
