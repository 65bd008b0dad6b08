"""BatchNorm recalibration, top-1, and the inherit / finetune scorers on a tiny supernet."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from torch import nn

from autogtkd.data import BatchLoader, ImageTensorDataset
from autogtkd.evaluate import CachedEvaluator, FinetuneScorer, FunctionEvaluator, InheritScorer, recalibrate_bn
from autogtkd.exceptions import RunError
from autogtkd.space import Arch


def test_recalibrate_bn_computes_exact_batch_statistics() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4), nn.Dropout(0.5))
    model.train()
    x = torch.randn(32, 3, 8, 8) * 3 + 1
    batches = [(x[:16], torch.zeros(16)), (x[16:], torch.zeros(16))]
    assert recalibrate_bn(model, batches) == 32
    with torch.no_grad():
        h = model[0](x)  # (32, 4, 8, 8)
    bn = model[1]
    assert torch.allclose(bn.running_mean, h.mean((0, 2, 3)), atol=1e-5)
    # cumulative average of the per-batch unbiased variances
    v = torch.stack([h[:16].var((0, 2, 3), unbiased=True), h[16:].var((0, 2, 3), unbiased=True)]).mean(0)
    assert torch.allclose(bn.running_var, v, atol=1e-4)
    assert bn.momentum == 0.1 and model.training and model[2].training  # modes and momentum restored


def test_inherit_scorer_leaves_supernet_untouched(tiny_space, loader) -> None:
    net = tiny_space.build_supernet()
    net.eval()
    state = copy.deepcopy(net.state_dict())
    scorer = InheritScorer(net, loader, loader)
    archs = [tiny_space.sample(np.random.default_rng(i)) for i in range(3)]
    scores = [scorer(a) for a in archs]
    assert all(0 <= s["accuracy"] <= 1 for s in scores) and scorer.name == "inherit"
    assert [scorer(a) for a in archs] == scores  # deterministic
    for k, v in net.state_dict().items():
        assert torch.equal(v, state[k]), k
    assert not net.training


def test_inherit_scorer_uses_recalibrated_statistics(tiny_space, loader) -> None:
    net = tiny_space.build_supernet()
    arch = tiny_space.smallest()
    model = InheritScorer(net, loader, loader).model(arch)
    plain = net.export(arch)
    bn_new = [m.running_mean for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    bn_old = [m.running_mean for m in plain.modules() if isinstance(m, nn.BatchNorm2d)]
    assert any(not torch.allclose(a, b) for a, b in zip(bn_new, bn_old))


def test_inherit_scorer_channels_last_scores_alike_and_leaves_trainable_weights(tiny_space, loader) -> None:
    """NHWC changes rounding only; recalibration under inference mode leaves normal, trainable tensors."""
    net = tiny_space.build_supernet().eval()
    archs = [tiny_space.sample(np.random.default_rng(i)) for i in range(3)]
    nchw, nhwc = InheritScorer(net, loader, loader, channels_last=False), InheritScorer(net, loader, loader)
    x = next(iter(loader))[0]
    for a in archs:
        m0, m1 = nchw.model(a), nhwc.model(a)
        convs = [m for m in m1.modules() if isinstance(m, nn.Conv2d)]
        assert convs and all(c.weight.is_contiguous(memory_format=torch.channels_last) for c in convs)
        with torch.no_grad():
            assert torch.allclose(m0(x), m1(x), atol=1e-4)
        assert abs(nchw(a)["accuracy"] - nhwc(a)["accuracy"]) <= 1 / 64  # 64 images: at most one flips
        for m in (m0, m1):
            assert not any(t.is_inference() for t in [*m.parameters(), *m.buffers()])
            m.train()
            m(x).sum().backward()  # the recalibrated subnet can be fine-tuned
            assert all(p.grad is not None for p in m.parameters() if p.requires_grad)


def test_finetune_scorer_is_repeatable_and_learns(tiny_space, loader) -> None:
    torch.manual_seed(0)
    net = tiny_space.build_supernet()
    teacher = tiny_space.build_supernet().export(tiny_space.largest())
    teacher_state = copy.deepcopy(teacher.state_dict())
    arch = tiny_space.smallest()
    rng_state = torch.get_rng_state()
    scorer = FinetuneScorer(net, teacher, loader, loader, steps=8, lr=0.05, calib_loader=loader)
    first = scorer(arch)
    assert torch.equal(torch.get_rng_state(), rng_state)  # the global RNG is untouched
    assert scorer(arch) == first and first["finetune_steps"] == 8
    for k, v in teacher.state_dict().items():
        assert torch.equal(v, teacher_state[k]), k
    # the KD fine-tune moves the subnet away from the inherited weights
    tuned = scorer.model(arch)
    plain = net.export(arch)
    assert any(not torch.equal(a, b) for a, b in zip(tuned.parameters(), plain.parameters()))


def test_finetune_scores_do_not_depend_on_scoring_order(tiny_space) -> None:
    """A seeded, shuffling loader restarts at epoch 0 for every candidate: the same batches for all,
    so scoring B before A gives A the score it gets alone (its loader would otherwise move on)."""
    g = torch.Generator().manual_seed(1)
    images = torch.randint(0, 256, (40, 3, 16, 16), generator=g, dtype=torch.uint8)
    data = ImageTensorDataset(images, torch.randint(0, 4, (40,), generator=g), mean=[0.5] * 3, std=[0.25] * 3)
    torch.manual_seed(0)
    net = tiny_space.build_supernet()
    teacher = tiny_space.build_supernet().export(tiny_space.largest())
    a, b = tiny_space.smallest(), tiny_space.largest()

    def scorer(**kw: object) -> FinetuneScorer:
        train = BatchLoader(data, batch_size=16, shuffle=True, augment=True, seed=0)
        val = BatchLoader(data, batch_size=40, shuffle=False, augment=False)
        return FinetuneScorer(net, teacher, train, val, steps=7, lr=0.05, **kw)  # 7 steps: 3 epochs of 3 batches

    alone = scorer().model(a)
    shared = scorer()
    shared.model(b)
    after_b = shared.model(a)
    for p, q in zip(alone.parameters(), after_b.parameters()):
        assert torch.equal(p, q)
    nchw = scorer(channels_last=False).model(a)  # NHWC (the default) changes rounding only
    for p, q in zip(alone.parameters(), nchw.parameters()):
        assert torch.allclose(p, q, atol=1e-4)


def test_cached_evaluator_never_scores_twice(tmp_path) -> None:
    calls = []
    ev = FunctionEvaluator(lambda a: calls.append(a) or {"accuracy": a["x"] / 10}, name="table")
    cache = CachedEvaluator(ev, path=tmp_path / "scores.json")
    a, b = Arch({"x": 1}), Arch({"x": 2})
    assert [cache(a), cache(b), cache(a)] == [{"accuracy": 0.1}, {"accuracy": 0.2}, {"accuracy": 0.1}]
    assert cache.calls == 2 and len(calls) == 2
    again = CachedEvaluator(ev, path=tmp_path / "scores.json")  # persisted: no new call
    assert again(b) == {"accuracy": 0.2} and again.calls == 0 and len(calls) == 2


@pytest.mark.parametrize("bad", [{"accuracy": 1.5}, {"acc": 0.5}, {"accuracy": float("nan")}, [0.5]])
def test_bad_metrics_are_clear_errors(bad) -> None:
    with pytest.raises(RunError, match="scorer 'bad'"):
        FunctionEvaluator(lambda a: bad, name="bad")(Arch({"x": 1}))


def test_the_scorer_registry_builds_the_built_ins_for_a_run(tiny_space, loader) -> None:
    """``create_scorer(name, run, options)``: the built-ins get the run's loaders and the options;
    an unknown name lists the registered ones; ``finetune`` needs a teacher."""
    from types import SimpleNamespace

    from autogtkd.evaluate import ScorerOptions, create_scorer, list_scorers
    from autogtkd.exceptions import ConfigError

    asked: list[tuple[str, int]] = []

    class Splits:
        def loader(self, split: str, batch_size: int, **kw):  # type: ignore[no-untyped-def]
            asked.append((split, batch_size))
            return loader

    run = SimpleNamespace(
        path="run", space=tiny_space, supernet=tiny_space.build_supernet(), teacher=None, data=Splits()
    )
    assert {"inherit", "finetune"} <= set(list_scorers())
    inherit = create_scorer("inherit", run, ScorerOptions(calib_batches=1, val_batches=3))
    assert isinstance(inherit, InheritScorer) and (inherit.calib_batches, inherit.val_batches) == (1, 3)
    assert asked == [("calib", 128), ("val", 256)]
    with pytest.raises(RunError, match="has no teacher; use --scorer inherit"):
        create_scorer("finetune", run)
    run.teacher = tiny_space.build_supernet().export(tiny_space.largest())
    tuned = create_scorer("finetune", run, ScorerOptions(steps=7, seed=3))
    assert isinstance(tuned, FinetuneScorer) and (tuned.steps, tuned.seed, tuned.calib_batches) == (7, 3, 2)
    assert asked[-1] == ("train", 64)
    with pytest.raises(ConfigError, match=r"scorer must be one of \[.*'finetune'.*'inherit'.*\], got 'nope'"):
        create_scorer("nope", run)
