"""Function-preserving supernet initialisation: every option beyond the smallest subnet starts as a
no-op, and the zeroed parameters still learn once their option is trained."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from autogtkd.gtn import grow_init
from autogtkd.space import ResNetConfig, ResNetSpace, ResStageConfig


def _grown(space, x):
    torch.manual_seed(0)
    supernet = space.build_supernet()

    def reference() -> None:
        with supernet.activated(space.smallest()):
            supernet(x[:2])

    counts = grow_init([supernet], reference)
    return supernet, counts


def _same_width(space, rng):
    small = space.smallest().to_dict()
    a = space.sample(rng).to_dict()
    for k in a:
        if "width" in k:
            a[k] = small[k]
    return space.canonical(a)


def _tiny_resnet() -> ResNetSpace:
    return ResNetSpace(
        ResNetConfig(
            name="tiny-resnet",
            input_size=8,
            num_classes=4,
            stem_channels=8,
            stem_kernel=3,
            stem_stride=1,
            stages=(
                ResStageConfig(16, 1, depth=(1, 2), width=(0.5, 1.0), expand=(0.25, 0.5)),
                ResStageConfig(32, 2, depth=(1, 2), width=(0.5, 1.0), expand=(0.25, 0.5)),
            ),
        )
    )


@pytest.mark.parametrize("which", ["mbv3", "resnet"])
@pytest.mark.parametrize("train_mode", [True, False])
def test_every_option_starts_as_the_smallest(which, train_mode, space, batch) -> None:
    sp = space if which == "mbv3" else _tiny_resnet()
    x, _ = batch
    supernet, counts = _grown(sp, x)
    assert counts["input_columns"] > 0 and counts["blocks"] > 0
    supernet.train(train_mode)
    rng = np.random.default_rng(0)
    with torch.no_grad():
        with supernet.activated(sp.smallest()):
            z0 = supernet(x)
        for _ in range(6):  # depth, kernel and expand options: exactly the smallest's function
            with supernet.activated(_same_width(sp, rng)):
                torch.testing.assert_close(supernet(x), z0, rtol=0, atol=1e-6)
        for _ in range(6):  # wider too, when the residual structure does not depend on the width
            a = sp.sample(rng)
            with supernet.activated(a):
                z = supernet(x)
            if which == "resnet":
                torch.testing.assert_close(z, z0, rtol=0, atol=1e-6)


def test_without_grow_init_options_differ(space, batch) -> None:
    x, _ = batch
    torch.manual_seed(0)
    supernet = space.build_supernet().eval()
    with torch.no_grad():
        with supernet.activated(space.smallest()):
            z0 = supernet(x)
        with supernet.activated(_same_width(space, np.random.default_rng(3))):
            assert not torch.allclose(supernet(x), z0)


def test_zeroed_parameters_learn(space, batch) -> None:
    x, y = batch
    torch.manual_seed(0)
    supernet = space.build_supernet()
    before = {n: p.detach().clone() for n, p in supernet.named_parameters()}

    def reference() -> None:
        with supernet.activated(space.smallest()):
            supernet(x[:2])

    grow_init([supernet], reference)
    supernet.train()
    with supernet.activated(space.largest()):
        torch.nn.functional.cross_entropy(supernet(x), y).backward()
    zeroed = 0
    for n, p in supernet.named_parameters():
        mask = (p == 0) & (before[n] != 0)
        if "bn" in n and mask.any():  # a zeroed BN scale: the whole block
            mask = p == 0
        if not mask.any():
            continue
        zeroed += 1
        # every zeroed weight gets a gradient once its option is trained (no dead units)
        assert p.grad is not None and float(p.grad[mask].abs().sum()) > 0, n
    assert zeroed >= 5
