"""``teacher_init``: a supernet distilled from an existing trained teacher (the OFA-style arm of the
GTN benchmark), and ``kd_sandwich``."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from _helpers import SPEC, tiny_config, tiny_space

from autogtkd.exceptions import ConfigError
from autogtkd.train import MetricsLog, load_run, train


def _train(out: Path, digits8, cfg):
    return train(out, space=tiny_space(), dataset=SPEC, teacher="resnet8", config=cfg, data=digits8, progress=False)


def test_supernet_kd_from_a_trained_teacher_skips_the_teacher_phase_and_keeps_it(tmp_path: Path, digits8) -> None:
    vanilla = _train(tmp_path / "vanilla", digits8, tiny_config(method="vanilla", epochs=1))
    cfg = tiny_config(
        method="supernet-kd", epochs=1, teacher_init=str(vanilla), kd_sandwich=False, inplace_paths=1, seed=3
    )
    out = _train(tmp_path / "kd", digits8, cfg)
    assert [r["phase"] for r in MetricsLog.read(out)] == ["supernet"]  # no teacher phase
    before, after = load_run(vanilla, load_data=False).teacher, load_run(out, load_data=False).teacher
    assert before is not None and after is not None
    for (k, a), b in zip(before.state_dict().items(), after.state_dict().values(), strict=True):
        assert torch.equal(a, b), k  # the frozen teacher is the vanilla run's, bit for bit


def test_teacher_init_must_be_a_finished_run_with_a_teacher(tmp_path: Path, digits8) -> None:
    with pytest.raises(ConfigError, match="not a finished run"):
        _train(tmp_path / "a", digits8, tiny_config(method="supernet-kd", teacher_init=str(tmp_path / "none")))
    inplace = train(
        tmp_path / "inplace",
        space=tiny_space(),
        dataset=SPEC,
        teacher=None,
        config=tiny_config(method="inplace", epochs=1),
        data=digits8,
        progress=False,
    )
    with pytest.raises(ConfigError, match="has no teacher"):
        _train(tmp_path / "b", digits8, tiny_config(method="supernet-kd", teacher_init=str(inplace)))


def test_kd_sandwich_off_needs_a_random_path() -> None:
    with pytest.raises(ConfigError, match="inplace_paths"):
        tiny_config(method="supernet-kd", kd_sandwich=False, inplace_paths=0)
