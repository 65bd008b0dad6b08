"""Explicit training loops: one step function per method, one generic epoch loop with checkpoints,
resume, divergence checks, progress bars, metrics, mixed precision and data parallelism.

A method is a list of :class:`Phase` objects (``supernet-kd``: a vanilla-teacher phase, then a
supernet phase). Each phase owns its optimisers; its ``step(x, y)`` returns the loss to minimise and
the numbers to log. Checkpoints are written at epoch ends, so a killed run resumes from the last
finished epoch and, because data order, augmentation and architecture sampling are seeded per epoch
or restored from the checkpoint, reaches the same state as an uninterrupted run.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from autogtkd.exceptions import ConfigError, DivergenceError
from autogtkd.gtn import (
    ArchDistribution,
    GTNConfig,
    StudentBranches,
    arch_loss,
    flops_flat_prior,
    grow_init,
    gtn_losses,
    kd_kl,
    sample_paths,
    teacher_geometry,
)
from autogtkd.nn import StagedNet
from autogtkd.space import Arch, SearchSpace
from autogtkd.supernet import Supernet
from autogtkd.train._config import OptimConfig, TrainConfig
from autogtkd.train._ddp import DistContext, resolve_device

__all__ = [
    "Phase",
    "TrainState",
    "build_models",
    "build_phases",
    "gtn_step",
    "inplace_step",
    "run_phases",
    "supernet_kd_step",
    "teacher_step",
    "top1",
]

StepFn = Callable[[torch.Tensor, torch.Tensor], tuple[torch.Tensor, dict[str, float]]]
EvalFn = Callable[[Any], dict[str, float]]


# ---------------------------------------------------------------------------------------------- steps
def teacher_step(teacher: nn.Module) -> StepFn:
    """Vanilla teacher: ``L = CE(z_T, y)``."""

    def step(x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
        loss = F.cross_entropy(teacher(x).float(), y)
        return loss, {"loss": _f(loss), "teacher_ce": _f(loss)}

    return step


def inplace_step(supernet: Supernet, paths: int, temperature: float, rng: np.random.Generator) -> StepFn:
    """Supernet with in-place distillation (BigNAS/OFA sandwich rule): the largest subnet learns
    ``CE(z_L, y)``; the smallest and ``paths`` random subnets learn ``T²·KL(σ(z_L/T) ‖ σ(z_a/T))``
    from the largest subnet's detached logits. The loss is the sum."""
    space = supernet.space

    def step(x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
        with supernet.activated(space.largest()):
            z_large = supernet(x)
        ce = F.cross_entropy(z_large.float(), y)
        kd = [
            kd_kl(_run(supernet, a, x), z_large.detach(), temperature)
            for a in [space.smallest()] + [space.sample(rng) for _ in range(paths)]
        ]
        loss = ce + torch.stack(kd).sum()
        return loss, {"loss": _f(loss), "largest_ce": _f(ce), "kd": _f(torch.stack(kd).mean())}

    return step


def supernet_kd_step(
    supernet: Supernet,
    teacher: nn.Module,
    paths: int,
    temperature: float,
    rng: np.random.Generator,
    *,
    sandwich: bool = True,
) -> StepFn:
    """Supernet distilled from a fixed teacher (eval mode, no gradient): the sandwich pair (unless
    ``sandwich=False``) and ``paths`` random subnets each learn ``T²·KL(σ(z_T/T) ‖ σ(z_a/T)) + CE(z_a, y)``."""
    space = supernet.space
    fixed = [space.largest(), space.smallest()] if sandwich else []

    def step(x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
        with torch.no_grad():
            z_t = teacher(x)
        terms = []
        for a in fixed + [space.sample(rng) for _ in range(paths)]:
            z = _run(supernet, a, x)
            terms.append(F.cross_entropy(z.float(), y) + kd_kl(z, z_t, temperature))
        loss = torch.stack(terms).sum()
        return loss, {"loss": _f(loss), "path_loss": _f(torch.stack(terms).mean())}

    return step


@dataclass
class _ArchState:
    """Mutable state of the architecture distribution between steps (checkpointed)."""

    baseline: float | None = None
    target: list[torch.Tensor] | None = None


def gtn_step(
    teacher: StagedNet,
    supernet: Supernet,
    branches: StudentBranches,
    dist: ArchDistribution,
    cfg: GTNConfig,
    rng: np.random.Generator,
    arch_state: _ArchState,
) -> StepFn:
    """One GTN step (docs/training.md): sample paths ``a_i ~ p_φ``; ``L = CE(z_T, y) + λ_c·mean_i L_cond(a_i)``
    plus the architecture loss of ``cfg.arch_loss`` (φ only appears there, so one backward serves
    both optimisers)."""

    def step(x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
        paths = sample_paths(dist, cfg, rng)
        loss, teacher_ce, cond, _ = gtn_losses(x, y, teacher, supernet, branches, paths, cfg)
        l_arch = arch_loss(dist, paths, cond, cfg, baseline=arch_state.baseline, target=arch_state.target)
        mean_cond = float(cond.detach().mean())
        m = cfg.baseline_momentum
        arch_state.baseline = (
            mean_cond if arch_state.baseline is None else m * arch_state.baseline + (1 - m) * mean_cond
        )
        logs = {
            "loss": _f(loss),
            "teacher_ce": _f(teacher_ce),
            "cond": mean_cond,
            "path_mflops": float(np.mean([supernet.space.flops(p.arch) for p in paths])) / 1e6,
        }
        if l_arch is not None:
            logs["arch_loss"] = _f(l_arch)
            logs["arch_entropy"] = _f(dist.entropy())
            loss = loss + l_arch
        return loss, logs

    return step


def to_device(module: nn.Module, device: torch.device, *, channels_last: bool = False) -> nn.Module:
    """``module.to(device)``; with ``channels_last`` its 4-D parameters also take that memory format."""
    if channels_last:
        return module.to(device, memory_format=torch.channels_last)  # type: ignore[call-overload]
    return module.to(device)


@contextlib.contextmanager
def cpu_threads(threads: int | None) -> Iterator[None]:
    """Set torch's intra-op threads inside the block and restore them afterwards (None: unchanged)."""
    if threads is None:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _f(t: torch.Tensor) -> float:
    return float(t.detach())


def _run(supernet: Supernet, arch: Arch, x: torch.Tensor) -> torch.Tensor:
    with supernet.activated(arch):
        return supernet(x)


# ---------------------------------------------------------------------------------------------- models
def build_models(
    space: SearchSpace, teacher: nn.Module | None, cfg: TrainConfig, *, num_classes: int
) -> dict[str, nn.Module]:
    """The modules a method trains: ``teacher``, ``supernet``, ``branches``, ``arch_dist`` (as
    applicable), initialised from ``cfg.seed``."""
    torch.manual_seed(cfg.seed)
    models: dict[str, nn.Module] = {}
    needs_teacher = cfg.method in ("gtn", "vanilla", "supernet-kd", "sftn")
    if needs_teacher:
        if teacher is None:
            raise ConfigError(f"method {cfg.method!r} needs a teacher")
        models["teacher"] = teacher
    if cfg.method != "vanilla":
        if not space.has_supernet:
            raise ConfigError(f"method {cfg.method!r} needs a search space with a supernet; {space.name!r} has none")
        supernet = space.build_supernet(num_classes=num_classes)
        models["supernet"] = supernet
    if cfg.method in ("gtn", "sftn"):
        assert teacher is not None
        channels, strides = teacher_geometry(teacher)
        models["branches"] = StudentBranches(
            channels,
            strides,
            models["supernet"],  # type: ignore[arg-type]
            include_head_only=cfg.gtn.include_head_only,
        )
        pool: Sequence[dict[str, Any]] | None = cfg.gtn.pool
        if cfg.method == "sftn":
            assert cfg.sftn_arch is not None
            pool = [cfg.sftn_arch]
        models["arch_dist"] = ArchDistribution(space, pool)
    if "supernet" in models and cfg.supernet_init == "grow":
        _grow_from_smallest(models["supernet"])  # type: ignore[arg-type]
    return models


def _grow_from_smallest(supernet: Supernet) -> None:
    """Function-preserving initialisation (:func:`autogtkd.gtn.grow_init`): every option beyond
    the smallest subnet starts as a no-op."""
    space = supernet.space
    x = torch.zeros(2, space.in_channels, space.input_size, space.input_size)  # (2, C, H, W): shapes only

    def reference() -> None:
        with supernet.activated(space.smallest()):
            supernet(x)

    grow_init([supernet], reference)


def _gtn_cfg(cfg: TrainConfig) -> GTNConfig:
    if cfg.method == "sftn":  # one fixed student: a single path, nothing to learn about the distribution
        from dataclasses import replace

        return replace(cfg.gtn, paths=1, sandwich=False, arch_loss="uniform", max_path_mflops=None)
    return cfg.gtn


# ---------------------------------------------------------------------------------------------- phases
@dataclass
class Phase:
    """A training phase: ``epochs`` epochs of ``step`` over the trained modules.

    Attributes:
        name: checkpoint/metrics name. epochs: length. train_modules: set to train mode (their
        parameters go to SGD). frozen: set to eval mode. arch_params: parameters for Adam (φ).
        step: the step function. evaluate: per-epoch validation numbers.
    """

    name: str
    epochs: int
    train_modules: list[nn.Module]
    frozen: list[nn.Module]
    step: StepFn
    evaluate: EvalFn
    arch_params: list[nn.Parameter] = field(default_factory=list)
    arch_lr: float = 1e-3


@dataclass
class TrainState:
    """Where a run is: phase index, epoch within the phase, global step, and the mutable sampling
    state (numpy generator for architectures, REINFORCE baseline)."""

    phase: int = 0
    epoch: int = 0
    step: int = 0
    rng: np.random.Generator = field(default_factory=lambda: np.random.default_rng(0))
    arch: _ArchState = field(default_factory=_ArchState)


def build_phases(
    models: dict[str, nn.Module],
    cfg: TrainConfig,
    state: TrainState,
    device: torch.device,
    calib_loader_fn: Callable[[], Any],
) -> list[Phase]:
    """The phases of ``cfg.method`` (see :class:`~autogtkd.train.TrainConfig`); ``calib_loader_fn``
    returns the batches that recalibrate a subnet's BatchNorm before its per-epoch evaluation."""
    teacher = models.get("teacher")
    supernet: Supernet | None = models.get("supernet")  # type: ignore[assignment]
    rng = state.rng
    t_epochs = cfg.teacher_epochs if cfg.teacher_epochs is not None else (0 if cfg.teacher_init else cfg.epochs)

    def eval_teacher(loader: Any) -> dict[str, float]:
        assert teacher is not None
        return {"val_top1_teacher": top1(teacher, loader, device, cfg.eval_batches)}

    def eval_supernet(loader: Any) -> dict[str, float]:
        # Subnets are scored as the search scores them: exported (weights copied, the supernet is not
        # touched), BatchNorm statistics recalibrated on ``calib_batches`` batches of the calibration
        # loader, then top-1. The supernet's own running statistics mix every sampled path and are
        # meaningless for any single subnet (measured: ~10 % without recalibration, docs/training.md).
        from autogtkd.evaluate import recalibrate_bn  # lazy: autogtkd.evaluate imports autogtkd.train

        assert supernet is not None
        out = {}
        for tag, a in (("largest", supernet.space.largest()), ("smallest", supernet.space.smallest())):
            sub = supernet.export(a).to(device)
            recalibrate_bn(sub, calib_loader_fn(), num_batches=cfg.calib_batches, device=device)
            out[f"val_top1_{tag}"] = top1(sub, loader, device, cfg.eval_batches)
        return out

    if cfg.method == "vanilla":
        assert teacher is not None
        return [Phase("teacher", cfg.epochs, [teacher], [], teacher_step(teacher), eval_teacher)]
    assert supernet is not None
    if cfg.method == "inplace":
        return [
            Phase(
                "supernet",
                cfg.epochs,
                [supernet],
                [],
                inplace_step(supernet, cfg.inplace_paths, cfg.kd_temperature, rng),
                eval_supernet,
            )
        ]
    if cfg.method == "supernet-kd":
        assert teacher is not None
        teacher_phase = [Phase("teacher", t_epochs, [teacher], [], teacher_step(teacher), eval_teacher)]
        return teacher_phase[: int(t_epochs > 0)] + [
            Phase(
                "supernet",
                cfg.epochs,
                [supernet],
                [teacher],
                supernet_kd_step(
                    supernet, teacher, cfg.inplace_paths, cfg.kd_temperature, rng, sandwich=cfg.kd_sandwich
                ),
                eval_supernet,
            ),
        ]
    # gtn / sftn
    assert teacher is not None
    branches: StudentBranches = models["branches"]  # type: ignore[assignment]
    dist: ArchDistribution = models["arch_dist"]  # type: ignore[assignment]
    gcfg = _gtn_cfg(cfg)
    if gcfg.arch_loss == "pool-prior" and state.arch.target is None:
        prior_rng = np.random.default_rng(cfg.seed + 7919)  # independent of the sampling stream
        state.arch.target = (
            dist.target_from_archs(list(gcfg.prior_archs)) if gcfg.prior_archs else flops_flat_prior(dist, prior_rng)
        )
    arch_params = [] if gcfg.arch_loss == "uniform" else list(dist.parameters())
    for p in dist.parameters():
        p.requires_grad_(bool(arch_params))

    def eval_gtn(loader: Any) -> dict[str, float]:
        return {**eval_teacher(loader), **eval_supernet(loader)}

    return [
        Phase(
            "gtn",
            cfg.epochs,
            [teacher, supernet, branches],
            [],
            gtn_step(teacher, supernet, branches, dist, gcfg, rng, state.arch),  # type: ignore[arg-type]
            eval_gtn,
            arch_params,
            gcfg.arch_lr,
        )
    ]


# ---------------------------------------------------------------------------------------------- loop
def lr_factor(optim: OptimConfig, step: int, total: int, steps_per_epoch: int) -> float:
    """Learning-rate multiplier at ``step`` of ``total`` steps (warm-up, then the schedule)."""
    warm = optim.warmup_epochs * steps_per_epoch
    if warm > 0 and step < warm:
        return (step + 1) / warm
    progress = min(1.0, (step - warm) / max(1.0, total - warm))
    if optim.schedule == "cosine":
        return 0.5 * (1.0 + math.cos(math.pi * progress))
    if optim.schedule == "step":
        return 0.1 ** sum(progress >= m for m in optim.milestones)
    return 1.0


@torch.no_grad()
def top1(model: nn.Module, loader: Any, device: torch.device, max_batches: int | None = None) -> float:
    """Top-1 accuracy (fraction in [0, 1]) of ``model`` in eval mode over ``loader`` (restores the mode)."""
    was = model.training
    model.eval()
    correct = total = 0
    try:
        for b, (x, y) in enumerate(loader):
            if max_batches is not None and b >= max_batches:
                break
            pred = model(x.to(device)).argmax(1).cpu()
            correct += int((pred == y).sum())
            total += int(y.numel())
    finally:
        model.train(was)
    return correct / max(total, 1)


@dataclass
class LoopIO:
    """What the loop writes and shows: checkpoint save/load callbacks, a metrics sink, a progress
    flag and an epoch-end hook (tests use it to simulate a kill)."""

    save: Callable[[TrainState, dict[str, Any], dict[str, Any]], None] | None = None
    saved: dict[str, Any] | None = None  # optimiser/scheduler states of the phase to resume
    log: Callable[[dict[str, Any]], None] | None = None
    progress: bool = False
    on_epoch_end: Callable[[TrainState], None] | None = None


def _params(modules: Sequence[nn.Module]) -> list[nn.Parameter]:
    seen: dict[int, nn.Parameter] = {}
    for m in modules:
        for p in m.parameters():
            if p.requires_grad:
                seen.setdefault(id(p), p)
    return list(seen.values())


def _autocast(device: torch.device, cfg: Any) -> contextlib.AbstractContextManager[Any]:
    if cfg.amp and device.type == "cuda":
        return torch.autocast("cuda", dtype=getattr(torch, cfg.amp_dtype))
    return contextlib.nullcontext()


def _bar(iterable: Any, total: int, desc: str, enabled: bool) -> Iterator[Any]:
    if not enabled:
        yield from iterable
        return
    from tqdm.auto import tqdm

    with tqdm(iterable, total=total, desc=desc, leave=False, dynamic_ncols=True) as bar:
        yield from bar


def run_phases(
    phases: Sequence[Phase],
    state: TrainState,
    loader: Any,
    val_loader: Any,
    cfg: Any,
    device: torch.device,
    ctx: DistContext,
    io: LoopIO,
) -> TrainState:
    """Run ``phases`` from ``state`` to the end.

    Per step: forward (autocast on GPUs), NaN/inf check (→ :class:`DivergenceError`, the last
    checkpoint stays), backward, gradient all-reduce across ranks, SGD (and Adam for φ) steps, the
    per-step learning-rate schedule. Per epoch: validation, metrics, checkpoint, ``on_epoch_end``.
    """
    steps_per_epoch = len(loader) if cfg.max_steps_per_epoch is None else min(len(loader), cfg.max_steps_per_epoch)
    for pi, phase in enumerate(phases):
        if pi < state.phase:
            continue
        params = _params(phase.train_modules)
        opt = torch.optim.SGD(
            params,
            lr=cfg.optim.lr,
            momentum=cfg.optim.momentum,
            weight_decay=cfg.optim.weight_decay,
            nesterov=cfg.optim.nesterov,
        )
        total = phase.epochs * steps_per_epoch

        def factor(step: int, total: int = total) -> float:
            return lr_factor(cfg.optim, step, total, steps_per_epoch)

        sched = torch.optim.lr_scheduler.LambdaLR(opt, factor)
        optimizers: dict[str, Any] = {phase.name: opt}
        if phase.arch_params:
            optimizers["arch"] = torch.optim.Adam(phase.arch_params, lr=phase.arch_lr)
        schedulers = {phase.name: sched}
        scaler = (
            torch.amp.GradScaler("cuda") if (cfg.amp and device.type == "cuda" and cfg.amp_dtype == "float16") else None
        )
        if io.saved is not None and pi == state.phase:
            for k, o in optimizers.items():
                if k in io.saved["optimizers"]:
                    o.load_state_dict(io.saved["optimizers"][k])
            for k, s in schedulers.items():
                if k in io.saved["schedulers"]:
                    s.load_state_dict(io.saved["schedulers"][k])
        all_params = params + phase.arch_params
        for epoch in range(state.epoch, phase.epochs):
            for m in phase.train_modules:
                m.train()
            for m in phase.frozen:
                m.eval()
            loader.set_epoch(epoch)
            t0, seen = time.perf_counter(), 0
            sums: dict[str, float] = {}
            batches = _bar(
                loader, steps_per_epoch, f"{phase.name} {epoch + 1}/{phase.epochs}", io.progress and ctx.is_main
            )
            for b, (x, y) in enumerate(batches):
                if b >= steps_per_epoch:
                    break
                x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
                if cfg.channels_last:
                    x = x.contiguous(memory_format=torch.channels_last)
                with _autocast(device, cfg):
                    loss, logs = phase.step(x, y)
                if not math.isfinite(ctx.mean(float(loss.detach()), device)):
                    kept = (
                        "the last checkpoint written is kept"
                        if state.epoch > 0 or pi > 0 or io.saved is not None
                        else "no epoch had completed, so there is no checkpoint"
                    )
                    raise DivergenceError(
                        f"{phase.name} loss became {_f(loss)} at epoch {epoch + 1}, step {state.step + 1}; "
                        f"{kept} (try a lower learning rate or a warm-up, optim.warmup_epochs)"
                    )
                for o in optimizers.values():
                    o.zero_grad(set_to_none=True)
                (scaler.scale(loss) if scaler else loss).backward()
                ctx.sync_grads(all_params)
                for o in optimizers.values():
                    if scaler:
                        scaler.step(o)
                    else:
                        o.step()
                if scaler:
                    scaler.update()
                sched.step()
                state.step += 1
                seen += int(x.shape[0])
                for k, v in logs.items():
                    sums[k] = sums.get(k, 0.0) + v
            seconds = time.perf_counter() - t0
            state.epoch = epoch + 1
            row: dict[str, Any] = {
                "phase": phase.name,
                "epoch": epoch + 1,
                "step": state.step,
                "lr": sched.get_last_lr()[0],
                "seconds": seconds,
                "images_per_s": seen * ctx.world_size / max(seconds, 1e-9),
            }
            row.update({f"train_{k}": v / max(steps_per_epoch, 1) for k, v in sums.items()})
            if ctx.is_main:
                row.update(phase.evaluate(val_loader))
                if io.log:
                    io.log(row)
            last = state.epoch == phase.epochs and pi == len(phases) - 1
            if io.save and (state.epoch % max(cfg.checkpoint_every, 1) == 0 or state.epoch == phase.epochs or last):
                if ctx.is_main:
                    io.save(
                        state,
                        {k: o.state_dict() for k, o in optimizers.items()},
                        {k: s.state_dict() for k, s in schedulers.items()},
                    )
                ctx.barrier()
            if io.on_epoch_end:
                io.on_epoch_end(state)
        if pi < len(phases) - 1:
            state.phase, state.epoch = pi + 1, 0
            io.saved = None
    return state


def make_loaders(data: Any, cfg: Any, ctx: DistContext) -> tuple[Any, Any]:
    """Training loader (shuffled, augmented per ``cfg.augment``, sharded across ranks) and validation loader."""
    train = data.loader(
        "train",
        cfg.batch_size,
        shuffle=True,
        augment=cfg.augment,
        seed=cfg.seed,
        drop_last=True,
        num_workers=cfg.num_workers,
        distributed=ctx.distributed,
    )
    val = data.loader("val", max(cfg.batch_size, 256), shuffle=False, augment=False)
    return train, val


__all__ += ["LoopIO", "cpu_threads", "lr_factor", "make_loaders", "resolve_device", "to_device"]
