"""``autogtkd latency`` end to end: measure, fit (--json), register/list, predict, export-onnx + the
standalone device script, suggest; custom spaces with no supernet, from a measurements file alone."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from autogtkd.cli import main
from autogtkd.hw.latency import make_header, read_measurements, sample_archs, space_hash, write_measurements
from autogtkd.space import ChoiceSpace, load_space

ROOT = Path(__file__).resolve().parents[2]

CUSTOM_SPACE = '''
from torch import nn
from autogtkd.space import Choice, SearchSpace

class Tiny(SearchSpace):
    name = "tiny-cli"
    input_size = 16

    @property
    def choices(self):
        return (Choice("depth", (1, 2, 3)), Choice("width", (4, 8, 16)))

    def build_model(self, arch, *, num_classes=None):
        a = self.canonical(arch)
        layers, c = [], 3
        for _ in range(a["depth"]):
            layers += [nn.Conv2d(c, a["width"], 3, padding=1), nn.ReLU()]
            c = a["width"]
        return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(c, 10))

space = Tiny()
'''

KEYS = {"rmse_ms", "mape", "within_5pct", "within_10pct", "kendall_tau", "n_train", "n_test"}


@pytest.fixture()
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("AUTOGTKD_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


def test_measure_then_fit_custom_python_space_without_supernet(tmp_path: Path, home: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    py = tmp_path / "tiny.py"
    py.write_text(CUSTOM_SPACE)
    out = tmp_path / "m.jsonl"
    args = ["latency", "measure", "--space", str(py), "--target", "tiny-cpu", "--n", "9", "--out", str(out),
            "--runtime", "eager", "--warmup", "1", "--repeats", "3", "--no-progress"]
    assert main(args) == 0
    m = read_measurements(out)
    assert len(m) == 9 and m.header["space"] == "tiny-cli" and m.header["runtime"] == "eager"
    assert m.header["machine"]["versions"]["torch"] and m.header["threads"] == 1 and m.header["clock"] == "cpu"
    capsys.readouterr()
    # a .py space has no data form: fit needs --space, and refuses a different space
    assert main(["latency", "fit", str(out), "--out", str(tmp_path / "p")]) == 2
    assert "pass --space" in capsys.readouterr().err
    assert main(["latency", "fit", str(out), "--space", "resnet-cifar", "--out", str(tmp_path / "p")]) == 2
    assert "was measured on space 'tiny-cli'" in capsys.readouterr().err
    assert main(["latency", "fit", str(out), "--space", str(py), "--out", str(tmp_path / "p"), "--json",
                 "--register"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert KEYS <= set(res) and res["n_train"] + res["n_test"] == 9 and res["target"] == "tiny-cpu"
    assert main(["latency", "list", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["name"] for r in rows] == ["tiny-cpu"] and rows[0]["runtime"] == "eager"
    arch = tmp_path / "a.json"
    arch.write_text(json.dumps({"depth": 2, "width": 8}))
    assert main(["latency", "predict", "--predictor", "tiny-cpu", "--space", str(py), "--arch", str(arch), "--json"]) == 0
    pred = json.loads(capsys.readouterr().out)
    assert pred[0]["latency_ms"] > 0 and pred[0]["target"] == "tiny-cpu"


def test_fit_from_a_measurements_file_alone(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    """A YAML-form custom space travels inside the file's header: no --space needed."""
    space = ChoiceSpace("yaml-space", {"depth": [1, 2, 3, 4, 5], "width": [16, 32, 64], "act": ["relu", "hswish"]})
    archs = sample_archs(space, 30, np.random.default_rng(0))
    y = [0.1 + 0.01 * a["depth"] * a["width"] * (1.3 if a["act"] == "hswish" else 1.0) for a in archs]
    f = tmp_path / "device.jsonl"
    write_measurements(f, make_header(space=space.name, space_hash=space_hash(space), space_def=space.to_dict(),
                                      target="phone", runtime="tflite"), archs, y)
    assert main(["latency", "fit", str(f), "--out", str(tmp_path / "p"), "--json", "--cv", "3"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert KEYS <= set(res) and res["n_test"] == 6 and res["kendall_tau"] > 0.7
    man = json.loads((tmp_path / "p" / "manifest.json").read_text())
    assert man["target"] == "phone" and man["measurement"]["runtime"] == "tflite" and man["metrics"]["n_train"] == 24
    assert main(["latency", "fit", str(f), "--model", "ridge"]) == 0  # text report, nothing saved
    text = capsys.readouterr().out
    assert "Kendall tau" in text and "within +-10 %" in text


def test_fit_with_the_huber_loss_is_recorded_and_reloaded(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    from autogtkd.hw.latency import load_predictor_dir

    space = ChoiceSpace("loss-space", {"a": ["x", "y", "z"], "b": ["x", "y", "z"], "c": [1, 2, 3]})
    archs = sample_archs(space, 40, np.random.default_rng(1))
    y = [1.0 + (a["a"] == "z") + 0.5 * (a["b"] == "y") + 0.2 * a["c"] for a in archs]
    f = tmp_path / "device.jsonl"
    write_measurements(f, make_header(space=space.name, space_hash=space_hash(space), space_def=space.to_dict(),
                                      target="phone"), archs, y)
    assert main(["latency", "fit", str(f), "--loss", "huber", "--out", str(tmp_path / "p"), "--json"]) == 0
    assert KEYS <= set(json.loads(capsys.readouterr().out))
    man = json.loads((tmp_path / "p" / "manifest.json").read_text())
    assert man["model"]["loss"] == "huber"
    pred = load_predictor_dir(tmp_path / "p", space)
    assert pred.loss == "huber" and pred.regressor_.loss == "huber"
    with pytest.raises(SystemExit) as exc:
        main(["latency", "fit", str(f), "--loss", "l1"])
    assert exc.value.code == 2 and "invalid choice: 'l1'" in capsys.readouterr().err


def test_a_measurements_file_with_the_legacy_16_digit_space_hash_still_fits(tmp_path: Path) -> None:
    """Measurement files written before the space digest was unified recorded its first 16 hex digits."""
    space = load_space("resnet-cifar")
    archs = sample_archs(space, 12, np.random.default_rng(0))
    f = tmp_path / "old.jsonl"
    write_measurements(f, make_header(space=space.name, space_hash=space_hash(space)[:16], target="old",
                                      runtime="eager"), archs, [0.1 + space.flops(a) * 1e-9 for a in archs])
    assert main(["latency", "fit", str(f), "--model", "ridge"]) == 0  # the space comes from the header
    assert main(["latency", "fit", str(f), "--model", "ridge", "--space", "resnet-cifar"]) == 0
    assert main(["latency", "fit", str(f), "--model", "ridge", "--space", "mbv3-cifar"]) == 2


def test_measure_resumes_and_survives_a_torn_line(tmp_path: Path) -> None:
    out = tmp_path / "r.jsonl"
    base = ["latency", "measure", "--space", "resnet-cifar", "--target", "t", "--out", str(out), "--runtime",
            "eager", "--warmup", "0", "--repeats", "2", "--no-progress"]
    assert main([*base, "--n", "3"]) == 0
    first = read_measurements(out).records
    with open(out, "a") as fh:
        fh.write('{"arch": {"s1.de')  # killed mid-write
    assert len(read_measurements(out)) == 3
    assert main([*base, "--n", "5"]) == 0
    again = read_measurements(out)
    assert len(again) == 5 and again.records[:3] == first
    base_ms = again.header["reference_baseline_ms"]
    for r in again.records:  # drift-corrected by the interleaved reference network
        assert r["latency_ms"] == pytest.approx(r["latency_raw_ms"] * base_ms / r["reference_ms"], rel=1e-4)
    assert len({json.dumps(r["arch"], sort_keys=True) for r in again.records}) == 5
    # other settings must not be mixed into the same file
    assert main([*base, "--threads", "2", "--n", "6"]) == 2


def test_export_onnx_standalone_script_and_suggest(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    pytest.importorskip("onnxruntime")
    models = tmp_path / "models"
    assert main(["latency", "export-onnx", "--space", "resnet-cifar", "--n", "5", "--out", str(models)]) == 0
    assert len(list(models.glob("*.onnx"))) == 5
    out = tmp_path / "dev.jsonl"
    script = ROOT / "tools" / "measure_latency_onnx.py"
    # the script must run without autogtkd or torch importable: block them
    code = ("import sys; sys.modules['autogtkd'] = None; sys.modules['torch'] = None; "
            f"sys.argv = ['x', {str(models)!r}, '--out', {str(out)!r}, '--target', 'dev', '--warmup', '1', "
            "'--repeats', '3']; exec(open(" + repr(str(script)) + ").read())")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False)
    assert r.returncode == 0, r.stderr
    m = read_measurements(out)
    assert len(m) == 5 and m.header["space"] == "resnet-cifar" and m.header["target"] == "dev"
    assert m.header["clock"] == "cpu" and all(r["n_samples"] == 3 for r in m.records)
    space = load_space("resnet-cifar")
    assert {space.canonical(a) for a in m.archs} == set(sample_archs(space, 5, np.random.default_rng(0)))
    capsys.readouterr()
    assert main(["latency", "suggest", str(out), "--n", "4", "--out", str(tmp_path / "next.jsonl")]) == 0
    picks = [json.loads(line)["arch"] for line in (tmp_path / "next.jsonl").read_text().splitlines()]
    assert len(picks) == 4 and all(space.contains(a) for a in picks)


def test_unknown_predictor_is_one_line_error(home: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    assert main(["latency", "predict", "--predictor", "ghost", "--space", "resnet-cifar", "--arch", "x.json"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "no latency predictor for target 'ghost'" in err


def test_remeasure_matches_the_predictor_settings(tmp_path: Path) -> None:
    from autogtkd.hw.latency import fit_predictor, remeasure_archs

    space = load_space("resnet-cifar")
    out = tmp_path / "m.jsonl"
    assert main(["latency", "measure", "--space", "resnet-cifar", "--target", "t", "--out", str(out), "--runtime",
                 "eager", "--warmup", "1", "--repeats", "5", "--no-progress", "--n", "8"]) == 0
    pred, _ = fit_predictor(read_measurements(out), space, model="analytic", cv=2)
    assert pred.manifest["measurement"]["reference_baseline_ms"] > 0
    archs = [space.smallest(), space.largest()]
    ms = remeasure_archs(pred, archs)
    assert ms.shape == (2,) and ms[1] > 2 * ms[0]
    # the same networks measured by the campaign: within a factor of 2 on a shared machine
    first = {space.canonical(r["arch"]): r["latency_ms"] for r in read_measurements(out).records}
    assert all(0.5 < m / first[a] < 2.0 for m, a in zip(ms, archs))


def test_search_remeasure_report_shows_predicted_beside_measured(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    from autogtkd.cli._search import remeasure_report
    from autogtkd.hw.latency import fit_predictor
    from autogtkd.search import Candidate

    space = load_space("resnet-cifar")
    out = tmp_path / "m.jsonl"
    assert main(["latency", "measure", "--space", "resnet-cifar", "--target", "t", "--out", str(out), "--runtime",
                 "eager", "--warmup", "1", "--repeats", "5", "--no-progress", "--n", "8"]) == 0
    pred, _ = fit_predictor(read_measurements(out), space, model="analytic", cv=2)
    capsys.readouterr()
    cands = [Candidate.from_metrics(a, {"accuracy": 0.5}, scorer="inherit") for a in (space.smallest(), space.largest())]
    rows = remeasure_report(pred, cands, space, tmp_path / "remeasured.json")
    text = capsys.readouterr().out
    assert "predicted vs measured" in text and len(rows) == 2
    saved = json.loads((tmp_path / "remeasured.json").read_text())
    assert saved["target"] == "t" and [r["arch"] for r in saved["rows"]] == [c.arch.to_dict() for c in cands]
    for r in rows:
        assert r["measured_ms"] > 0 and r["predicted_ms"] > 0
        assert r["error"] == pytest.approx(r["predicted_ms"] / r["measured_ms"] - 1)
