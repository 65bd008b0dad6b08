"""Final KD: train one standalone student from a (generic or vanilla) teacher with Hinton KD."""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from autogtkd.exceptions import CheckpointError, ConfigError
from autogtkd.gtn import hinton_kd_loss
from autogtkd.nn import cpu_threads, recalibrate_bn, to_device, top1
from autogtkd.space import Arch, SearchSpace
from autogtkd.supernet import Supernet
from autogtkd.train._config import KDConfig
from autogtkd.train._ddp import DistContext, resolve_device
from autogtkd.train._loops import Phase, TrainState, make_loaders
from autogtkd.train._resume import ResumableRun
from autogtkd.train._steps import StepFn
from autogtkd.train._student_dir import save_student_dir
from autogtkd.train.checkpoint import Checkpoint

__all__ = ["distill", "kd_step"]

_KIND = "distill"


def kd_step(student: nn.Module, teacher: nn.Module | None, cfg: KDConfig) -> StepFn:
    """Hinton KD step: ``γ·CE(z_S, y) + α·T²·KL(σ(z_T/T) ‖ σ(z_S/T))``, teacher frozen (no gradient);
    without a teacher, plain ``CE(z_S, y)`` (the no-KD baseline)."""

    def step(x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
        if teacher is None:
            loss = F.cross_entropy(student(x).float(), y)
            return loss, {"loss": float(loss.detach())}
        with torch.no_grad():
            z_t = teacher(x)
        loss = hinton_kd_loss(student(x), z_t, y, gamma=cfg.gamma, alpha=cfg.alpha, temperature=cfg.temperature)
        return loss, {"loss": float(loss.detach())}

    return step


def distill(
    teacher: nn.Module | None,
    arch: Mapping[str, Any],
    *,
    space: SearchSpace,
    data: Any,
    epochs: int | None = None,
    init: str = "scratch",
    supernet: Supernet | None = None,
    config: KDConfig | None = None,
    out_dir: str | Path | None = None,
    checkpoint_path: str | Path | None = None,
    progress: bool = True,
    on_epoch_end: Callable[[TrainState], None] | None = None,
) -> tuple[nn.Module, dict[str, Any]]:
    """Train the standalone student ``arch`` with Hinton KD from ``teacher`` (frozen, eval mode).

    Args:
        teacher: the teacher (any module mapping images to logits); None trains the student with
            plain cross-entropy and the same recipe otherwise (the no-KD baseline).
        arch: the student architecture of ``space``.
        space, data: the search space and :class:`~autogtkd.data.DataSplits`.
        epochs: overrides ``config.epochs``.
        init: ``"scratch"`` (random initialisation, seeded by ``config.seed``) or ``"inherit"`` (the
            weights of ``supernet.export(arch)``).
        config: :class:`KDConfig` (defaults γ=0.1, α=0.9, T=4).
        out_dir: when given, the student is written there with :func:`autogtkd.export.save_student_dir`
            and the checkpoint/metrics of the KD run live in it (``distill-checkpoint.pt``,
            ``metrics.jsonl``), so a killed call resumes.
        checkpoint_path: explicit checkpoint file (resumable without ``out_dir``).
        progress: show a progress bar. on_epoch_end: called after each epoch's checkpoint.

    Returns:
        ``(model, metrics)``: the trained student in eval mode and ``{"val_top1" (fraction of the
        whole validation split), "train_loss", "epochs", "wall_time_s", "flops", "params", "init"}``.

    Example:
        >>> model, m = distill(run.teacher, arch, space=run.space, data=run.data, epochs=5)  # doctest: +SKIP
    """
    t0 = time.perf_counter()
    cfg = config or KDConfig()
    cfg = cfg if epochs is None else replace(cfg, epochs=epochs)
    a = space.canonical(arch)
    ctx = DistContext.current()
    device = resolve_device(cfg.device, local_rank=ctx.local_rank)
    student = _student(a, init, space=space, data=data, supernet=supernet, seed=cfg.seed)
    to_device(student, device, channels_last=cfg.channels_last)
    frozen = [] if teacher is None else [to_device(teacher, device, channels_last=cfg.channels_last)]
    ident = {"arch": a.to_dict(), "init": init, "epochs": cfg.epochs, "seed": cfg.seed}
    with _eval_mode(frozen):
        run = _resumed(student, ident, checkpoint_path, out_dir, space=space, cfg=cfg, ctx=ctx, device=device)
        loader, val_loader = make_loaders(data, cfg, ctx)

        def evaluate(v: Any) -> dict[str, float]:
            return {"val_top1": top1(student, v, device, cfg.eval_batches)}

        phase = Phase("student", cfg.epochs, [student], frozen, kd_step(student, teacher, cfg), evaluate)
        run.run(
            [phase], loader, val_loader, extra=lambda st: {"ident": ident}, progress=progress, on_epoch_end=on_epoch_end
        )
        student.eval()
        with cpu_threads(cfg.threads):
            val_top1 = top1(student, val_loader, device)
    metrics = {
        "val_top1": val_top1,
        "train_loss": run.last_record.get("train_loss"),
        "epochs": cfg.epochs,
        "wall_time_s": time.perf_counter() - t0,
        "flops": space.flops(a),
        "params": space.params(a),
        "init": init,
    }
    if out_dir is not None and ctx.is_main:
        save_student_dir(out_dir, student, a, space, metrics)
    return student, metrics


def _resumed(
    student: nn.Module,
    ident: dict[str, Any],
    checkpoint_path: str | Path | None,
    out_dir: str | Path | None,
    *,
    space: SearchSpace,
    cfg: KDConfig,
    ctx: DistContext,
    device: torch.device,
) -> ResumableRun:
    """The KD run of ``student`` (checkpoint: ``checkpoint_path``, else ``out_dir/distill-checkpoint.pt``),
    resumed when its checkpoint exists; a checkpoint of another distillation (``ident``: arch, init,
    epochs, seed) raises :class:`CheckpointError`."""
    if checkpoint_path is None and out_dir is not None:
        checkpoint_path = Path(out_dir) / "distill-checkpoint.pt"
    models = {"student": student}
    run = ResumableRun(
        checkpoint_path, kind=_KIND, space=space, models=models, cfg=cfg, ctx=ctx, device=device, metrics_dir=out_dir
    )

    def same_distillation(ckpt: Checkpoint) -> None:
        if ckpt.extra.get("ident") != json.loads(json.dumps(ident)):
            raise CheckpointError(f"{ckpt.path} belongs to another distillation (arch/init/epochs/seed differ)")

    run.resume(validate=same_distillation)
    return run


@contextlib.contextmanager
def _eval_mode(modules: list[nn.Module]) -> Iterator[None]:
    """The frozen ``modules`` in eval mode inside the block; their modes are restored afterwards."""
    was = [m.training for m in modules]
    for m in modules:
        m.eval()
    try:
        yield
    finally:
        for m, w in zip(modules, was, strict=True):
            m.train(w)


def _student(
    arch: Arch, init: str, *, space: SearchSpace, data: Any, supernet: Supernet | None, seed: int
) -> nn.Module:
    """The student before KD: ``scratch`` (random initialisation from ``seed``) or ``inherit`` (the
    supernet's weights, BatchNorm statistics recomputed for this student: the supernet's mix every
    sampled subnet)."""
    torch.manual_seed(seed)
    if init == "scratch":
        return space.build_model(arch, num_classes=data.num_classes)
    if init == "inherit":
        if supernet is None:
            raise ConfigError("init='inherit' needs the supernet")
        student = supernet.export(arch)
        recalibrate_bn(student, data.loader("calib", batch_size=128, shuffle=False, augment=False))
        return student
    raise ConfigError(f"init must be 'scratch' or 'inherit', got {init!r}")
