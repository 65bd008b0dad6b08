"""Architecture-loss modes: how the architecture distribution ``p_φ`` (:class:`ArchDistribution`)
learns from the conditioning losses of the paths sampled in a GTN step. An extension point: a mode is
an :class:`ArchLoss` registered by name (:func:`register_arch_loss`), so adding one touches one file;
``GTNConfig.arch_loss`` and ``autogtkd train --arch-loss`` accept every registered name.

``L_cond(a)`` is the conditioning loss of path ``a`` (:func:`~autogtkd.gtn.conditioning_loss`), ``H``
the entropy of ``p_φ``. The built-in modes (:data:`ARCH_LOSS_MODES`):

* ``uniform`` — ``φ`` is frozen at 0 (ablation; no architecture loss).
* ``reinforce-hard`` — ``L_arch = −mean_i (L_cond(a_i) − b) · log p_φ(a_i) − β · H(p_φ)``, with ``b``
  an exponential moving average of ``L_cond``; minimising it makes ``φ`` *ascend* ``E[L_cond]``, so
  students the teacher fits badly (usually the small ones) are sampled more; ``β`` keeps it spread.
* ``gumbel`` — straight-through Gumbel-softmax: each decision is drawn as a hard one-hot whose
  gradient is the relaxed sample's; ``w(a) = Π_j onehot_j[a_j]`` equals 1 in the forward pass, and
  ``L_arch = −s · mean_i w(a_i) · L_cond(a_i) − β · H(p_φ)`` with ``s = +1`` (ascend, like
  ``reinforce-hard``) or ``s = −1`` (descend: favour students the teacher already fits).
* ``pool-prior`` — ``L_arch = KL(p_φ ‖ p_pool)`` toward the deployment pool's distribution: the
  per-decision marginals of a list of target architectures, or a FLOPs-flattened prior
  (:func:`~autogtkd.gtn.flops_flat_prior`) when no list is given.

Example (a mode that only spreads ``p_φ``: ``L_arch = −β · H(p_φ)``):
    >>> from autogtkd.gtn import ArchLoss, register_arch_loss
    >>> class MaxEntropy(ArchLoss):
    ...     def loss(self, step):
    ...         return -step.cfg.entropy_weight * step.dist.entropy()
    >>> register_arch_loss("max-entropy", MaxEntropy)      # doctest: +SKIP
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, get_args

import numpy as np
import torch

from autogtkd.exceptions import ConfigError
from autogtkd.gtn._arch_dist import ArchDistribution, flops_flat_prior
from autogtkd.registry import Registry

if TYPE_CHECKING:  # annotations only: autogtkd.gtn._gtn (sampling, GTNConfig) builds on this module
    from autogtkd.gtn._gtn import GTNConfig, PathSample

__all__ = [
    "ARCH_LOSSES",
    "ARCH_LOSS_MODES",
    "ArchLoss",
    "ArchLossInputs",
    "ArchLossMode",
    "create_arch_loss",
    "list_arch_losses",
    "register_arch_loss",
]

ArchLossMode = Literal["uniform", "reinforce-hard", "gumbel", "pool-prior"]  # the built-in modes (typing)
ARCH_LOSS_MODES: tuple[str, ...] = get_args(ArchLossMode)


@dataclass(frozen=True)
class ArchLossInputs:
    """What a mode's :meth:`ArchLoss.loss` sees at one GTN step.

    Attributes:
        dist: the architecture distribution ``p_φ``.
        sampled: the sampled paths with their detached conditioning losses (sandwich and fallback
            paths are left out; at least one remains).
        cfg: the GTN settings (``entropy_weight`` = β, ``gumbel_sign`` = s, ...).
        baseline: moving average of the mean conditioning loss (None before the first step).
        target: the mode's :meth:`ArchLoss.target` distribution (None when it has none).
    """

    dist: ArchDistribution
    sampled: Sequence[tuple[PathSample, float]]
    cfg: GTNConfig
    baseline: float | None = None
    target: Sequence[torch.Tensor] | None = None


class ArchLoss(ABC):
    """One architecture-loss mode of GTN (subclass it and :func:`register_arch_loss` the class).

    Attributes:
        learns: ``φ`` is trained (Adam at ``GTNConfig.arch_lr``); False freezes it at 0 (uniform sampling).
        gumbel: paths are drawn with straight-through Gumbel-softmax (:meth:`ArchDistribution.sample_gumbel`);
            each path's ``weight`` carries the gradient.
        truncation_refs: under ``max_path_mflops``, also draw reference paths whose mean ``log p_φ``
            estimates ``∇ log Z`` of the truncated distribution (REINFORCE-style modes).
    """

    learns: bool = True
    gumbel: bool = False
    truncation_refs: bool = False

    def target(self, dist: ArchDistribution, cfg: GTNConfig, rng: np.random.Generator) -> list[torch.Tensor] | None:
        """A target distribution the mode moves toward (one probability vector per factor), built once
        at the start of training with ``rng`` (None: the mode has none)."""
        return None

    @abstractmethod
    def loss(self, step: ArchLossInputs) -> torch.Tensor | None:
        """``L_arch`` (0-d tensor, differentiable in ``φ``) of one GTN step (:class:`ArchLossInputs`);
        None: no architecture loss this step."""


ARCH_LOSSES: Registry[ArchLoss] = Registry("architecture-loss mode")


def register_arch_loss(name: str, factory: Callable[[], ArchLoss], *, overwrite: bool = False) -> None:
    """Register an architecture-loss mode (an :class:`ArchLoss` subclass or a factory of one)."""
    ARCH_LOSSES.register(name, factory, overwrite=overwrite)


def list_arch_losses() -> list[str]:
    """Names of the registered architecture-loss modes."""
    return ARCH_LOSSES.list()


def create_arch_loss(name: str) -> ArchLoss:
    """The architecture-loss mode registered as ``name`` (unknown names raise, listing the valid ones)."""
    return ARCH_LOSSES.create(name)


# ---------------------------------------------------------------------------------------------- built-ins
@ARCH_LOSSES.register("uniform")
class Uniform(ArchLoss):
    """``φ`` frozen at 0: paths are drawn uniformly per decision; no architecture loss."""

    learns = False

    def loss(self, step: ArchLossInputs) -> torch.Tensor | None:
        return None


@ARCH_LOSSES.register("reinforce-hard")
class ReinforceHard(ArchLoss):
    """``−mean_i (L_cond(a_i) − b) · log p̃_φ(a_i) − β · H(p_φ)`` (ascends ``E[L_cond]``).

    Under ``max_path_mflops`` the paths come from the truncated ``p̃_φ(a) = p_φ(a) / Z`` with
    ``Z = P_φ(FLOPs ≤ limit)``, so the mode differentiates ``log p̃_φ(a) = log p_φ(a) − log Z``;
    ``∇ log Z = E_{a'~p̃_φ}[∇ log p_φ(a')]`` is estimated without bias by the mean ``log p_φ`` of the
    independent draws ``a'`` in ``PathSample.truncation_refs`` (no closed form for ``Z``).
    """

    truncation_refs = True

    def loss(self, step: ArchLossInputs) -> torch.Tensor | None:
        b = step.baseline if step.baseline is not None else float(np.mean([c for _, c in step.sampled]))
        pg = torch.stack([-(c - b) * _truncated_log_prob(step.dist, p) for p, c in step.sampled]).mean()
        return pg - step.cfg.entropy_weight * step.dist.entropy()


@ARCH_LOSSES.register("gumbel")
class Gumbel(ArchLoss):
    """``−s · mean_i w(a_i) · L_cond(a_i) − β · H(p_φ)`` over straight-through Gumbel-softmax draws."""

    gumbel = True

    def loss(self, step: ArchLossInputs) -> torch.Tensor | None:
        st = torch.stack([p.weight * c for p, c in step.sampled if p.weight is not None]).mean()
        return -step.cfg.gumbel_sign * st - step.cfg.entropy_weight * step.dist.entropy()


@ARCH_LOSSES.register("pool-prior")
class PoolPrior(ArchLoss):
    """``KL(p_φ ‖ p_pool)`` toward ``GTNConfig.prior_archs``' marginals, or a FLOPs-flattened prior."""

    def target(self, dist: ArchDistribution, cfg: GTNConfig, rng: np.random.Generator) -> list[torch.Tensor]:
        return dist.target_from_archs(list(cfg.prior_archs)) if cfg.prior_archs else flops_flat_prior(dist, rng)

    def loss(self, step: ArchLossInputs) -> torch.Tensor | None:
        if step.target is None:
            raise ConfigError("pool-prior needs a target distribution")
        return step.dist.kl_to(step.target)


def _truncated_log_prob(dist: ArchDistribution, path: PathSample) -> torch.Tensor:
    """``log p_φ(a)`` minus, when the path was drawn from a truncated ``p_φ``, a term whose gradient
    estimates ``∇ log Z`` (the mean ``log p_φ`` of the independent reference draws)."""
    assert path.indices is not None
    lp = dist.log_prob(path.indices)
    if path.truncation_refs:
        lp = lp - torch.stack([dist.log_prob(r) for r in path.truncation_refs]).mean()
    return lp
