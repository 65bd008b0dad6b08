"""Accuracy after distillation from the generic teacher: the ``inherit`` and ``finetune`` scorers.
BatchNorm recalibration and top-1 are :func:`autogtkd.nn.recalibrate_bn` and :func:`autogtkd.nn.top1`,
the same functions the training loop evaluates with."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator
from typing import Any

import torch
from torch import nn

from autogtkd.evaluate._base import Evaluator, Metrics
from autogtkd.exceptions import DivergenceError
from autogtkd.gtn import hinton_kd_loss
from autogtkd.nn import recalibrate_bn, top1
from autogtkd.space import Arch
from autogtkd.supernet import Supernet

__all__ = ["FinetuneScorer", "InheritScorer"]

Batches = Iterable[tuple[torch.Tensor, torch.Tensor]]


class InheritScorer(Evaluator):
    """``inherit``: the subnet with the supernet's weights (trained with the generic teacher), its
    BatchNorm statistics recalibrated on the calibration split, then validation top-1. Fast.

    The subnet is exported (weights copied), so the supernet is never modified.

    Args:
        supernet: the trained supernet.
        calib_loader: calibration batches (a re-iterable loader).
        val_loader: validation batches.
        calib_batches: calibration batches used (``None``: all).
        val_batches: validation batches used (``None``: all).
        device: where the subnet runs.
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
    ) -> None:
        self.supernet = supernet
        self.calib_loader, self.val_loader = calib_loader, val_loader
        self.calib_batches, self.val_batches = calib_batches, val_batches
        self.device = torch.device(device)

    def model(self, arch: Arch) -> nn.Module:
        """The recalibrated subnet of ``arch`` (a plain ``StagedNet`` on :attr:`device`)."""
        with _forked_rng(self.device, 0):  # loaders draw their seeds from torch's global RNG
            model = self.supernet.export(arch).to(self.device)
            recalibrate_bn(model, self.calib_loader, num_batches=self.calib_batches, device=self.device)
        return model

    def evaluate(self, arch: Arch) -> Metrics:
        model = self.model(arch)
        with _forked_rng(self.device, 0):
            acc = top1(model, self.val_loader, self.device, max_batches=self.val_batches)
        return {"accuracy": acc}


class FinetuneScorer(Evaluator):
    """``finetune``: a short KD fine-tune of the extracted subnet from the (frozen) generic teacher,
    then validation top-1. Faithful but ``steps`` times slower than :class:`InheritScorer`.

    Loss per step: Hinton KD ``γ·CE(z_S, y) + α·T²·KL(σ(z_T/T) ‖ σ(z_S/T))``
    (:func:`autogtkd.gtn.hinton_kd_loss`), SGD with momentum and a cosine learning-rate decay
    over ``steps``. The subnet starts from the supernet's weights (BatchNorm recalibrated first when
    ``calib_loader`` is given). Torch's global RNG is forked and seeded, so scores are repeatable
    and the caller's random state is untouched.

    Args:
        supernet: the trained supernet. teacher: the generic teacher (put in eval mode, not trained).
        train_loader: training batches (cycled). val_loader: validation batches.
        steps: optimiser steps. lr, momentum, weight_decay: SGD settings.
        temperature, alpha, gamma: KD loss settings (RepDistiller defaults 4, 0.9, 0.1).
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
    ) -> None:
        if steps < 1:
            raise ValueError(f"steps must be >= 1, got {steps}")
        self.supernet, self.teacher = supernet, teacher
        self.train_loader, self.val_loader, self.calib_loader = train_loader, val_loader, calib_loader
        self.steps, self.lr, self.momentum, self.weight_decay = steps, lr, momentum, weight_decay
        self.temperature, self.alpha, self.gamma = temperature, alpha, gamma
        self.calib_batches, self.val_batches, self.seed = calib_batches, val_batches, seed
        self.device = torch.device(device)

    def _batches(self) -> Iterator[Any]:
        while True:
            empty = True
            for batch in self.train_loader:
                empty = False
                yield batch
            if empty:
                raise ValueError("the training loader is empty")

    def model(self, arch: Arch) -> nn.Module:
        """The fine-tuned subnet of ``arch``."""
        with _forked_rng(self.device, self.seed):
            model = self.supernet.export(arch).to(self.device)
            if self.calib_loader is not None:
                recalibrate_bn(model, self.calib_loader, num_batches=self.calib_batches, device=self.device)
            teacher = self.teacher.to(self.device).eval()
            opt = torch.optim.SGD(
                model.parameters(), lr=self.lr, momentum=self.momentum, weight_decay=self.weight_decay
            )
            sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=self.steps)
            model.train()
            for _, (x, y) in zip(range(self.steps), self._batches()):
                x, y = x.to(self.device), y.to(self.device)
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
