"""The trainable architecture distribution ``p_φ`` of GTN.

``p_φ(a) = Π_j softmax(φ_j)[a_j]``: one categorical per architectural decision, ``φ`` initialised to
0 (uniform). With an explicit finite *pool* (a list of architectures) the support is the pool and
``p_φ`` is a single categorical over its members.

How ``p_φ`` learns (its architecture-loss modes, a registry) is :mod:`autogtkd.gtn._arch_losses`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from autogtkd.exceptions import ConfigError
from autogtkd.space import Arch, SearchSpace

__all__ = ["ArchDistribution", "flops_flat_prior"]


class ArchDistribution(nn.Module):
    """A factorised categorical distribution over the architectures of ``space`` (or of ``pool``).

    Args:
        space: the search space.
        pool: optional explicit support, a list of architectures of ``space`` (duplicates removed).

    Attributes:
        logits: ``nn.ParameterList`` — one ``(len(options),)`` tensor per factor (decision, or the
            pool index), initialised to zeros.
        factor_names: names of the factors (decision names, or ``["pool"]``).

    Example:
        >>> from autogtkd.space import create_space
        >>> dist = ArchDistribution(create_space("mbv3-cifar"))
        >>> arch, idx = dist.sample(np.random.default_rng(0))
        >>> float(dist.log_prob(idx)) < 0
        True
    """

    def __init__(self, space: SearchSpace, pool: Sequence[Mapping[str, Any]] | None = None) -> None:
        super().__init__()
        self.space = space
        self.pool: list[Arch] | None = None
        if pool is not None:
            uniq: dict[Arch, None] = {}
            for a in pool:
                uniq.setdefault(space.canonical(a), None)
            if not uniq:
                raise ConfigError("an explicit architecture pool must not be empty")
            self.pool = list(uniq)
            self.factor_names = ["pool"]
            sizes = [len(self.pool)]
        else:
            self.factor_names = [c.name for c in space.choices]
            sizes = [len(c.options) for c in space.choices]
        self.logits = nn.ParameterList([nn.Parameter(torch.zeros(n)) for n in sizes])

    # ------------------------------------------------------------------ sampling
    def probs(self) -> list[torch.Tensor]:
        """Per-factor probabilities (differentiable), each ``(len(options),)``."""
        return [F.softmax(p, dim=0) for p in self.logits]

    def decode(self, indices: Sequence[int]) -> Arch:
        """The architecture for one option index per factor."""
        if self.pool is not None:
            return self.pool[int(indices[0])]
        return self.space.canonical(
            {c.name: c.options[int(i)] for c, i in zip(self.space.choices, indices, strict=True)}
        )

    def encode(self, arch: Mapping[str, Any]) -> list[int]:
        """Inverse of :meth:`decode` (option index per factor); pool members only for pool supports."""
        a = self.space.canonical(arch)
        if self.pool is not None:
            try:
                return [self.pool.index(a)]
            except ValueError:
                raise ConfigError(f"architecture {a.to_json()} is not in the explicit pool") from None
        return [c.index(a[c.name]) for c in self.space.choices]

    def sample(self, rng: np.random.Generator) -> tuple[Arch, list[int]]:
        """Draw one architecture with the numpy generator ``rng``; returns ``(arch, indices)``."""
        idx = []
        with torch.no_grad():
            for p in self.probs():
                pr = p.detach().double().cpu().numpy()
                idx.append(int(rng.choice(len(pr), p=pr / pr.sum())))
        return self.decode(idx), idx

    def sample_gumbel(self, rng: np.random.Generator, tau: float = 1.0) -> tuple[Arch, list[int], torch.Tensor]:
        """Straight-through Gumbel-softmax draw: ``(arch, indices, w)`` with ``w = Π_j onehot_j[a_j]``,
        a 0-d tensor equal to 1 whose gradient w.r.t. ``φ`` is that of the relaxed sample. Noise comes
        from ``rng`` (no global RNG)."""
        idx, w = [], None
        for logit in self.logits:
            u = torch.as_tensor(rng.uniform(1e-10, 1.0, size=logit.shape[0]), dtype=logit.dtype, device=logit.device)
            g = -torch.log(-torch.log(u))
            soft = F.softmax((logit + g) / tau, dim=0)
            k = int(torch.argmax(soft))
            hard = F.one_hot(torch.tensor(k, device=logit.device), logit.shape[0]).to(soft.dtype)
            st = hard - soft.detach() + soft  # forward: one-hot; backward: relaxed
            idx.append(k)
            w = st[k] if w is None else w * st[k]
        assert w is not None
        return self.decode(idx), idx, w

    # ------------------------------------------------------------------ densities
    def _active(self, indices: Sequence[int]) -> list[bool]:
        if self.pool is not None or not self.space.has_conditions:
            return [True] * len(indices)
        arch = self.decode(indices)
        return [self.space.is_active(c.name, arch) for c in self.space.choices]

    def log_prob(self, indices: Sequence[int]) -> torch.Tensor:
        """``log p_φ(a)`` summed over the decisions that are active in ``a`` (0-d tensor)."""
        terms = [
            F.log_softmax(logit, dim=0)[int(i)]
            for logit, i, on in zip(self.logits, indices, self._active(indices), strict=True)
            if on
        ]
        return torch.stack(terms).sum() if terms else self.logits[0].sum() * 0

    def entropy(self) -> torch.Tensor:
        """Sum of the per-factor entropies (nats), 0-d tensor."""
        return torch.stack([-(F.softmax(p, 0) * F.log_softmax(p, 0)).sum() for p in self.logits]).sum()

    def kl_to(self, target: Sequence[torch.Tensor]) -> torch.Tensor:
        """``KL(p_φ ‖ q) = Σ_j Σ_o p_j(o) (log p_j(o) − log q_j(o))`` for a factorised ``q`` given as
        one probability vector per factor (zeros are clamped to 1e-8)."""
        out = []
        for logit, q in zip(self.logits, target, strict=True):
            logp = F.log_softmax(logit, 0)
            out.append((logp.exp() * (logp - torch.log(q.to(logit).clamp_min(1e-8)))).sum())
        return torch.stack(out).sum()

    def target_from_archs(
        self, archs: Sequence[Mapping[str, Any]], weights: Sequence[float] | None = None
    ) -> list[torch.Tensor]:
        """Per-factor marginals of a (weighted) list of architectures, with add-0.5 smoothing."""
        counts = [torch.full((p.shape[0],), 0.5, dtype=torch.float64) for p in self.logits]
        ws = [1.0] * len(archs) if weights is None else list(weights)
        for a, w in zip(archs, ws, strict=True):
            for j, i in enumerate(self.encode(a)):
                counts[j][i] += w
        return [(c / c.sum()).float() for c in counts]

    def most_likely(self) -> Arch:
        """The mode of each factor."""
        return self.decode([int(torch.argmax(p)) for p in self.logits])


def flops_flat_prior(
    dist: ArchDistribution, rng: np.random.Generator, *, samples: int = 2000, bins: int = 10, rounds: int = 5
) -> list[torch.Tensor]:
    """A pool prior whose FLOPs histogram is as flat as a factorised distribution allows.

    The target histogram has ``bins`` equal-width bins in ``log(FLOPs)`` spanning the range of a
    first draw of ``samples`` uniform architectures. Iterated reweighted moment matching: draw
    ``samples`` architectures from the current per-decision marginals (uniform in round 1), weight
    each by ``1 / (count of its FLOPs bin)`` (every occupied bin gets equal total weight), and set each
    decision's marginal to the weighted frequency of its options among the samples where that
    decision is *active* (add-0.5 smoothing on a ``samples``-sized total); repeat ``rounds`` times.
    Each round flattens the histogram of the current distribution, so the marginals move towards the
    tails round after round, which a single reweighting of uniform samples cannot do.

    A factorised distribution cannot make the histogram exactly flat (its log-FLOPs is a sum of
    independent per-decision terms, hence unimodal-ish); ``benchmarks/flops_flat_prior.py`` measures
    the entropy of the histogram it reaches (flat: ``ln(bins)``), see docs/training.md.

    With an explicit pool the support is one categorical over the pool, so a single reweighting
    of the pool members gives an exactly flat histogram (up to the smoothing).

    Args:
        dist: the distribution whose factors the prior is for (its logits are not used or changed).
        rng: numpy generator for all draws.
        samples: architectures drawn per round (with an explicit pool: the total weight that the
            add-0.5 smoothing is relative to).
        bins: number of log-FLOPs bins.
        rounds: reweight-and-refit rounds (1: a single reweighting of uniform samples).

    Returns:
        One probability vector (float32, all entries > 0) per factor of ``dist``.
    """
    if samples < 1 or bins < 1 or rounds < 1:
        raise ConfigError(f"flops_flat_prior needs samples, bins, rounds >= 1, got {samples}, {bins}, {rounds}")
    space = dist.space
    if dist.pool is not None:
        weights = _flat_bin_weights(_log_flops(space, dist.pool), bins)[0]
        return dist.target_from_archs(dist.pool, list(weights * samples))
    probs = [np.full(p.shape[0], 1.0 / p.shape[0]) for p in dist.logits]
    edges: np.ndarray | None = None
    for _ in range(rounds):
        idx = np.stack([rng.choice(len(p), size=samples, p=p) for p in probs], axis=1)
        archs = [dist.decode(row) for row in idx]
        weights, edges = _flat_bin_weights(_log_flops(space, archs), bins, edges)
        active = np.array([dist._active(row) for row in idx], dtype=bool)
        probs = []
        for j, logit in enumerate(dist.logits):
            on = active[:, j]
            counts = np.bincount(idx[on, j], weights=weights[on] * samples, minlength=logit.shape[0]) + 0.5
            probs.append(counts / counts.sum())
    return [torch.tensor(p, dtype=torch.float32) for p in probs]


def _log_flops(space: SearchSpace, archs: Sequence[Arch]) -> np.ndarray:
    return np.log(np.array([max(space.flops(a), 1) for a in archs], dtype=np.float64))


def _flat_bin_weights(logf: np.ndarray, bins: int, edges: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Weights ``1 / (count of the bin)`` normalised to sum 1, and the bin edges (``bins`` equal-width
    bins over the range of ``logf`` unless ``edges`` is given; values outside go to the end bins)."""
    if edges is None:
        edges = np.linspace(logf.min(), logf.max() + 1e-9, bins + 1)
    which = np.clip(np.digitize(logf, edges) - 1, 0, bins - 1)
    counts = np.bincount(which, minlength=bins)
    weights = 1.0 / counts[which]
    return weights / weights.sum(), edges
