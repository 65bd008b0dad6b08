"""Run directories: every method trains, resume equals an uninterrupted run, divergence, load_run."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
from _helpers import SPEC, tiny_config, tiny_space

from autogtkd.exceptions import CheckpointError, DivergenceError
from autogtkd.gtn import GTNConfig
from autogtkd.train import MetricsLog, load_checkpoint, load_run, run_is_complete, train


def _train(tmp: Path, digits8, cfg, teacher: str | None = "resnet8", **kw):
    return train(tmp, space=tiny_space(), dataset=SPEC, teacher=teacher, config=cfg, data=digits8, progress=False, **kw)


def _params(models: dict) -> dict[str, dict[str, torch.Tensor]]:
    return {n: {k: p.detach().clone() for k, p in m.named_parameters()} for n, m in models.items()}


def _moved(before: dict[str, torch.Tensor], after: dict[str, torch.Tensor]) -> dict[str, bool]:
    """Per parameter tensor of one module, whether training changed it."""
    return {k: not torch.equal(v, after[k]) for k, v in before.items()}


# What makes each method that method: the modules it writes, the losses it logs (train_*) and those it
# must not log (they belong to another method).
_LOSSES = {
    "gtn": ({"train_teacher_ce", "train_cond", "train_path_mflops"}, {"train_kd", "train_path_loss"}),
    "vanilla": ({"train_teacher_ce"}, {"train_kd", "train_largest_ce", "train_path_loss", "train_cond"}),
    "inplace": ({"train_largest_ce", "train_kd"}, {"train_teacher_ce", "train_path_loss", "train_cond"}),
    "sftn": (
        {"train_teacher_ce", "train_cond", "train_path_mflops"},
        {"train_kd", "train_path_loss", "train_arch_loss"},
    ),
}


@pytest.mark.parametrize("method", ["gtn", "vanilla", "inplace", "supernet-kd", "sftn"])
def test_every_method_trains_what_defines_it(tmp_path: Path, digits8, method: str, monkeypatch) -> None:
    import autogtkd.train._run as run_mod

    captured: dict = {}
    build = run_mod.build_models

    def capture(*a, **k):  # the modules as initialised, and live during training
        models = build(*a, **k)
        captured.update(models=models, init=_params(models))
        return models

    monkeypatch.setattr(run_mod, "build_models", capture)
    after_phase: list[dict] = []
    smallest = tiny_space().smallest()
    cfg = tiny_config(
        method=method,
        epochs=1,
        sftn_arch=smallest.to_dict() if method == "sftn" else None,
        gtn=GTNConfig(paths=1),
        inplace_paths=0,
        teacher_epochs=1,
    )
    out = _train(
        tmp_path / "run", digits8, cfg, on_epoch_end=lambda state: after_phase.append(_params(captured["models"]))
    )
    assert run_is_complete(out)
    records = MetricsLog.read(out)
    assert records and all(math.isfinite(r["train_loss"]) for r in records)
    ckpt = load_checkpoint(out / "checkpoint.pt")
    expected = {
        "gtn": {"teacher", "supernet", "branches", "arch_dist"},
        "vanilla": {"teacher"},
        "inplace": {"supernet"},
        "supernet-kd": {"teacher", "supernet"},
        "sftn": {"teacher", "supernet", "branches", "arch_dist"},
    }[method]
    assert set(ckpt.models) == set(captured["init"]) == expected
    init = captured["init"]
    moved = {n: _moved(init[n], ckpt.models[n]) for n in expected}
    if method == "supernet-kd":  # a teacher phase (supernet untouched), then a supernet phase (teacher frozen)
        assert [r["phase"] for r in records] == ["teacher", "supernet"]
        assert {"train_teacher_ce"} <= set(records[0]) and "train_path_loss" not in records[0]
        assert {"train_path_loss"} <= set(records[1]) and "train_teacher_ce" not in records[1]
        end_of_teacher = after_phase[0]
        assert all(_moved(init["teacher"], end_of_teacher["teacher"]).values())
        assert not any(_moved(init["supernet"], end_of_teacher["supernet"]).values())
        assert not any(_moved(end_of_teacher["teacher"], ckpt.models["teacher"]).values())  # frozen in phase 2
        assert all(moved["supernet"].values())
        return
    wanted, foreign = _LOSSES[method]
    assert wanted <= set(records[-1]) and not foreign & set(records[-1]), sorted(records[-1])
    for name in expected - {"supernet", "arch_dist"}:  # the teacher and the branches: every weight is used
        assert all(moved[name].values()), f"{method}: {name} did not train"
    if method in ("gtn", "sftn"):  # p_phi is not trained: uniform (gtn's default) or one fixed student (sftn)
        assert not any(moved["arch_dist"].values())
    if method == "sftn":  # the one student, not the supernet: weights only larger subnets use stay put
        assert records[-1]["train_path_mflops"] == pytest.approx(tiny_space().flops(smallest) / 1e6)
        assert any(moved["supernet"].values()) and not all(moved["supernet"].values())
    elif method == "inplace":  # the sandwich trains the largest subnet, i.e. every weight
        assert all(moved["supernet"].values())
    elif method == "gtn":  # sampled paths + sandwich; in 2 steps a few BN biases of grown blocks (zero scale) stay put
        assert sum(moved["supernet"].values()) >= 0.9 * len(moved["supernet"])


def test_config_json_and_load_run(tmp_path: Path, digits8) -> None:
    out = _train(tmp_path / "run", digits8, tiny_config(epochs=1))
    rc = json.loads((out / "config.json").read_text())
    assert rc["format"] == "autogtkd-run" and rc["version"] == 1
    assert rc["space"]["name"] == "tiny" and rc["space"]["spec"]["family"] == "mobilenetv3"
    assert rc["dataset"]["name"] == "digits" and rc["teacher"] == "resnet8" and rc["method"] == "gtn"
    assert rc["train"]["gtn"]["paths"] == 4
    run = load_run(out)
    assert run.supernet is not None and not run.supernet.training
    assert run.teacher is not None and not run.teacher.training
    assert run.data is not None and len(run.data.val) == len(digits8.val)
    ckpt = load_checkpoint(out / "checkpoint.pt")
    for k, v in run.supernet.state_dict().items():
        assert torch.equal(v, ckpt.models["supernet"][k])
    x = torch.randn(2, 3, 8, 8)
    with run.supernet.activated(run.space.smallest()):
        assert run.supernet(x).shape == (2, 10)
    assert load_run(out, load_data=False).data is None


def test_per_epoch_validation_shows_progress(tmp_path: Path, digits8, capsys: pytest.CaptureFixture[str]) -> None:
    """The per-epoch validation (teacher, largest and smallest subnet) counts its batches on a bar,
    and the metrics are those of an unwrapped loader (the quiet run below)."""
    out = train(tmp_path / "a", space=tiny_space(), dataset=SPEC, teacher="resnet8", config=tiny_config(epochs=1),
                data=digits8, progress=True)  # fmt: skip
    err = capsys.readouterr().err
    assert "gtn 1/1 validation" in err
    quiet = _train(tmp_path / "b", digits8, tiny_config(epochs=1))
    shown, hidden = MetricsLog.read(out)[0], MetricsLog.read(quiet)[0]
    assert {k: v for k, v in shown.items() if k.startswith("val_")} == {
        k: v for k, v in hidden.items() if k.startswith("val_")
    }


def test_counted_loader_advances_the_bar_per_batch_and_passes_the_loader_through(digits8) -> None:
    from autogtkd.train._loops import _Counted

    class Bar:
        n = 0

        def update(self, k: int) -> None:
            self.n += k

    loader, bar = digits8.loader("val", 16, shuffle=False), Bar()
    counted = _Counted(loader, bar)
    got = list(counted)
    assert len(got) == len(loader) == bar.n and counted.batch_size == 16
    assert all(torch.equal(a[0], b[0]) for a, b in zip(got, loader, strict=True))
    assert len(list(_Counted(loader, None))) == len(loader)  # no bar: a plain pass-through


def test_load_run_refuses_missing_incomplete_foreign(tmp_path: Path, digits8) -> None:
    with pytest.raises(CheckpointError, match="does not exist"):
        load_run(tmp_path / "nope")
    (tmp_path / "foreign").mkdir()
    (tmp_path / "foreign" / "config.json").write_text('{"format": "something-else"}')
    with pytest.raises(CheckpointError, match="not an autogtkd run"):
        load_run(tmp_path / "foreign")
    out = _train(tmp_path / "run", digits8, tiny_config(epochs=1, method="vanilla"))
    (out / "done.json").unlink()
    with pytest.raises(CheckpointError, match="incomplete"):
        load_run(out)


def test_same_dir_other_run_is_refused(tmp_path: Path, digits8) -> None:
    out = _train(tmp_path / "run", digits8, tiny_config(epochs=1, method="vanilla"))
    with pytest.raises(CheckpointError, match="different run"):
        _train(out, digits8, tiny_config(epochs=2, method="vanilla"))


class _Kill(Exception):
    pass


def test_validating_less_often_trains_the_same_run(tmp_path: Path, digits8) -> None:
    """``eval_every`` only drops per-epoch validation rows: the weights are identical (so it is not part
    of the run's identity), and the last epoch is always validated."""
    every = _train(tmp_path / "every", digits8, tiny_config(epochs=3))
    cfg = tiny_config(epochs=3, eval_every=2)
    sparse = _train(tmp_path / "sparse", digits8, cfg)
    a, b = load_checkpoint(every / "checkpoint.pt"), load_checkpoint(sparse / "checkpoint.pt")
    for name in a.models:
        for k, v in a.models[name].items():
            assert torch.equal(v, b.models[name][k]), f"{name}.{k} differs"
    validated = [any(k.startswith("val_") for k in r) for r in MetricsLog.read(sparse)]
    assert validated == [False, True, True]
    assert all(any(k.startswith("val_") for k in r) for r in MetricsLog.read(every))
    assert json.loads((every / "config.json").read_text())["train"]["eval_every"] == 1
    assert load_run(sparse).config.eval_every == 2


def test_resume_after_interruption_equals_uninterrupted(tmp_path: Path, digits8) -> None:
    cfg = tiny_config(epochs=2, gtn=GTNConfig(paths=1, arch_loss="reinforce-hard"))
    full = _train(tmp_path / "full", digits8, cfg)

    def kill_after_first(state) -> None:
        if state.epoch == 1:
            raise _Kill()

    with pytest.raises(_Kill):
        _train(tmp_path / "cut", digits8, cfg, on_epoch_end=kill_after_first)
    assert not run_is_complete(tmp_path / "cut")
    assert load_checkpoint(tmp_path / "cut" / "checkpoint.pt").epoch == 1
    resumed = _train(tmp_path / "cut", digits8, cfg)
    a, b = load_checkpoint(full / "checkpoint.pt"), load_checkpoint(resumed / "checkpoint.pt")
    assert a.step == b.step == 4
    for name in a.models:
        for k, v in a.models[name].items():
            assert torch.equal(v, b.models[name][k]), f"{name}.{k} differs after resume"
    assert a.extra["arch_baseline"] == b.extra["arch_baseline"]
    assert a.rng["numpy"] == b.rng["numpy"]
    assert [r["step"] for r in MetricsLog.read(resumed)] == [r["step"] for r in MetricsLog.read(full)]
    # the architecture distribution moved (reinforce-hard updates phi)
    assert any(float(t.abs().sum()) > 0 for t in a.models["arch_dist"].values())


def test_divergence_raises_and_keeps_last_good_checkpoint(tmp_path: Path, digits8) -> None:
    def poison(state) -> None:
        if state.epoch == 1:
            with torch.no_grad():
                for p in teacher_holder["teacher"].parameters():
                    p.fill_(float("nan"))

    teacher_holder: dict = {}
    import autogtkd.train._run as run_mod

    original = run_mod._teacher

    def capture(*a, **k):
        t = original(*a, **k)
        teacher_holder["teacher"] = t
        return t

    run_mod._teacher = capture
    try:
        with pytest.raises(DivergenceError, match="loss became nan.*the last checkpoint written is kept"):
            _train(tmp_path / "run", digits8, tiny_config(epochs=2, method="vanilla"), on_epoch_end=poison)
    finally:
        run_mod._teacher = original
    ckpt = load_checkpoint(tmp_path / "run" / "checkpoint.pt")
    assert ckpt.epoch == 1
    assert all(torch.isfinite(v).all() for v in ckpt.models["teacher"].values() if v.is_floating_point())
    assert not run_is_complete(tmp_path / "run")
