"""The generic training loop: phases of epochs of steps, with checkpoints, resume, divergence checks,
progress bars, metrics, mixed precision and data parallelism.

A method (:mod:`autogtkd.train._methods`) is a list of :class:`Phase` objects (``supernet-kd``: a
vanilla-teacher phase, then a supernet phase). Each phase owns its optimisers; its ``step(x, y)``
(:mod:`autogtkd.train._steps`) returns the loss to minimise and the numbers to log. Checkpoints are
written at epoch ends, so a killed run resumes from the last finished epoch and, because data order,
augmentation and architecture sampling are seeded per epoch or restored from the checkpoint, reaches
the same state as an uninterrupted run.

:func:`run_phases` reads as the algorithm::

    for each remaining phase:
        optimisers = _PhaseOptimisers.create(phase)     # SGD + schedule, Adam over φ, grad scaler
        for each remaining epoch:
            sums = _Loop.train_epoch(...)               # _Loop.step per batch: forward, check, backward, step
            _Loop.end_epoch(...)                        # validation, metrics, checkpoint, hook
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

from autogtkd.exceptions import DivergenceError
from autogtkd.train._ddp import DistContext
from autogtkd.train._steps import ArchState, StepFn

if TYPE_CHECKING:  # annotations only: the configs validate method names against autogtkd.train._methods
    from autogtkd.train._config import LoopConfig, OptimConfig

__all__ = ["EvalFn", "LoopIO", "Phase", "TrainState", "lr_factor", "make_loaders", "run_phases"]

EvalFn = Callable[[Any], dict[str, float]]


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
    arch: ArchState = field(default_factory=ArchState)


@dataclass
class LoopIO:
    """What the loop writes and shows: checkpoint save/load callbacks, a metrics sink, a progress
    flag and an epoch-end hook (tests use it to simulate a kill)."""

    save: Callable[[TrainState, dict[str, Any], dict[str, Any]], None] | None = None
    saved: dict[str, Any] | None = None  # optimiser/scheduler states of the phase to resume
    log: Callable[[dict[str, Any]], None] | None = None
    progress: bool = False
    on_epoch_end: Callable[[TrainState], None] | None = None


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


def make_loaders(data: Any, cfg: LoopConfig, ctx: DistContext) -> tuple[Any, Any]:
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


def run_phases(
    phases: Sequence[Phase],
    state: TrainState,
    loader: Any,
    val_loader: Any,
    cfg: LoopConfig,
    device: torch.device,
    ctx: DistContext,
    io: LoopIO,
) -> TrainState:
    """Run ``phases`` from ``state`` to the end.

    Per step: forward (autocast on GPUs), NaN/inf check (→ :class:`DivergenceError`, the last
    checkpoint stays), backward, gradient all-reduce across ranks, SGD (and Adam for φ) steps, the
    per-step learning-rate schedule. Per epoch: validation, metrics, checkpoint, ``on_epoch_end``.
    """
    steps = len(loader) if cfg.max_steps_per_epoch is None else min(len(loader), cfg.max_steps_per_epoch)
    loop = _Loop(state, loader, val_loader, cfg, device, ctx, io, steps)
    for pi in range(state.phase, len(phases)):
        phase = phases[pi]
        opt = _PhaseOptimisers.create(phase, cfg, device, steps)
        if io.saved is not None:  # the phase the checkpoint was written in
            opt.load(io.saved)
        for epoch in range(state.epoch, phase.epochs):
            sums, seen, seconds = loop.train_epoch(phase, opt, epoch, first_phase=pi == 0)
            loop.end_epoch(phase, opt, epoch, sums, seen, seconds)
        if pi < len(phases) - 1:
            state.phase, state.epoch = pi + 1, 0
            io.saved = None
    return state


# ---------------------------------------------------------------------------------------------- pieces
@dataclass
class _PhaseOptimisers:
    """A phase's optimisers: SGD over its trained modules with the per-step schedule, Adam over φ
    when it has architecture parameters, and a gradient scaler for float16 autocast on CUDA."""

    optimizers: dict[str, torch.optim.Optimizer]
    schedulers: dict[str, torch.optim.lr_scheduler.LambdaLR]
    scaler: torch.amp.GradScaler | None
    params: list[nn.Parameter]  # every trained parameter: their gradients are averaged across ranks

    @classmethod
    def create(cls, phase: Phase, cfg: LoopConfig, device: torch.device, steps_per_epoch: int) -> _PhaseOptimisers:
        params = _params(phase.train_modules)
        o = cfg.optim
        sgd = torch.optim.SGD(params, lr=o.lr, momentum=o.momentum, weight_decay=o.weight_decay, nesterov=o.nesterov)
        total = phase.epochs * steps_per_epoch
        sched = torch.optim.lr_scheduler.LambdaLR(sgd, lambda step: lr_factor(o, step, total, steps_per_epoch))
        optimizers: dict[str, torch.optim.Optimizer] = {phase.name: sgd}
        if phase.arch_params:
            optimizers["arch"] = torch.optim.Adam(phase.arch_params, lr=phase.arch_lr)
        fp16 = cfg.amp and device.type == "cuda" and cfg.amp_dtype == "float16"
        scaler = torch.amp.GradScaler("cuda") if fp16 else None
        return cls(optimizers, {phase.name: sched}, scaler, params + phase.arch_params)

    def load(self, saved: dict[str, Any]) -> None:
        """Restore the optimiser and scheduler states of a checkpoint (those it has)."""
        for k, o in self.optimizers.items():
            if k in saved["optimizers"]:
                o.load_state_dict(saved["optimizers"][k])
        for k, s in self.schedulers.items():
            if k in saved["schedulers"]:
                s.load_state_dict(saved["schedulers"][k])

    def state_dicts(self) -> tuple[dict[str, Any], dict[str, Any]]:
        return (
            {k: o.state_dict() for k, o in self.optimizers.items()},
            {k: s.state_dict() for k, s in self.schedulers.items()},
        )

    def backward_and_step(self, loss: torch.Tensor, ctx: DistContext) -> None:
        """Zero the gradients, back-propagate (scaled under float16), average gradients across
        ranks, step every optimiser, then the learning-rate schedule."""
        for o in self.optimizers.values():
            o.zero_grad(set_to_none=True)
        (self.scaler.scale(loss) if self.scaler else loss).backward()
        ctx.sync_grads(self.params)
        for o in self.optimizers.values():
            if self.scaler:
                self.scaler.step(o)
            else:
                o.step()
        if self.scaler:
            self.scaler.update()
        for s in self.schedulers.values():
            s.step()

    @property
    def lr(self) -> float:
        """The current learning rate of the phase's SGD."""
        return float(next(iter(self.schedulers.values())).get_last_lr()[0])


@dataclass
class _Loop:
    """What every piece of the loop reads: the run's state, data, config, device, ranks and I/O."""

    state: TrainState
    loader: Any
    val_loader: Any
    cfg: LoopConfig
    device: torch.device
    ctx: DistContext
    io: LoopIO
    steps_per_epoch: int

    def train_epoch(
        self, phase: Phase, opt: _PhaseOptimisers, epoch: int, *, first_phase: bool
    ) -> tuple[dict[str, float], int, float]:
        """One epoch of steps; returns the summed step logs, the images seen and the seconds taken."""
        for m in phase.train_modules:
            m.train()
        for m in phase.frozen:
            m.eval()
        self.loader.set_epoch(epoch)
        # what a divergence leaves behind: decided before this epoch's steps change the state
        had_checkpoint = self.state.epoch > 0 or not first_phase or self.io.saved is not None
        t0, seen = time.perf_counter(), 0
        sums: dict[str, float] = {}
        desc = f"{phase.name} {epoch + 1}/{phase.epochs}"
        batches = _bar(self.loader, self.steps_per_epoch, desc, self.io.progress and self.ctx.is_main)
        for b, (x, y) in enumerate(batches):
            if b >= self.steps_per_epoch:
                break
            logs = self.step(phase, opt, x, y, epoch, had_checkpoint)
            seen += int(x.shape[0])
            for k, v in logs.items():
                sums[k] = sums.get(k, 0.0) + v
        return sums, seen, time.perf_counter() - t0

    def step(
        self, phase: Phase, opt: _PhaseOptimisers, x: torch.Tensor, y: torch.Tensor, epoch: int, had_checkpoint: bool
    ) -> dict[str, float]:
        """One optimiser step on the batch ``(x, y)``: forward, finiteness check, backward, update."""
        x, y = x.to(self.device, non_blocking=True), y.to(self.device, non_blocking=True)
        if self.cfg.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        with _autocast(self.device, self.cfg):
            loss, logs = phase.step(x, y)
        if not math.isfinite(self.ctx.mean(float(loss.detach()), self.device)):
            kept = (
                "the last checkpoint written is kept"
                if had_checkpoint
                else "no epoch had completed, so there is no checkpoint"
            )
            raise DivergenceError(
                f"{phase.name} loss became {float(loss.detach())} at epoch {epoch + 1}, step {self.state.step + 1}; "
                f"{kept} (try a lower learning rate or a warm-up, optim.warmup_epochs)"
            )
        opt.backward_and_step(loss, self.ctx)
        self.state.step += 1
        return logs

    def end_epoch(
        self, phase: Phase, opt: _PhaseOptimisers, epoch: int, sums: dict[str, float], seen: int, seconds: float
    ) -> None:
        """Epoch-end bookkeeping: the metrics record (with validation, on rank 0), the checkpoint
        (every ``checkpoint_every`` epochs and at the end of each phase), the ``on_epoch_end`` hook."""
        st, io = self.state, self.io
        st.epoch = epoch + 1
        row: dict[str, Any] = {
            "phase": phase.name,
            "epoch": st.epoch,
            "step": st.step,
            "lr": opt.lr,
            "seconds": seconds,
            "images_per_s": seen * self.ctx.world_size / max(seconds, 1e-9),
        }
        row.update({f"train_{k}": v / max(self.steps_per_epoch, 1) for k, v in sums.items()})
        if self.ctx.is_main:
            if st.epoch % self.cfg.eval_every == 0 or st.epoch == phase.epochs:
                desc = f"{phase.name} {st.epoch}/{phase.epochs} validation"
                with _counting_bar(desc, io.progress) as bar:
                    row.update(phase.evaluate(_Counted(self.val_loader, bar)))
            if io.log:
                io.log(row)
        if io.save and (st.epoch % max(self.cfg.checkpoint_every, 1) == 0 or st.epoch == phase.epochs):
            if self.ctx.is_main:
                io.save(st, *opt.state_dicts())
            self.ctx.barrier()
        if io.on_epoch_end:
            io.on_epoch_end(st)


def _params(modules: Sequence[nn.Module]) -> list[nn.Parameter]:
    seen: dict[int, nn.Parameter] = {}
    for m in modules:
        for p in m.parameters():
            if p.requires_grad:
                seen.setdefault(id(p), p)
    return list(seen.values())


def _autocast(device: torch.device, cfg: LoopConfig) -> contextlib.AbstractContextManager[Any]:
    if cfg.amp and device.type == "cuda":
        return torch.autocast("cuda", dtype=getattr(torch, cfg.amp_dtype))
    return contextlib.nullcontext()


class _Counted:
    """``loader`` whose batches advance ``bar`` (None: no bar): the per-epoch validation, which scores
    several models on the validation batches, shows progress per batch."""

    def __init__(self, loader: Any, bar: Any) -> None:
        self.loader, self.bar = loader, bar

    def __iter__(self) -> Iterator[Any]:
        for batch in self.loader:
            yield batch
            if self.bar is not None:
                self.bar.update(1)

    def __len__(self) -> int:
        return len(self.loader)

    def __getattr__(self, name: str) -> Any:  # the rest of the loader's interface (dataset, batch_size, ...)
        return getattr(self.loader, name)


@contextlib.contextmanager
def _counting_bar(desc: str, enabled: bool) -> Iterator[Any]:
    """A progress bar without a total (batches counted), or None when disabled."""
    if not enabled:
        yield None
        return
    from tqdm.auto import tqdm

    with tqdm(desc=desc, unit="batch", leave=False, dynamic_ncols=True) as bar:
        yield bar


def _bar(iterable: Any, total: int, desc: str, enabled: bool) -> Iterator[Any]:
    if not enabled:
        yield from iterable
        return
    from tqdm.auto import tqdm  # optional display dependency, imported only when a bar is shown

    with tqdm(iterable, total=total, desc=desc, leave=False, dynamic_ncols=True) as bar:
        yield from bar
