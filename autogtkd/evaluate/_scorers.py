"""Accuracy after distillation from the generic teacher: the ``inherit`` and ``finetune`` scorers.
BatchNorm recalibration and top-1 are :func:`autogtkd.nn.recalibrate_bn` and :func:`autogtkd.nn.top1`,
the same functions the training loop evaluates with.

Scorers are registered by name (:func:`register_scorer`): a factory ``(run, options) -> Evaluator``
builds one for a trained run (:class:`~autogtkd.train.TrainedRun`) with the command line's
:class:`ScorerOptions`; ``autogtkd search --scorer`` accepts every registered name. Adding one
touches one file (yours: register it before calling :func:`autogtkd.cli.main`, or in this module).

Example:
    >>> from autogtkd.evaluate import InheritScorer, register_scorer
    >>> def quick(run, options):  # inherit, on 2 validation batches
    ...     calib = run.data.loader("calib", batch_size=128, shuffle=False, augment=False)
    ...     val = run.data.loader("val", batch_size=256, shuffle=False, augment=False)
    ...     return InheritScorer(run.supernet, calib, val, val_batches=2, device=options.device)
    >>> register_scorer("quick", quick)          # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from autogtkd.evaluate._base import Evaluator, Metrics
from autogtkd.exceptions import ConfigError, DivergenceError, RunError
from autogtkd.gtn import hinton_kd_loss
from autogtkd.nn import recalibrate_bn, to_device, top1
from autogtkd.registry import Registry
from autogtkd.space import Arch
from autogtkd.supernet import Supernet

if TYPE_CHECKING:
    from autogtkd.train import TrainedRun

__all__ = [
    "SCORERS",
    "FinetuneScorer",
    "InheritScorer",
    "ScorerFactory",
    "ScorerOptions",
    "create_scorer",
    "list_scorers",
    "register_scorer",
]

Batches = Iterable[tuple[torch.Tensor, torch.Tensor]]


class InheritScorer(Evaluator):
    """``inherit``: the subnet with the supernet's weights (trained with the generic teacher), its
    BatchNorm statistics recalibrated on the calibration split, then validation top-1. Fast.

    The subnet is exported (weights copied), so the supernet is never modified. Its cost is two plain
    forward passes (calibration images in BatchNorm-training mode, then validation images), run under
    :func:`torch.inference_mode`; per-candidate time against that floor: docs/benchmarks.md, "Main job".

    Args:
        supernet: the trained supernet.
        calib_loader: calibration batches (a re-iterable loader).
        val_loader: validation batches.
        calib_batches: calibration batches used (``None``: all).
        val_batches: validation batches used (``None``: all).
        device: where the subnet runs.
        channels_last: run the subnet in the NHWC memory format (default; scores equal up to
            rounding): MobileNetV3 subnets run 1.9x faster on CPU (docs/benchmarks.md, "Main job").
    """

    name = "inherit"

    def __init__(
        self,
        supernet: Supernet,
        calib_loader: Batches,
        val_loader: Batches,
        *,
        calib_batches: int | None = None,
        val_batches: int | None = None,
        device: str | torch.device = "cpu",
        channels_last: bool = True,
    ) -> None:
        self.supernet = supernet
        self.calib_loader, self.val_loader = calib_loader, val_loader
        self.calib_batches, self.val_batches = calib_batches, val_batches
        self.device = torch.device(device)
        self.channels_last = channels_last

    def model(self, arch: Arch) -> nn.Module:
        """The recalibrated subnet of ``arch`` (a plain ``StagedNet`` on :attr:`device`)."""
        with _forked_rng(self.device, 0):  # loaders draw their seeds from torch's global RNG
            model = to_device(self.supernet.export(arch), self.device, channels_last=self.channels_last)
            with torch.inference_mode():  # only BatchNorm buffers change; the weights stay trainable
                recalibrate_bn(model, self.calib_loader, num_batches=self.calib_batches, device=self.device)
        return model

    def evaluate(self, arch: Arch) -> Metrics:
        model = self.model(arch)
        with _forked_rng(self.device, 0), torch.inference_mode():
            acc = top1(model, self.val_loader, self.device, max_batches=self.val_batches)
        return {"accuracy": acc}


class FinetuneScorer(Evaluator):
    """``finetune``: a short KD fine-tune of the extracted subnet from the (frozen) generic teacher,
    then validation top-1. Faithful but ``steps`` times slower than :class:`InheritScorer`.

    Loss per step: Hinton KD ``γ·CE(z_S, y) + α·T²·KL(σ(z_T/T) ‖ σ(z_S/T))``
    (:func:`autogtkd.gtn.hinton_kd_loss`), SGD with momentum and a cosine learning-rate decay
    over ``steps``. The subnet starts from the supernet's weights (BatchNorm recalibrated first when
    ``calib_loader`` is given). Torch's global RNG is forked and seeded, so scores are repeatable
    and the caller's random state is untouched; a seeded training loader (one with ``set_epoch``,
    as :meth:`autogtkd.data.DataSplits.loader` gives) restarts at its first epoch for every
    candidate, so all candidates see the same batches (common random numbers: a score does not
    depend on which candidates were scored before it).

    Args:
        supernet: the trained supernet. teacher: the generic teacher (put in eval mode, not trained).
        train_loader: training batches (cycled). val_loader: validation batches.
        steps: optimiser steps. lr, momentum, weight_decay: SGD settings.
        temperature, alpha, gamma: KD loss settings (RepDistiller defaults 4, 0.9, 0.1).
        channels_last: run the subnet and the teacher in the NHWC memory format (default, as
            :class:`InheritScorer`; scores equal up to rounding, faster on CPU: docs/search.md).
    """

    name = "finetune"

    def __init__(
        self,
        supernet: Supernet,
        teacher: nn.Module,
        train_loader: Batches,
        val_loader: Batches,
        *,
        steps: int = 50,
        lr: float = 0.01,
        momentum: float = 0.9,
        weight_decay: float = 5e-4,
        temperature: float = 4.0,
        alpha: float = 0.9,
        gamma: float = 0.1,
        calib_loader: Batches | None = None,
        calib_batches: int | None = None,
        val_batches: int | None = None,
        seed: int = 0,
        device: str | torch.device = "cpu",
        channels_last: bool = True,
    ) -> None:
        if steps < 1:
            raise ValueError(f"steps must be >= 1, got {steps}")
        self.supernet, self.teacher = supernet, teacher
        self.train_loader, self.val_loader, self.calib_loader = train_loader, val_loader, calib_loader
        self.steps, self.lr, self.momentum, self.weight_decay = steps, lr, momentum, weight_decay
        self.temperature, self.alpha, self.gamma = temperature, alpha, gamma
        self.calib_batches, self.val_batches, self.seed = calib_batches, val_batches, seed
        self.device = torch.device(device)
        self.channels_last = channels_last

    def _batches(self) -> Iterator[Any]:
        """Training batches, cycled; a seeded loader (``set_epoch``) restarts at epoch 0, so every
        candidate sees the same batches whatever the order candidates are scored in."""
        set_epoch = getattr(self.train_loader, "set_epoch", None)
        for epoch in itertools.count():
            if set_epoch is not None:
                set_epoch(epoch)
            empty = True
            for batch in self.train_loader:
                empty = False
                yield batch
            if empty:
                raise ValueError("the training loader is empty")

    def model(self, arch: Arch) -> nn.Module:
        """The fine-tuned subnet of ``arch``."""
        with _forked_rng(self.device, self.seed):
            model = to_device(self.supernet.export(arch), self.device, channels_last=self.channels_last)
            if self.calib_loader is not None:
                recalibrate_bn(model, self.calib_loader, num_batches=self.calib_batches, device=self.device)
            teacher = to_device(self.teacher, self.device, channels_last=self.channels_last).eval()
            opt = torch.optim.SGD(
                model.parameters(), lr=self.lr, momentum=self.momentum, weight_decay=self.weight_decay
            )
            sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=self.steps)
            model.train()
            for _, (x, y) in zip(range(self.steps), self._batches()):
                x, y = x.to(self.device), y.to(self.device)
                if self.channels_last:
                    x = x.contiguous(memory_format=torch.channels_last)
                with torch.no_grad():
                    z_t = teacher(x)
                loss = hinton_kd_loss(
                    model(x), z_t, y, gamma=self.gamma, alpha=self.alpha, temperature=self.temperature
                )
                if not torch.isfinite(loss):
                    raise DivergenceError(f"finetune scorer: non-finite KD loss on {arch.key}; lower the learning rate")
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                sched.step()
        return model.eval()

    def evaluate(self, arch: Arch) -> Metrics:
        model = self.model(arch)
        with _forked_rng(self.device, self.seed):  # loaders draw their seeds from torch's global RNG
            acc = top1(model, self.val_loader, self.device, max_batches=self.val_batches)
        return {"accuracy": acc, "finetune_steps": float(self.steps)}


@contextlib.contextmanager
def _forked_rng(device: torch.device, seed: int) -> Iterator[None]:
    """Seed torch's global RNG inside the block and restore the caller's state afterwards."""
    devices = [device.index or 0] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        yield


# --- the scorer registry ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ScorerOptions:
    """The settings ``autogtkd search`` gives every scorer factory.

    Attributes:
        calib_batches: calibration batches (of 128) for BatchNorm recalibration (``None``: all).
        val_batches: validation batches (of 256) scored (``None``: all).
        steps: optimiser steps of scorers that train (``finetune``).
        seed: seeds the scorer's data order and RNG.
        device: torch device the scorer runs on.
    """

    calib_batches: int | None = 2
    val_batches: int | None = None
    steps: int = 50
    seed: int = 0
    device: str = "cpu"


#: ``factory(run, options) -> Evaluator``; its docstring's first line is the ``--scorer`` help.
ScorerFactory = Callable[["TrainedRun", ScorerOptions], Evaluator]
SCORERS: Registry[Evaluator] = Registry("scorer")


def register_scorer(name: str, factory: ScorerFactory, *, overwrite: bool = False) -> None:
    """Register a scorer factory ``(run, options) -> Evaluator`` as ``name``."""
    SCORERS.register(name, factory, overwrite=overwrite)


def list_scorers() -> list[str]:
    """Names of the registered scorers."""
    return SCORERS.list()


def create_scorer(name: str, run: TrainedRun, options: ScorerOptions | None = None) -> Evaluator:
    """The scorer registered as ``name`` for ``run``; an unknown name raises :class:`ConfigError`
    listing the registered ones."""
    if name not in SCORERS:
        raise ConfigError(f"scorer must be one of {list_scorers()}, got {name!r}")
    return SCORERS.get(name)(run, options or ScorerOptions())


def _eval_loaders(run: TrainedRun) -> tuple[Batches, Batches]:
    """The calibration (batches of 128) and validation (256) loaders of ``run``'s data, in order."""
    calib = run.data.loader("calib", batch_size=128, shuffle=False, augment=False)
    return calib, run.data.loader("val", batch_size=256, shuffle=False, augment=False)


@SCORERS.register("inherit")
def _inherit(run: TrainedRun, options: ScorerOptions) -> Evaluator:
    """supernet weights + BN recalibration (fast)"""
    calib, val = _eval_loaders(run)
    assert run.supernet is not None
    return InheritScorer(
        run.supernet,
        calib,
        val,
        calib_batches=options.calib_batches,
        val_batches=options.val_batches,
        device=options.device,
    )


@SCORERS.register("finetune")
def _finetune(run: TrainedRun, options: ScorerOptions) -> Evaluator:
    """short KD fine-tune from the generic teacher (faithful)"""
    if run.teacher is None:
        raise RunError(f"run {run.path} has no teacher; use --scorer inherit")
    assert run.supernet is not None
    calib, val = _eval_loaders(run)
    train = run.data.loader("train", batch_size=64, shuffle=True, augment=True, seed=options.seed)
    return FinetuneScorer(
        run.supernet,
        run.teacher,
        train,
        val,
        steps=options.steps,
        calib_loader=calib,
        calib_batches=options.calib_batches,
        val_batches=options.val_batches,
        seed=options.seed,
        device=options.device,
    )
