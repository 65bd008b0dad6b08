"""The GTN objective: teacher task loss + conditioning loss over sampled student paths + the
architecture loss of the sampling distribution. Pure functions over modules; the training loop in
:mod:`autogtkd.train` composes them.

``L = CE(z_T, y) + λ_c · mean_i L_cond(a_i)`` with ``a_i ~ p_φ`` (``n`` paths per step, optionally the
sandwich pair smallest/largest added), see :func:`~autogtkd.gtn.conditioning_loss`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from autogtkd.gtn._arch_dist import ArchDistribution, ArchLossMode
from autogtkd.gtn._branches import StudentBranches, run_path
from autogtkd.gtn._losses import conditioning_loss
from autogtkd.exceptions import ConfigError
from autogtkd.nn import StagedNet
from autogtkd.space import Arch
from autogtkd.supernet import Supernet

__all__ = ["GTNConfig", "PathSample", "arch_loss", "gtn_losses", "sample_paths"]


@dataclass(frozen=True)
class GTNConfig:
    """Every inferred choice of the reconstructed GTN step, with its default.

    Attributes:
        paths: ``n``, student paths sampled from ``p_φ`` per step (4, docs/training.md).
        sandwich: add the smallest and the largest architecture to the ``n`` sampled paths.
        cond_weight: ``λ_c``, weight of the mean conditioning loss (1).
        kl_weight: ``λ_kl``, weight of the KL term inside the conditioning loss (1).
        temperature: ``τ`` of the conditioning KL (4).
        detach_teacher: detach ``z_T`` in the conditioning KL (False: gradients reach the teacher).
        full_path: also count the full student path (image → supernet) as a branch (True).
        include_head_only: also branch from the teacher's last stage into the student head alone.
        arch_loss: ``uniform`` | ``reinforce-hard`` | ``gumbel`` | ``pool-prior`` (see
            :mod:`autogtkd.gtn._arch_dist`); ``uniform`` until a benchmark picks another.
        arch_lr: Adam learning rate of ``φ`` (1e-3).
        entropy_weight: ``β``, entropy bonus of ``reinforce-hard``/``gumbel`` (1e-3).
        baseline_momentum: EMA momentum of the ``reinforce-hard`` baseline (0.9).
        gumbel_tau: Gumbel-softmax temperature (1.0).
        gumbel_sign: +1 ascend ``L_cond`` (favour hard students), −1 descend.
        pool: explicit finite support, a list of architectures (None: the whole space).
        prior_archs: ``pool-prior`` target architectures (None: a FLOPs-flattened prior).
        max_path_mflops: only sample paths at or below this many MFLOPs (MACs), by rejection with
            up to 64 draws, else the smallest architecture (None: no limit). Cheap CPU runs use it.
    """

    paths: int = 4
    sandwich: bool = False
    cond_weight: float = 1.0
    kl_weight: float = 1.0
    temperature: float = 4.0
    detach_teacher: bool = False
    full_path: bool = True
    include_head_only: bool = False
    arch_loss: ArchLossMode = "uniform"
    arch_lr: float = 1e-3
    entropy_weight: float = 1e-3
    baseline_momentum: float = 0.9
    gumbel_tau: float = 1.0
    gumbel_sign: float = 1.0
    pool: tuple[dict[str, Any], ...] | None = None
    prior_archs: tuple[dict[str, Any], ...] | None = None
    max_path_mflops: float | None = None

    def __post_init__(self) -> None:
        if self.paths < 1 and not self.sandwich:
            raise ConfigError("gtn.paths must be >= 1 (or use the sandwich rule)")
        if self.gumbel_sign not in (1.0, -1.0):
            raise ConfigError("gtn.gumbel_sign must be +1 or -1")


@dataclass
class PathSample:
    """One student path of a step: the architecture, its option indices (None for sandwich paths,
    which the architecture loss ignores) and, in ``gumbel`` mode, the straight-through weight."""

    arch: Arch
    indices: list[int] | None = None
    weight: torch.Tensor | None = field(default=None, repr=False)


def sample_paths(dist: ArchDistribution, cfg: GTNConfig, rng: np.random.Generator) -> list[PathSample]:
    """The paths of one step: ``cfg.paths`` draws from ``dist`` (Gumbel draws in ``gumbel`` mode),
    plus smallest and largest under the sandwich rule."""
    space = dist.space
    limit = None if cfg.max_path_mflops is None else cfg.max_path_mflops * 1e6
    out: list[PathSample] = []
    for _ in range(cfg.paths):
        for _try in range(64):
            if cfg.arch_loss == "gumbel":
                arch, idx, w = dist.sample_gumbel(rng, cfg.gumbel_tau)
            else:
                (arch, idx), w = dist.sample(rng), None
            if limit is None or space.flops(arch) <= limit:
                break
        else:
            arch, idx, w = space.smallest(), None, None
        out.append(PathSample(arch, idx, w))
    if cfg.sandwich:
        out += [PathSample(space.smallest()), PathSample(space.largest())]
    return out


def gtn_losses(
    x: torch.Tensor,
    y: torch.Tensor,
    teacher: StagedNet,
    supernet: Supernet,
    branches: StudentBranches,
    paths: Sequence[PathSample],
    cfg: GTNConfig,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """The weight loss of one GTN step on images ``x`` (N, C, H, W) and labels ``y`` (N,).

    Returns ``(loss, teacher_ce, cond, teacher_logits)``: ``loss = CE(z_T, y) + λ_c · mean_i cond_i``,
    ``cond`` the ``(len(paths),)`` per-path conditioning losses (graph attached), ``teacher_logits``
    ``(N, classes)``.
    """
    feats = teacher.forward_stages(x)  # K_T tensors (N, C_k, H_k, W_k)
    z_t = teacher.forward_from(len(feats), feats[-1])  # (N, classes): the head only
    teacher_ce = F.cross_entropy(z_t.float(), y)
    cond = []
    for p in paths:
        logits = branches(feats, supernet, p.arch)
        if cfg.full_path:
            logits.append(run_path(supernet, p.arch, x))
        cond.append(
            conditioning_loss(
                logits, z_t, y, temperature=cfg.temperature, kl_weight=cfg.kl_weight, detach_teacher=cfg.detach_teacher
            )
        )
    cond_t = torch.stack(cond)  # (n_paths,)
    return teacher_ce + cfg.cond_weight * cond_t.mean(), teacher_ce, cond_t, z_t


def arch_loss(
    dist: ArchDistribution,
    paths: Sequence[PathSample],
    cond: torch.Tensor,
    cfg: GTNConfig,
    *,
    baseline: float | None,
    target: Sequence[torch.Tensor] | None = None,
) -> torch.Tensor | None:
    """The architecture loss for ``cfg.arch_loss`` (formulas in :mod:`autogtkd.gtn._arch_dist`).

    ``cond`` is the per-path conditioning loss (detached here); sandwich paths are ignored. Returns
    None in ``uniform`` mode (``φ`` frozen) or when no sampled path exists.
    """
    mode = cfg.arch_loss
    sampled = [(p, float(c)) for p, c in zip(paths, cond.detach(), strict=True) if p.indices is not None]
    if mode == "uniform" or not sampled:
        return None
    if mode == "pool-prior":
        if target is None:
            raise ConfigError("pool-prior needs a target distribution")
        return dist.kl_to(target)
    if mode == "reinforce-hard":
        b = baseline if baseline is not None else float(np.mean([c for _, c in sampled]))
        pg = torch.stack([-(c - b) * dist.log_prob(p.indices) for p, c in sampled]).mean()  # type: ignore[arg-type]
        return pg - cfg.entropy_weight * dist.entropy()
    if mode == "gumbel":
        st = torch.stack([p.weight * c for p, c in sampled if p.weight is not None]).mean()
        return -cfg.gumbel_sign * st - cfg.entropy_weight * dist.entropy()
    raise ConfigError(f"unknown arch_loss {mode!r}")
