"""One step function per training method: ``step(x, y) -> (loss to minimise, numbers to log)``.

Each factory closes over the modules it trains and returns a :data:`StepFn`; the generic loop
(:mod:`autogtkd.train._loops`) runs it, checks the loss, back-propagates and steps the optimisers.
The formulas are in each docstring; the losses are the pure functions of :mod:`autogtkd.gtn`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from autogtkd.gtn import ArchDistribution, GTNConfig, StudentBranches, arch_loss, gtn_losses, kd_kl, sample_paths
from autogtkd.nn import StagedNet
from autogtkd.space import Arch
from autogtkd.supernet import Supernet

__all__ = ["ArchState", "StepFn", "gtn_step", "inplace_step", "supernet_kd_step", "teacher_step"]

StepFn = Callable[[torch.Tensor, torch.Tensor], tuple[torch.Tensor, dict[str, float]]]


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
class ArchState:
    """Mutable state of the architecture distribution between GTN steps (checkpointed): the
    REINFORCE baseline and the ``pool-prior`` target distribution."""

    baseline: float | None = None
    target: list[torch.Tensor] | None = None

    def to_extra(self) -> dict[str, Any]:
        """The state as checkpoint ``extra`` data (``arch_baseline``, ``arch_target`` on the CPU)."""
        target = None if self.target is None else [t.detach().cpu() for t in self.target]
        return {"arch_baseline": self.baseline, "arch_target": target}

    def restore(self, extra: Mapping[str, Any], device: torch.device) -> None:
        """Restore the state from checkpoint ``extra`` data written by :meth:`to_extra`."""
        self.baseline = extra.get("arch_baseline")
        if extra.get("arch_target") is not None:
            self.target = [t.to(device) for t in extra["arch_target"]]


def gtn_step(
    teacher: StagedNet,
    supernet: Supernet,
    branches: StudentBranches,
    dist: ArchDistribution,
    cfg: GTNConfig,
    rng: np.random.Generator,
    arch_state: ArchState,
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


def _f(t: torch.Tensor) -> float:
    return float(t.detach())


def _run(supernet: Supernet, arch: Arch, x: torch.Tensor) -> torch.Tensor:
    with supernet.activated(arch):
        return supernet(x)
