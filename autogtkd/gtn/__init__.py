"""The GTN objective: KD losses (pure functions), the architecture distribution ``p_φ`` with its
architecture-loss modes (a registry: :func:`register_arch_loss`), student branches, the GTN objective
and the function-preserving supernet initialisation. (The final-KD function is :func:`autogtkd.distill`.)

Example:
    >>> import torch
    >>> from autogtkd.gtn import hinton_kd_loss
    >>> z_s, z_t, y = torch.zeros(2, 3), torch.zeros(2, 3), torch.tensor([0, 1])
    >>> round(float(hinton_kd_loss(z_s, z_t, y)), 4)   # 0.1 * ln 3
    0.1099
"""

from autogtkd.gtn._arch_dist import ArchDistribution, flops_flat_prior
from autogtkd.gtn._arch_losses import (
    ARCH_LOSS_MODES,
    ARCH_LOSSES,
    ArchLoss,
    ArchLossInputs,
    ArchLossMode,
    create_arch_loss,
    list_arch_losses,
    register_arch_loss,
)
from autogtkd.gtn._branches import BranchSpec, StudentBranches, match_branches, run_path, teacher_geometry
from autogtkd.gtn._growth import grow_init
from autogtkd.gtn._gtn import FULL_PATH_MODES, FullPathMode, GTNConfig, PathSample, arch_loss, gtn_losses, sample_paths
from autogtkd.gtn._losses import KL_DIRECTIONS, BranchReduction, KLDirection, conditioning_loss, hinton_kd_loss, kd_kl

__all__ = [
    "ARCH_LOSSES",
    "ARCH_LOSS_MODES",
    "FULL_PATH_MODES",
    "KL_DIRECTIONS",
    "ArchDistribution",
    "ArchLoss",
    "ArchLossInputs",
    "ArchLossMode",
    "BranchReduction",
    "BranchSpec",
    "FullPathMode",
    "GTNConfig",
    "KLDirection",
    "PathSample",
    "StudentBranches",
    "arch_loss",
    "conditioning_loss",
    "create_arch_loss",
    "flops_flat_prior",
    "grow_init",
    "gtn_losses",
    "hinton_kd_loss",
    "kd_kl",
    "list_arch_losses",
    "match_branches",
    "register_arch_loss",
    "run_path",
    "sample_paths",
    "teacher_geometry",
]
