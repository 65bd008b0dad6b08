"""Knowledge-distillation losses as pure functions of logits (no state, no modules).

Shapes: logits are ``(N, C)`` float tensors, labels ``(N,)`` int64. Every loss is averaged over the
batch (``N``) and returned as a 0-d tensor.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

__all__ = ["conditioning_loss", "hinton_kd_loss", "kd_kl"]


def kd_kl(student_logits: torch.Tensor, teacher_logits: torch.Tensor, temperature: float) -> torch.Tensor:
    """Temperature-scaled distillation term ``T² · KL(σ(z_T/T) ‖ σ(z_S/T))``, batch mean.

    ``KL(p ‖ q) = Σ_c p_c (log p_c − log q_c)`` with ``p = softmax(z_T / T)`` and
    ``q = softmax(z_S / T)``. The ``T²`` factor keeps gradient magnitudes comparable across
    temperatures (Hinton et al. 2015). Gradients flow into *both* logits; detach ``teacher_logits``
    for a frozen teacher.

    Example:
        >>> z = torch.tensor([[1.0, 2.0, 3.0]])
        >>> float(kd_kl(z, z, 4.0))
        0.0
    """
    t = float(temperature)
    log_q = F.log_softmax(student_logits.float() / t, dim=1)  # (N, C)
    log_p = F.log_softmax(teacher_logits.float() / t, dim=1)  # (N, C)
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
) -> torch.Tensor:
    """GTN/SFTN conditioning loss of one student path ``a``:

    ``L_cond(a) = Σ_k [ CE(z_k(a), y) + λ_kl · τ² · KL(σ(z_T/τ) ‖ σ(z_k(a)/τ)) ]``

    where ``z_k(a)`` are the logits of the student branches (teacher stage ``k`` → adapter → student
    stages → head; the full student path counts as one more branch). ``z_T`` is **not** detached by
    default, so the KL term pulls the teacher toward what the student can learn (SFTN, Park et al.
    2021); ``detach_teacher=True`` is the ablation where only the students move.
    """
    if not branch_logits:
        raise ValueError("conditioning_loss needs at least one branch")
    z_t = teacher_logits.detach() if detach_teacher else teacher_logits
    terms = [F.cross_entropy(z.float(), labels) + kl_weight * kd_kl(z, z_t, temperature) for z in branch_logits]
    return torch.stack(terms).sum()
