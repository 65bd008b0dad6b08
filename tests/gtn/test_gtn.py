"""The GTN objective on toy modules: finite, decreasing, and the conditioning loss reaches the teacher."""

from __future__ import annotations

import numpy as np
import torch

from autogtkd.gtn import (
    ArchDistribution,
    GTNConfig,
    StudentBranches,
    gtn_losses,
    match_branches,
    sample_paths,
    teacher_geometry,
)


def _setup(space, teacher):
    torch.manual_seed(0)
    supernet = space.build_supernet()
    branches = StudentBranches(*teacher_geometry(teacher), supernet)
    return supernet, branches, ArchDistribution(space)


def test_match_branches_rules() -> None:
    # mbv3-cifar strides; resnet teacher strides 1, 2, 4
    specs = match_branches([1, 2, 4], [1, 1, 2, 2, 4])
    assert [(s.teacher_stage, s.student_stage, s.pool) for s in specs] == [(0, 2, 1), (1, 4, 1)]
    specs = match_branches([1, 2, 4], [1, 1, 2, 2, 4], include_head_only=True)
    assert (2, 5, 1) in [(s.teacher_stage, s.student_stage, s.pool) for s in specs]
    # no stage reads stride 1: pool into the first coarser one
    specs = match_branches([1], [2, 4, 8])
    assert [(s.student_stage, s.pool) for s in specs] == [(1, 2)]


def test_branch_logits_follow_sampled_width(space, teacher, batch) -> None:
    supernet, branches, _dist = _setup(space, teacher)
    x, _ = batch
    feats = teacher.forward_stages(x)
    for arch in (space.smallest(), space.largest()):
        logits = branches(feats, supernet, arch)
        assert len(logits) == len(branches.specs) >= 1
        assert all(z.shape == (16, 4) for z in logits)
    assert supernet.active_arch == space.largest()  # restored


def test_conditioning_loss_sends_gradient_into_teacher(space, teacher, batch) -> None:
    supernet, branches, dist = _setup(space, teacher)
    x, y = batch
    paths = sample_paths(dist, GTNConfig(paths=2), np.random.default_rng(0))
    _, _teacher_ce, cond, _ = gtn_losses(x, y, teacher, supernet, branches, paths, GTNConfig())
    cond.mean().backward()  # the conditioning term alone
    head_grad = teacher.head[-1].weight.grad
    stem_grad = teacher.stem[0].weight.grad
    assert head_grad is not None and float(head_grad.abs().sum()) > 0  # via the KL on z_T
    assert stem_grad is not None and float(stem_grad.abs().sum()) > 0  # via the branches
    teacher.zero_grad(set_to_none=True)
    _, _, cond, _ = gtn_losses(x, y, teacher, supernet, branches, paths, GTNConfig(detach_teacher=True))
    cond.mean().backward()
    assert teacher.head[-1].weight.grad is None  # detached: only the branches reach the teacher


def test_gtn_losses_finite_and_decreasing(space, teacher, batch) -> None:
    supernet, branches, dist = _setup(space, teacher)
    x, y = batch
    cfg = GTNConfig(paths=2, sandwich=True)
    params = list(teacher.parameters()) + list(supernet.parameters()) + list(branches.parameters())
    opt = torch.optim.SGD(params, lr=0.05, momentum=0.9)
    rng = np.random.default_rng(0)
    fixed = sample_paths(dist, cfg, np.random.default_rng(1))
    values = []
    for step in range(12):
        paths = sample_paths(dist, cfg, rng)
        loss, _teacher_ce, cond, _ = gtn_losses(x, y, teacher, supernet, branches, paths, cfg)
        assert torch.isfinite(loss) and torch.isfinite(cond).all()
        opt.zero_grad()
        loss.backward()
        opt.step()
        with torch.no_grad():
            values.append(float(gtn_losses(x, y, teacher, supernet, branches, fixed, cfg)[0]))
    assert values[-1] < values[0]


def _stem_grad(supernet) -> float:
    g = supernet.stem[0].conv.weight.grad
    return 0.0 if g is None else float(g.abs().sum())


def test_full_student_path_receives_training_signal(space, teacher, batch) -> None:
    """The deployed student is the *full* path (image -> supernet); the branches enter it after its
    first stages, so only the full path trains the stem. Fails if the full path drops out of the loss."""
    supernet, branches, dist = _setup(space, teacher)
    x, y = batch
    assert min(s.student_stage for s in branches.specs) >= 1  # the stem is reached by the full path only
    paths = sample_paths(dist, GTNConfig(paths=1), np.random.default_rng(0))
    loss, *_ = gtn_losses(x, y, teacher, supernet, branches, paths, GTNConfig(paths=1))
    loss.backward()
    assert _stem_grad(supernet) > 0
    supernet.zero_grad(set_to_none=True)
    loss, *_ = gtn_losses(x, y, teacher, supernet, branches, paths, GTNConfig(paths=1, full_path=False))
    loss.backward()
    assert _stem_grad(supernet) == 0.0  # the ablation shows the check can fail
