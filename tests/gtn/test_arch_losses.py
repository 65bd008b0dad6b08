"""Architecture-loss modes are a registry: the built-ins, unknown names refused, a mode registered in one
place is accepted by GTNConfig and used by sample_paths / arch_loss."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from autogtkd._config import from_dict
from autogtkd.exceptions import ConfigError
from autogtkd.gtn import (
    ARCH_LOSS_MODES,
    ARCH_LOSSES,
    ArchDistribution,
    ArchLoss,
    ArchLossInputs,
    GTNConfig,
    arch_loss,
    create_arch_loss,
    list_arch_losses,
    register_arch_loss,
    sample_paths,
)


class _MaxEntropy(ArchLoss):
    """``L_arch = −H(p_φ)``: spreads ``p_φ`` regardless of the conditioning losses; Gumbel draws."""

    gumbel = True

    def loss(self, step: ArchLossInputs) -> torch.Tensor | None:
        return -step.dist.entropy()


@pytest.fixture
def max_entropy():
    register_arch_loss("max-entropy", _MaxEntropy)
    try:
        yield "max-entropy"
    finally:
        ARCH_LOSSES.unregister("max-entropy")


def test_builtin_modes_are_registered() -> None:
    assert set(ARCH_LOSS_MODES) == {"uniform", "reinforce-hard", "gumbel", "pool-prior"}
    assert set(ARCH_LOSS_MODES) <= set(list_arch_losses())
    assert not create_arch_loss("uniform").learns and create_arch_loss("gumbel").gumbel
    assert create_arch_loss("reinforce-hard").truncation_refs


def test_unknown_mode_is_refused_listing_the_registered_ones() -> None:
    with pytest.raises(ConfigError, match=r"gtn.arch_loss must be one of \[.*'uniform'.*\], got 'nope'"):
        GTNConfig(arch_loss="nope")
    with pytest.raises(ConfigError, match="arch_loss must be one of"):
        from_dict(GTNConfig, {"arch_loss": "nope"})


def test_a_registered_mode_is_accepted_and_used(space, max_entropy: str) -> None:
    cfg = from_dict(GTNConfig, {"arch_loss": max_entropy, "paths": 2})
    dist = ArchDistribution(space)
    with torch.no_grad():  # a peaked distribution: its entropy can grow
        dist.logits[0][0] += 3.0
    paths = sample_paths(dist, cfg, np.random.default_rng(0))
    assert all(p.weight is not None for p in paths)  # the mode asked for Gumbel draws
    loss = arch_loss(dist, paths, torch.ones(len(paths)), cfg, baseline=None)
    assert loss is not None and torch.allclose(loss, -dist.entropy())
    loss.backward()
    before = float(dist.entropy().detach())
    with torch.no_grad():
        for p in dist.parameters():
            p -= 0.5 * p.grad
    assert float(dist.entropy().detach()) > before
