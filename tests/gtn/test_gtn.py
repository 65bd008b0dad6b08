"""The GTN objective on toy modules: finite, decreasing, and the conditioning loss reaches the teacher."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from autogtkd.exceptions import ConfigError
from autogtkd.gtn import (
    ArchDistribution,
    GTNConfig,
    StudentBranches,
    arch_loss,
    gtn_losses,
    match_branches,
    sample_paths,
    teacher_geometry,
)
from autogtkd.space import ChoiceSpace


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


@pytest.mark.parametrize("full_path", ["off", "distill", "mutual"])
def test_detach_teacher_gives_the_teacher_zero_gradient(space, teacher, batch, full_path) -> None:
    """``detach_teacher=True`` means "only the students move": neither the KL on z_T nor the branches
    (which read the teacher's stage features) may send gradient into any teacher parameter."""
    supernet, branches, dist = _setup(space, teacher)
    x, y = batch
    paths = sample_paths(dist, GTNConfig(paths=2), np.random.default_rng(0))
    cfg = GTNConfig(paths=2, detach_teacher=True, full_path=full_path)
    _, _, cond, _ = gtn_losses(x, y, teacher, supernet, branches, paths, cfg)
    cond.mean().backward()
    assert all(p.grad is None or float(p.grad.abs().sum()) == 0.0 for p in teacher.parameters())
    assert _stem_grad(supernet) > 0 or full_path == "off"  # the students still learn
    assert any(p.grad is not None and float(p.grad.abs().sum()) > 0 for p in branches.parameters())


def _teacher_grads(space, teacher, batch, cfg: GTNConfig) -> list[torch.Tensor]:
    supernet, branches, dist = _setup(space, teacher)  # same seed: same supernet and adapters
    x, y = batch
    teacher.zero_grad(set_to_none=True)
    paths = sample_paths(dist, GTNConfig(paths=1), np.random.default_rng(0))
    _, _, cond, _ = gtn_losses(x, y, teacher, supernet, branches, paths, cfg)
    cond.mean().backward()
    return [p.grad.clone() if p.grad is not None else torch.zeros_like(p) for p in teacher.parameters()]


def test_full_path_distill_learns_from_the_teacher_without_pulling_it(space, teacher, batch) -> None:
    """``full_path="distill"`` adds the full path's term with a detached z_T: the teacher's gradient is
    exactly that of the branches alone; ``mutual`` (the old default) changes it."""
    off = _teacher_grads(space, teacher, batch, GTNConfig(paths=1, full_path="off"))
    distill = _teacher_grads(space, teacher, batch, GTNConfig(paths=1, full_path="distill"))
    mutual = _teacher_grads(space, teacher, batch, GTNConfig(paths=1, full_path="mutual"))
    assert all(torch.allclose(a, b, atol=1e-7) for a, b in zip(off, distill, strict=True))
    assert not all(torch.allclose(a, b, atol=1e-7) for a, b in zip(off, mutual, strict=True))


def test_old_boolean_full_path_configs_keep_their_meaning() -> None:
    from autogtkd._config import from_dict

    assert GTNConfig(full_path=True).full_path == "mutual"
    assert GTNConfig(full_path=False).full_path == "off"
    assert from_dict(GTNConfig, {"full_path": True}).full_path == "mutual"
    assert from_dict(GTNConfig, {"full_path": "distill"}).full_path == "distill"
    with pytest.raises(ConfigError):
        from_dict(GTNConfig, {"full_path": "both"})


def test_branch_reduction_mean_divides_the_sum_by_the_number_of_terms(space, teacher, batch) -> None:
    supernet, branches, dist = _setup(space, teacher)
    x, y = batch
    paths = sample_paths(dist, GTNConfig(paths=1), np.random.default_rng(0))
    n_terms = len(branches.specs) + 1  # branches + the full path
    with torch.no_grad():
        s = gtn_losses(x, y, teacher, supernet, branches, paths, GTNConfig(paths=1))[2]
        m = gtn_losses(x, y, teacher, supernet, branches, paths, GTNConfig(paths=1, branch_reduction="mean"))[2]
    assert torch.allclose(m * n_terms, s, rtol=1e-5)


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
    loss, *_ = gtn_losses(x, y, teacher, supernet, branches, paths, GTNConfig(paths=1, full_path="off"))
    loss.backward()
    assert _stem_grad(supernet) == 0.0  # the ablation shows the check can fail


class _CostSpace(ChoiceSpace):
    """Two decisions with a closed-form cost, small enough to enumerate."""

    def flops(self, arch) -> int:  # type: ignore[override]
        return 10 * arch["a"] + arch["b"]


def test_reinforce_under_max_path_mflops_differentiates_the_truncated_distribution() -> None:
    """The REINFORCE gradient under truncation must estimate ∇ E_{a~p̃}[f(a)] of the *renormalised*
    distribution p̃ = p·1{FLOPs ≤ limit}/Z; ignoring Z (the old code) is biased, and this test sees it."""
    space = _CostSpace("toy", {"a": [0, 1, 2], "b": [0, 1, 2, 3]})
    dist = ArchDistribution(space)
    with torch.no_grad():
        dist.logits[0].copy_(torch.tensor([0.5, -0.3, 0.2]))
        dist.logits[1].copy_(torch.tensor([-0.2, 0.4, 0.0, 0.3]))
    limit = 12  # a=0 any b, a=1 with b<=2

    def f(arch) -> float:
        return float(arch["a"] + 0.5 * arch["b"])

    # exact gradient of E_p̃[f] by enumeration
    logp = [torch.log_softmax(t, 0) for t in dist.logits]
    ok = [(i, j) for i in range(3) for j in range(4) if space.flops({"a": i, "b": j}) <= limit]
    w = torch.stack([(logp[0][i] + logp[1][j]).exp() for i, j in ok])
    vals = torch.tensor([f({"a": i, "b": j}) for i, j in ok])
    exact_obj = (w * vals).sum() / w.sum()
    exact = torch.autograd.grad(exact_obj, list(dist.logits))

    cfg = GTNConfig(paths=8, arch_loss="reinforce-hard", max_path_mflops=limit / 1e6, entropy_weight=0.0)
    rng = np.random.default_rng(0)
    est = [torch.zeros(3), torch.zeros(4)]
    naive = [torch.zeros(3), torch.zeros(4)]
    n = 400
    for _ in range(n):
        paths = sample_paths(dist, cfg, rng)
        assert all(space.flops(p.arch) <= limit for p in paths)
        cond = torch.tensor([f(p.arch) for p in paths])
        loss = arch_loss(dist, paths, cond, cfg, baseline=0.0)  # = -mean_i f(a_i) log p̃(a_i)
        grads = torch.autograd.grad(-loss, list(dist.logits))
        for e, g in zip(est, grads, strict=True):
            e += g / n
        for p in paths:
            p.truncation_refs = None  # what the old code differentiated: log p, not log p̃
        grads = torch.autograd.grad(-arch_loss(dist, paths, cond, cfg, baseline=0.0), list(dist.logits))
        for e, g in zip(naive, grads, strict=True):
            e += g / n
    err = max(float((e - x).abs().max()) for e, x in zip(est, exact, strict=True))
    bias = max(float((e - x).abs().max()) for e, x in zip(naive, exact, strict=True))
    assert err < 0.05, (est, exact)
    assert bias > 3 * err, (naive, exact)
