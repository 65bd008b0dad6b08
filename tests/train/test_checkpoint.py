"""Checkpoints: round trip with RNG states, atomic writes, and one-line errors for bad files."""

from __future__ import annotations

import os
import pickle
import random
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from autogtkd.exceptions import CheckpointError
from autogtkd.space import create_space
from autogtkd.train.checkpoint import FORMAT_VERSION, load_checkpoint, restore_rng, save_checkpoint, space_hash


def _setup() -> tuple[nn.Module, torch.optim.Optimizer, torch.optim.lr_scheduler.LRScheduler]:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.Linear(8, 2))
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, 10)
    model(torch.randn(5, 4)).sum().backward()
    opt.step()
    sched.step()
    return model, opt, sched


def test_round_trip_restores_everything(tmp_path: Path) -> None:
    space = create_space("resnet-cifar")
    model, opt, sched = _setup()
    rng = np.random.default_rng(123)
    rng.random(5)
    path = save_checkpoint(
        tmp_path / "run" / "last.pt",
        kind="gtn",
        step=7,
        epoch=1,
        models={"m": model},
        optimizers={"m": opt},
        schedulers={"m": sched},
        extra={"config": {"lr": 0.1, "tags": ["a", 1, None, True]}, "arch": {"w": 0.5}},
        space=space,
        rng=rng,
    )
    expected_np, expected_torch, expected_py = rng.random(3), torch.rand(3), random.random()
    ckpt = load_checkpoint(path, expected_kind="gtn", space=create_space("resnet-cifar"))
    assert (ckpt.kind, ckpt.step, ckpt.epoch, ckpt.format_version) == ("gtn", 7, 1, FORMAT_VERSION)
    assert ckpt.extra["config"]["tags"] == ["a", 1, None, True] and ckpt.space_hash == space_hash(space)
    model2, opt2, sched2 = nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.Linear(8, 2)), None, None
    opt2 = torch.optim.SGD(model2.parameters(), lr=0.5, momentum=0.9)
    sched2 = torch.optim.lr_scheduler.CosineAnnealingLR(opt2, 10)
    ckpt.load_model("m", model2)
    ckpt.load_optimizer("m", opt2)
    ckpt.load_scheduler("m", sched2)
    for a, b in zip(model.state_dict().values(), model2.state_dict().values()):
        assert torch.equal(a, b)
    assert opt2.state_dict()["state"][0]["momentum_buffer"].equal(opt.state_dict()["state"][0]["momentum_buffer"])
    assert sched2.last_epoch == 1 and sched2.get_last_lr() == sched.get_last_lr()
    rng2 = np.random.default_rng(0)
    restore_rng(ckpt, rng2)
    assert np.array_equal(rng2.random(3), expected_np)
    assert torch.equal(torch.rand(3), expected_torch) and random.random() == expected_py
    assert [p.name for p in (tmp_path / "run").iterdir()] == ["last.pt"]  # no temp files left


def test_state_dicts_and_wrapped_models(tmp_path: Path) -> None:
    model, _, _ = _setup()
    save_checkpoint(tmp_path / "a.pt", kind="student", step=0, epoch=0, models={"s": nn.DataParallel(model)})
    ckpt = load_checkpoint(tmp_path / "a.pt")
    assert set(ckpt.models["s"]) == set(model.state_dict())  # no "module." prefix
    save_checkpoint(tmp_path / "b.pt", kind="student", step=0, epoch=0, models={"s": model.state_dict()})
    assert load_checkpoint(tmp_path / "b.pt").models["s"].keys() == model.state_dict().keys()
    with pytest.raises(CheckpointError, match="does not fit"):
        load_checkpoint(tmp_path / "b.pt").load_model("s", nn.Linear(4, 2))
    with pytest.raises(CheckpointError, match="no model 'x'"):
        load_checkpoint(tmp_path / "b.pt").load_model("x", model)


def test_extras_must_be_plain(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="extra.obj: PosixPath is not allowed"):
        save_checkpoint(tmp_path / "c.pt", kind="k", step=0, epoch=0, models={}, extra={"obj": tmp_path})
    assert not list(tmp_path.iterdir())


def _assert_one_line(exc: pytest.ExceptionInfo[CheckpointError]) -> None:
    assert "\n" not in str(exc.value) and len(str(exc.value)) < 400


def test_bad_files_give_one_line_errors(tmp_path: Path) -> None:
    model, _, _ = _setup()
    good = save_checkpoint(
        tmp_path / "good.pt", kind="gtn", step=1, epoch=0, models={"m": model}, space=create_space("resnet-cifar")
    )
    cases: list[tuple[Path, str]] = []
    cases.append((tmp_path / "missing.pt", "does not exist"))
    trunc = tmp_path / "trunc.pt"
    trunc.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    cases.append((trunc, "not a readable autogtkd checkpoint"))
    junk = tmp_path / "junk.pt"
    junk.write_bytes(os.urandom(1000))
    cases.append((junk, "not a readable autogtkd checkpoint"))
    empty = tmp_path / "empty.pt"
    empty.write_bytes(b"")
    cases.append((empty, "not a readable autogtkd checkpoint"))
    other = tmp_path / "other.pt"
    torch.save({"state_dict": model.state_dict()}, other)
    cases.append((other, "not an autogtkd checkpoint"))
    for path, message in cases:
        with pytest.raises(CheckpointError, match=message) as exc:
            load_checkpoint(path)
        _assert_one_line(exc)
    with pytest.raises(CheckpointError, match="is a 'gtn' checkpoint, expected 'student'") as exc:
        load_checkpoint(good, expected_kind="student")
    _assert_one_line(exc)
    with pytest.raises(CheckpointError, match="another search space") as exc:
        load_checkpoint(good, space=create_space("resnet-cifar", num_classes=100))
    _assert_one_line(exc)
    with pytest.raises(CheckpointError, match="another search space"):
        load_checkpoint(good, space=create_space("mbv3-cifar"))
    newer = tmp_path / "newer.pt"
    data = torch.load(good, weights_only=True)
    data["format_version"] = FORMAT_VERSION + 1
    torch.save(data, newer)
    with pytest.raises(CheckpointError, match="format version"):
        load_checkpoint(newer)


class _Payload:
    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (os.system, (f"touch {_Payload.marker}",))

    marker = ""


def test_crafted_pickle_payload_is_refused_and_not_run(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    _Payload.marker = str(marker)
    zipped = tmp_path / "zipped.pt"
    torch.save({"format": "autogtkd-checkpoint", "format_version": 1, "x": _Payload()}, zipped)
    legacy = tmp_path / "legacy.pt"
    legacy.write_bytes(pickle.dumps({"format": "autogtkd-checkpoint", "x": _Payload()}, protocol=2))
    for path in (zipped, legacy):
        with pytest.raises(CheckpointError, match="not a readable autogtkd checkpoint") as exc:
            load_checkpoint(path)
        _assert_one_line(exc)
    assert not marker.exists()


def test_atomic_write_keeps_old_file_on_failure(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    model, _, _ = _setup()
    path = save_checkpoint(tmp_path / "last.pt", kind="gtn", step=1, epoch=0, models={"m": model})
    before = path.read_bytes()

    def boom(*args: object, **kwargs: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", boom)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(path, kind="gtn", step=2, epoch=0, models={"m": model})
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["last.pt"]
    assert load_checkpoint(path).step == 1


def test_restore_rng_checks_generator_type(tmp_path: Path) -> None:
    path = save_checkpoint(tmp_path / "r.pt", kind="k", step=0, epoch=0, models={})
    with pytest.raises(CheckpointError, match="no numpy generator state"):
        restore_rng(load_checkpoint(path), np.random.default_rng(0))
    path = save_checkpoint(tmp_path / "r.pt", kind="k", step=0, epoch=0, models={}, rng=np.random.default_rng(0))
    with pytest.raises(CheckpointError, match="saved generator is PCG64"):
        restore_rng(load_checkpoint(path), np.random.Generator(np.random.MT19937(0)))
