"""Final KD: train one standalone student from a (generic or vanilla) teacher with Hinton KD."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from autogtkd.exceptions import CheckpointError, ConfigError
from autogtkd.gtn import hinton_kd_loss
from autogtkd.space import SearchSpace
from autogtkd.supernet import Supernet
from autogtkd.train._config import KDConfig
from autogtkd.train._ddp import DistContext, resolve_device
from autogtkd.train._loops import LoopIO, Phase, TrainState, cpu_threads, make_loaders, run_phases, to_device, top1
from autogtkd.train.checkpoint import load_checkpoint, restore_rng, save_checkpoint
from autogtkd.train.metrics import MetricsLog

__all__ = ["distill", "kd_step"]

_KIND = "distill"


def kd_step(student: nn.Module, teacher: nn.Module | None, cfg: KDConfig):  # type: ignore[no-untyped-def]
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
    if epochs is not None:
        from dataclasses import replace

        cfg = replace(cfg, epochs=epochs)
    a = space.canonical(arch)
    ctx = DistContext.current()
    device = resolve_device(cfg.device, local_rank=ctx.local_rank)
    torch.manual_seed(cfg.seed)
    if init == "scratch":
        student = space.build_model(a, num_classes=data.num_classes)
    elif init == "inherit":
        if supernet is None:
            raise ConfigError("init='inherit' needs the supernet")
        from autogtkd.evaluate import recalibrate_bn  # lazy: evaluate imports train

        student = supernet.export(a)
        # The supernet's BN statistics mix every sampled subnet: recompute them for this student.
        recalibrate_bn(student, data.loader("calib", batch_size=128, shuffle=False, augment=False))
    else:
        raise ConfigError(f"init must be 'scratch' or 'inherit', got {init!r}")
    to_device(student, device, channels_last=cfg.channels_last)
    frozen = [] if teacher is None else [to_device(teacher, device, channels_last=cfg.channels_last)]
    was_training = [m.training for m in frozen]
    for m in frozen:
        m.eval()
    if checkpoint_path is None and out_dir is not None:
        checkpoint_path = Path(out_dir) / "distill-checkpoint.pt"
    ident = {"arch": a.to_dict(), "init": init, "epochs": cfg.epochs, "seed": cfg.seed}
    state = TrainState(rng=np.random.default_rng(cfg.seed))
    io = LoopIO(progress=progress, on_epoch_end=on_epoch_end)
    if checkpoint_path is not None and Path(checkpoint_path).exists():
        ckpt = load_checkpoint(checkpoint_path, expected_kind=_KIND, space=space, map_location=device)
        if ckpt.extra.get("ident") != json.loads(json.dumps(ident)):
            raise CheckpointError(f"{checkpoint_path} belongs to another distillation (arch/init/epochs/seed differ)")
        ckpt.load_model("student", student)
        state.epoch, state.step = ckpt.epoch, ckpt.step
        restore_rng(ckpt, state.rng)
        io.saved = {"optimizers": ckpt.optimizers, "schedulers": ckpt.schedulers}
    metrics_log = MetricsLog(out_dir, resume_step=state.step) if (out_dir is not None and ctx.is_main) else None
    if checkpoint_path is not None:
        cp = Path(checkpoint_path)

        def save(st: TrainState, optimizers: dict[str, Any], schedulers: dict[str, Any]) -> None:
            save_checkpoint(
                cp,
                kind=_KIND,
                step=st.step,
                epoch=st.epoch,
                models={"student": student},
                optimizers=optimizers,
                schedulers=schedulers,
                extra={"ident": ident},
                space=space,
                rng=st.rng,
            )

        io.save = save
    last: dict[str, Any] = {}

    def log(row: dict[str, Any]) -> None:
        last.update(row)
        if metrics_log is not None:
            metrics_log.append(row)

    io.log = log
    loader, val_loader = make_loaders(data, cfg, ctx)

    def evaluate(v: Any) -> dict[str, float]:
        return {"val_top1": top1(student, v, device, cfg.eval_batches)}

    phase = Phase("student", cfg.epochs, [student], frozen, kd_step(student, teacher, cfg), evaluate)
    try:
        with cpu_threads(cfg.threads):
            run_phases([phase], state, loader, val_loader, cfg, device, ctx, io)
            student.eval()
            val_top1 = top1(student, val_loader, device)
    finally:
        for m, was in zip(frozen, was_training, strict=True):
            m.train(was)
        if metrics_log is not None:
            metrics_log.close()
    metrics = {
        "val_top1": val_top1,
        "train_loss": last.get("train_loss"),
        "epochs": cfg.epochs,
        "wall_time_s": time.perf_counter() - t0,
        "flops": space.flops(a),
        "params": space.params(a),
        "init": init,
    }
    if out_dir is not None and ctx.is_main:
        from autogtkd.export import save_student_dir

        save_student_dir(out_dir, student, a, space, metrics)
    return student, metrics
