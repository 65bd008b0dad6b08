"""Final KD: finite, decreasing, scratch vs inherit, student dir, resume."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from _helpers import tiny_space

from autogtkd.exceptions import ConfigError
from autogtkd.teachers import create_teacher
from autogtkd.train import KDConfig, MetricsLog, distill, load_checkpoint


def _cfg(**kw: object) -> KDConfig:
    from autogtkd._config import from_dict

    base: dict = {"epochs": 3, "batch_size": 32, "max_steps_per_epoch": 3, "eval_batches": 1, "device": "cpu"}
    base.update(kw)
    return from_dict(KDConfig, base)


def test_distill_scratch_loss_decreases_and_writes_student_dir(tmp_path: Path, digits8) -> None:
    torch.manual_seed(0)
    teacher = create_teacher("resnet8", num_classes=10)
    space = tiny_space()
    arch = space.smallest()
    before = {k: v.clone() for k, v in teacher.state_dict().items()}
    model, metrics = distill(
        teacher,
        arch,
        space=space,
        data=digits8,
        config=_cfg(batch_size=16, max_steps_per_epoch=2),
        out_dir=tmp_path / "s",
        progress=False,
    )
    losses = [r["train_loss"] for r in MetricsLog.read(tmp_path / "s")]
    assert len(losses) == 3 and all(math.isfinite(v) for v in losses)
    assert losses[-1] < losses[0]
    assert 0.0 <= metrics["val_top1"] <= 1.0 and metrics["flops"] == space.flops(arch)
    assert not model.training
    assert (tmp_path / "s" / "student.pt").is_file() and (tmp_path / "s" / "arch.json").is_file()
    # the teacher stayed frozen (eval mode: not even BatchNorm statistics move) and its mode is restored
    assert all(torch.equal(v, before[k]) for k, v in teacher.state_dict().items())
    assert teacher.training


def test_distill_inherit_starts_from_supernet_weights(digits8) -> None:
    space = tiny_space()
    supernet = space.build_supernet()
    arch = space.largest()
    teacher = create_teacher("resnet8", num_classes=10)
    model, _ = distill(
        teacher,
        arch,
        space=space,
        data=digits8,
        init="inherit",
        supernet=supernet,
        config=_cfg(epochs=1, max_steps_per_epoch=1, optim={"lr": 1e-12, "weight_decay": 0.0, "momentum": 0.0}),
        progress=False,
    )
    # lr ~0 (OptimConfig rejects 0): the student's parameters are the exported subnet's (BN statistics
    # moved during the step)
    ref = supernet.export(arch)
    for (k, v), (k2, w) in zip(model.named_parameters(), ref.named_parameters()):
        assert k == k2
        torch.testing.assert_close(v.detach(), w.detach(), rtol=0, atol=1e-9, msg=k)
    with pytest.raises(ConfigError, match="needs the supernet"):
        distill(teacher, arch, space=space, data=digits8, init="inherit", config=_cfg(epochs=1), progress=False)


class _Kill(Exception):
    pass


def test_distill_resume_after_kill_equals_uninterrupted(tmp_path: Path, digits8) -> None:
    space = tiny_space()
    teacher = create_teacher("resnet8", num_classes=10)
    arch = space.smallest()
    cfg = _cfg(epochs=2, max_steps_per_epoch=2, batch_size=16)
    full, m_full = distill(
        teacher, arch, space=space, data=digits8, config=cfg, checkpoint_path=tmp_path / "a.pt", progress=False
    )

    def kill(state) -> None:
        if state.epoch == 1:
            raise _Kill()

    with pytest.raises(_Kill):
        distill(
            teacher,
            arch,
            space=space,
            data=digits8,
            config=cfg,
            checkpoint_path=tmp_path / "b.pt",
            progress=False,
            on_epoch_end=kill,
        )
    assert load_checkpoint(tmp_path / "b.pt").epoch == 1
    resumed, m_res = distill(
        teacher, arch, space=space, data=digits8, config=cfg, checkpoint_path=tmp_path / "b.pt", progress=False
    )
    assert load_checkpoint(tmp_path / "b.pt").step == 4
    for (k, v), (_, w) in zip(full.state_dict().items(), resumed.state_dict().items()):
        assert torch.equal(v, w), k
    assert m_full["val_top1"] == m_res["val_top1"]


def test_distill_without_a_teacher_is_plain_cross_entropy_with_the_same_init(digits8) -> None:
    """teacher=None is the no-KD baseline: same initialisation and data order as KD for the same seed,
    and a loss equal to the student's cross-entropy (γ=1, no KL)."""
    space = tiny_space()
    arch = space.smallest()
    cfg = _cfg(epochs=1, batch_size=16, max_steps_per_epoch=1, seed=5, optim={"lr": 1e-9})
    m_ce, met = distill(None, arch, space=space, data=digits8, config=cfg, progress=False)
    torch.manual_seed(5)
    fresh = space.build_model(arch, num_classes=10)
    x, y = next(iter(digits8.loader("train", 16, shuffle=True, augment=True, seed=5, drop_last=True)))
    fresh.train()
    with torch.no_grad():
        expected = float(torch.nn.functional.cross_entropy(fresh(x), y))
    assert met["train_loss"] == pytest.approx(expected, rel=1e-4)  # lr≈0: the step's loss is the initial CE
    teacher = create_teacher("resnet8", num_classes=10)
    m_kd, _ = distill(teacher, arch, space=space, data=digits8, config=cfg, progress=False)
    for a, b in zip(m_ce.state_dict().values(), m_kd.state_dict().values(), strict=True):
        if a.is_floating_point():
            assert torch.allclose(a, b, atol=1e-6)  # same seed: same initialisation in both arms
