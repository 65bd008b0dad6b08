from __future__ import annotations

import json
from pathlib import Path

import pytest

from autogtkd import __version__
from autogtkd.cli import main
from autogtkd.space import create_space

ROOT = Path(__file__).resolve().parents[2]


def test_version_and_help(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0 and __version__ in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    assert "multiply-accumulates" in out and "spaces" in out


def test_spaces_lists_builtins_with_ranges(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["spaces", "--json"]) == 0
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    assert {"mbv3-cifar", "resnet-cifar"} <= set(rows)
    mb = rows["mbv3-cifar"]
    assert mb["flops_min"] < 300e6 < mb["flops_max"] and mb["size"] == create_space("mbv3-cifar").size()
    assert main(["spaces"]) == 0
    assert "mbv3-cifar" in capsys.readouterr().out


def test_flops_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    space = create_space("resnet-cifar")
    arch = space.largest()
    f = tmp_path / "arch.json"
    f.write_text(json.dumps({"arch": arch.to_dict()}))
    assert main(["flops", "--space", "resnet-cifar", "--arch", str(f), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["flops"] == space.flops(arch) and out["params"] == space.params(arch)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["flops", "--space", "nope", "--arch", "x.json"], "unknown search space 'nope'; valid:"),
        (["flops", "--space", "resnet-cifar", "--arch", "missing.json"], "cannot read architecture file"),
        (["spaces", "--space", "missing.yaml"], "does not exist"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(argv: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and "\n" not in err and "Traceback" not in err


def test_bad_arch_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = tmp_path / "arch.json"
    f.write_text("{not json")
    assert main(["flops", "--space", "mbv3-cifar", "--arch", str(f)]) == 2
    assert "not valid JSON" in capsys.readouterr().err
    f.write_text('{"width": 0.5}')
    assert main(["flops", "--space", "mbv3-cifar", "--arch", str(f)]) == 2
    assert "missing keys" in capsys.readouterr().err
