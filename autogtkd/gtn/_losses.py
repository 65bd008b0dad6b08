"""Knowledge-distillation losses as pure functions of logits (no state, no modules).

Shapes: logits are ``(N, C)`` float tensors, labels ``(N,)`` int64. Every loss is averaged over the
batch (``N``) and returned as a 0-d tensor.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import torch
import torch.nn.functional as F

__all__ = ["KL_DIRECTIONS", "BranchReduction", "KLDirection", "conditioning_loss", "hinton_kd_loss", "kd_kl"]

KLDirection = Literal["forward", "reverse"]
KL_DIRECTIONS: tuple[str, ...] = ("forward", "reverse")
BranchReduction = Literal["sum", "mean"]


def kd_kl(
    student_logits: torch.Tensor,
    teacher_logits: torch.Tensor,
    temperature: float,
    *,
    direction: KLDirection = "forward",
) -> torch.Tensor:
    """Temperature-scaled distillation term, batch mean:

    * ``forward`` (Hinton, the default): ``T² · KL(σ(z_T/T) ‖ σ(z_S/T))`` — the student must cover
      every class the teacher puts mass on (mean-seeking);
    * ``reverse``: ``T² · KL(σ(z_S/T) ‖ σ(z_T/T))`` — the student may concentrate on the teacher's
      main modes (mode-seeking).

    ``KL(p ‖ q) = Σ_c p_c (log p_c − log q_c)``. The ``T²`` factor keeps gradient magnitudes
    comparable across temperatures (Hinton et al. 2015). Gradients flow into *both* logits; detach
    ``teacher_logits`` for a frozen teacher.

    Example:
        >>> z = torch.tensor([[1.0, 2.0, 3.0]])
        >>> float(kd_kl(z, z, 4.0))
        0.0
    """
    t = float(temperature)
    log_s = F.log_softmax(student_logits.float() / t, dim=1)  # (N, C)
    log_t = F.log_softmax(teacher_logits.float() / t, dim=1)  # (N, C)
    log_p, log_q = (log_t, log_s) if direction == "forward" else (log_s, log_t)
    kl = (log_p.exp() * (log_p - log_q)).sum(dim=1)  # (N,)
    return kl.mean() * t * t


def hinton_kd_loss(
    student_logits: torch.Tensor,
    teacher_logits: torch.Tensor,
    labels: torch.Tensor,
    *,
    gamma: float = 0.1,
    alpha: float = 0.9,
    temperature: float = 4.0,
) -> torch.Tensor:
    """Hinton KD: ``γ · CE(z_S, y) + α · T² · KL(σ(z_T/T) ‖ σ(z_S/T))``.

    Defaults are RepDistiller's (γ=0.1, α=0.9, T=4). The teacher logits are detached (the teacher is
    frozen in the final KD phase).
    """
    ce = F.cross_entropy(student_logits.float(), labels)
    return gamma * ce + alpha * kd_kl(student_logits, teacher_logits.detach(), temperature)


def conditioning_loss(
    branch_logits: Sequence[torch.Tensor],
    teacher_logits: torch.Tensor,
    labels: torch.Tensor,
    *,
    temperature: float = 4.0,
    kl_weight: float = 1.0,
    detach_teacher: bool = False,
    direction: KLDirection = "forward",
    reduction: BranchReduction = "sum",
    detached_logits: Sequence[torch.Tensor] = (),
) -> torch.Tensor:
    """GTN/SFTN conditioning loss of one student path ``a``:

    ``L_cond(a) = R_k [ CE(z_k(a), y) + λ_kl · τ² · KL(σ(z_T/τ) ‖ σ(z_k(a)/τ)) ]``

    where ``z_k(a)`` are the logits of the student branches (teacher stage ``k`` → adapter → student
    stages → head) and ``R`` is the ``reduction`` over the terms (``sum``, the default, or ``mean``).
    ``z_T`` is **not** detached by default, so the KL term pulls the teacher toward what the student
    can learn (SFTN, Park et al. 2021); ``detach_teacher=True`` is the ablation where only the
    students move (callers must also detach the teacher *features* the branches read, as
    :func:`~autogtkd.gtn.gtn_losses` does). ``direction="reverse"`` swaps the KL's arguments
    (:func:`kd_kl`). ``detached_logits`` are further terms of the same form whose KL target is the
    detached ``z_T`` whatever ``detach_teacher`` says (the full student path of ``full_path="distill"``:
    it learns from the teacher without pulling it). Returns a 0-d tensor.
    """
    if not branch_logits and not detached_logits:
        raise ValueError("conditioning_loss needs at least one branch")
    z_t = teacher_logits.detach() if detach_teacher else teacher_logits
    pairs = [(z, z_t) for z in branch_logits] + [(z, teacher_logits.detach()) for z in detached_logits]
    terms = torch.stack(
        [
            F.cross_entropy(z.float(), labels) + kl_weight * kd_kl(z, target, temperature, direction=direction)
            for z, target in pairs
        ]
    )  # (n_terms,)
    return terms.sum() if reduction == "sum" else terms.mean()
