"""The GTN objective: teacher task loss + conditioning loss over sampled student paths + the
architecture loss of the sampling distribution. Pure functions over modules; the training loop in
:mod:`autogtkd.train` composes them.

``L = CE(z_T, y) + λ_c · mean_i L_cond(a_i)`` with ``a_i ~ p_φ`` (``n`` paths per step, optionally the
sandwich pair smallest/largest added), see :func:`~autogtkd.gtn.conditioning_loss`. docs/training.md
states every option and which benchmark chose its default.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import torch
import torch.nn.functional as F

from autogtkd.exceptions import ConfigError
from autogtkd.gtn._arch_dist import ArchDistribution
from autogtkd.gtn._arch_losses import ARCH_LOSSES, ArchLoss, ArchLossInputs, create_arch_loss, list_arch_losses
from autogtkd.gtn._branches import StudentBranches, run_path
from autogtkd.gtn._losses import BranchReduction, KLDirection, conditioning_loss
from autogtkd.nn import StagedNet
from autogtkd.space import Arch
from autogtkd.supernet import Supernet

__all__ = ["FULL_PATH_MODES", "FullPathMode", "GTNConfig", "PathSample", "arch_loss", "gtn_losses", "sample_paths"]

FullPathMode = Literal["off", "distill", "mutual"]
FULL_PATH_MODES: tuple[str, ...] = ("off", "distill", "mutual")
_MAX_TRIES = 64  # rejection draws per path under max_path_mflops before falling back to the smallest
_TRUNCATION_REFS = 8  # extra draws from the truncated distribution that estimate ∇ log Z (REINFORCE)


@dataclass(frozen=True)
class GTNConfig:
    """Every inferred choice of the reconstructed GTN step, with its default.

    Attributes:
        paths: ``n``, student paths sampled from ``p_φ`` per step (4, docs/training.md).
        sandwich: add the smallest and the largest architecture to the ``n`` sampled paths.
        cond_weight: ``λ_c``, weight of the mean conditioning loss (1).
        kl_weight: ``λ_kl``, weight of the KL term inside the conditioning loss (1).
        temperature: ``τ`` of the conditioning KL (4).
        detach_teacher: only the students move: the conditioning loss gives the teacher no gradient
            (its logits *and* the stage features the branches read are detached). False (default):
            the conditioning loss trains the teacher, which is what makes it student-aware.
        full_path: what the full student path (image → supernet, the network that is deployed and
            the only one that trains the supernet's stem) adds to ``L_cond``:
            ``distill`` (default) — ``CE + λ_kl·τ²·KL`` toward the *detached* ``z_T``: in-place
            distillation from the generic teacher; it gives the teacher no gradient;
            ``mutual`` — the same term with ``z_T`` undetached (mutual learning: the independently
            trained path also pulls the teacher; the default before 0.2, read from old configs' ``true``);
            ``off`` — only the branches from teacher stages (old configs' ``false``).
        kl_direction: ``forward`` = ``KL(σ(z_T/τ) ‖ σ(z_k/τ))`` (Hinton), ``reverse`` =
            ``KL(σ(z_k/τ) ‖ σ(z_T/τ))`` (:func:`~autogtkd.gtn.kd_kl`).
        branch_reduction: ``sum`` (default) or ``mean`` of the per-branch terms inside ``L_cond(a)``;
            docs/training.md lists how many terms each built-in teacher/space pair has.
        include_head_only: also branch from the teacher's last stage into the student head alone.
        arch_loss: a registered architecture-loss mode (:func:`~autogtkd.gtn.list_arch_losses`;
            built-ins ``uniform`` | ``reinforce-hard`` | ``gumbel`` | ``pool-prior``, see
            :mod:`autogtkd.gtn._arch_losses`); ``uniform`` until a benchmark picks another.
        arch_lr: Adam learning rate of ``φ`` (1e-3).
        entropy_weight: ``β``, entropy bonus of ``reinforce-hard``/``gumbel`` (1e-3).
        baseline_momentum: EMA momentum of the ``reinforce-hard`` baseline (0.9).
        gumbel_tau: Gumbel-softmax temperature (1.0).
        gumbel_sign: +1 ascend ``L_cond`` (favour hard students), −1 descend.
        pool: explicit finite support, a list of architectures (None: the whole space).
        prior_archs: ``pool-prior`` target architectures (None: a FLOPs-flattened prior).
        max_path_mflops: only sample paths at or below this many MFLOPs (MACs): ``p_φ`` truncated to
            them and renormalised, sampled by rejection (up to 64 draws, else the smallest architecture,
            which the architecture loss ignores) and differentiated as such by ``reinforce-hard``
            (None: no limit). Cheap CPU runs use it.
    """

    paths: int = 4
    sandwich: bool = False
    cond_weight: float = 1.0
    kl_weight: float = 1.0
    temperature: float = 4.0
    detach_teacher: bool = False
    full_path: FullPathMode | bool = "distill"
    kl_direction: KLDirection = "forward"
    branch_reduction: BranchReduction = "sum"
    include_head_only: bool = False
    arch_loss: str = "uniform"
    arch_lr: float = 1e-3
    entropy_weight: float = 1e-3
    baseline_momentum: float = 0.9
    gumbel_tau: float = 1.0
    gumbel_sign: float = 1.0
    pool: tuple[dict[str, Any], ...] | None = None
    prior_archs: tuple[dict[str, Any], ...] | None = None
    max_path_mflops: float | None = None

    def __post_init__(self) -> None:
        if isinstance(self.full_path, bool):  # configs written before the three modes existed
            object.__setattr__(self, "full_path", "mutual" if self.full_path else "off")
        if self.full_path not in FULL_PATH_MODES:
            raise ConfigError(f"gtn.full_path must be one of {list(FULL_PATH_MODES)}, got {self.full_path!r}")
        if self.paths < 1 and not self.sandwich:
            raise ConfigError("gtn.paths must be >= 1 (or use the sandwich rule)")
        if self.gumbel_sign not in (1.0, -1.0):
            raise ConfigError("gtn.gumbel_sign must be +1 or -1")
        if self.arch_loss not in ARCH_LOSSES:
            raise ConfigError(f"gtn.arch_loss must be one of {list_arch_losses()}, got {self.arch_loss!r}")


@dataclass
class PathSample:
    """One student path of a step: the architecture, its option indices (None for sandwich and
    fallback paths, which the architecture loss ignores), in ``gumbel`` mode the straight-through
    weight, and under ``max_path_mflops`` independent draws from the truncated ``p_φ`` (their mean
    ``log p_φ`` estimates the gradient of the normaliser, see :func:`arch_loss`)."""

    arch: Arch
    indices: list[int] | None = None
    weight: torch.Tensor | None = field(default=None, repr=False)
    truncation_refs: list[list[int]] | None = field(default=None, repr=False)


def _draw(
    dist: ArchDistribution, cfg: GTNConfig, mode: ArchLoss, rng: np.random.Generator, limit: float | None
) -> tuple[Arch, list[int] | None, torch.Tensor | None]:
    """One draw from ``p_φ`` truncated to ``FLOPs ≤ limit`` (rejection); the smallest architecture
    with no indices when ``_MAX_TRIES`` draws all exceed it."""
    for _try in range(_MAX_TRIES):
        if mode.gumbel:
            arch, idx, w = dist.sample_gumbel(rng, cfg.gumbel_tau)
        else:
            (arch, idx), w = dist.sample(rng), None
        if limit is None or dist.space.flops(arch) <= limit:
            return arch, idx, w
    return dist.space.smallest(), None, None


def sample_paths(dist: ArchDistribution, cfg: GTNConfig, rng: np.random.Generator) -> list[PathSample]:
    """The paths of one step: ``cfg.paths`` draws from ``dist`` (Gumbel draws when the mode
    ``cfg.arch_loss`` asks for them, as ``gumbel`` does), truncated to ``cfg.max_path_mflops``, plus
    smallest and largest under the sandwich rule."""
    space = dist.space
    mode = create_arch_loss(cfg.arch_loss)
    limit = None if cfg.max_path_mflops is None else cfg.max_path_mflops * 1e6
    out = [PathSample(*_draw(dist, cfg, mode, rng, limit)) for _ in range(cfg.paths)]
    if limit is not None and mode.truncation_refs:
        refs = [idx for _ in range(_TRUNCATION_REFS) if (idx := _draw(dist, cfg, mode, rng, limit)[1]) is not None]
        for p in out:
            p.truncation_refs = refs
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
    branch_feats = [f.detach() for f in feats] if cfg.detach_teacher else feats
    cond = []
    for p in paths:
        logits = branches(branch_feats, supernet, p.arch)
        full = [run_path(supernet, p.arch, x)] if cfg.full_path != "off" else []
        cond.append(
            conditioning_loss(
                logits + (full if cfg.full_path == "mutual" else []),
                z_t,
                y,
                temperature=cfg.temperature,
                kl_weight=cfg.kl_weight,
                detach_teacher=cfg.detach_teacher,
                direction=cfg.kl_direction,
                reduction=cfg.branch_reduction,
                detached_logits=full if cfg.full_path == "distill" else (),
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
    """The architecture loss of the mode ``cfg.arch_loss`` (:mod:`autogtkd.gtn._arch_losses`).

    ``cond`` is the per-path conditioning loss (detached here); sandwich and fallback paths are
    ignored. Returns None when the mode has no loss (``uniform``: ``φ`` frozen) or no sampled path
    exists.
    """
    sampled = [(p, float(c)) for p, c in zip(paths, cond.detach(), strict=True) if p.indices is not None]
    if not sampled:
        return None
    return create_arch_loss(cfg.arch_loss).loss(ArchLossInputs(dist, sampled, cfg, baseline, target))
