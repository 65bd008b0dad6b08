"""Training methods are a registry: built-ins registered, unknown names refused with the valid ones, a
method registered in one place trains through train(), loads with load_run and is a CLI choice."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
import torch.nn.functional as F
from _helpers import SPEC, tiny_config, tiny_space

from autogtkd.cli import build_parser
from autogtkd.exceptions import ConfigError
from autogtkd.train import (
    METHODS,
    TRAINING_METHODS,
    MethodContext,
    MetricsLog,
    Phase,
    TrainConfig,
    TrainingMethod,
    create_method,
    list_methods,
    load_run,
    register_method,
    train,
    train_config_from_dict,
)


class _Smoothed(TrainingMethod):
    """A teacher trained with label-smoothed cross-entropy (a method defined outside the package)."""

    uses_supernet = False

    def check(self, cfg: TrainConfig) -> None:
        if cfg.teacher_epochs is not None:
            raise ConfigError("smoothed has no teacher phase: leave teacher_epochs unset")

    def phases(self, ctx: MethodContext) -> list[Phase]:
        def step(x: Any, y: Any) -> tuple[Any, dict[str, float]]:
            loss = F.cross_entropy(ctx.teacher(x).float(), y, label_smoothing=0.1)
            return loss, {"loss": float(loss.detach())}

        return [Phase("teacher", ctx.cfg.epochs, [ctx.teacher], [], step, ctx.eval_teacher)]


@pytest.fixture
def smoothed():
    register_method("smoothed", _Smoothed)
    try:
        yield "smoothed"
    finally:
        TRAINING_METHODS.unregister("smoothed")


def test_builtin_methods_are_registered() -> None:
    assert set(METHODS) == {"gtn", "vanilla", "inplace", "supernet-kd", "sftn"}
    assert set(METHODS) <= set(list_methods())
    assert create_method("inplace").uses_teacher is False and create_method("vanilla").uses_supernet is False


def test_unknown_method_is_refused_listing_the_registered_ones() -> None:
    with pytest.raises(ConfigError, match=r"method must be one of \[.*'gtn'.*\], got 'nope'"):
        TrainConfig(method="nope")
    with pytest.raises(ConfigError, match="method must be one of"):
        train_config_from_dict({"method": "nope"})
    with pytest.raises(ValueError, match="already registered"):
        register_method("gtn", _Smoothed)


def test_a_registered_method_trains_loads_and_is_a_cli_choice(tmp_path: Path, digits8, smoothed: str) -> None:
    cfg = tiny_config(method=smoothed, epochs=1)
    with pytest.raises(ConfigError, match="leave teacher_epochs unset"):  # the method's own check
        tiny_config(method=smoothed, teacher_epochs=1)
    out = train(
        tmp_path / "run", space=tiny_space(), dataset=SPEC, teacher="resnet8", config=cfg, data=digits8, progress=False
    )
    records = MetricsLog.read(out)
    assert [r["phase"] for r in records] == ["teacher"] and math.isfinite(records[0]["train_loss"])
    run = load_run(out, load_data=False)
    assert run.method == smoothed and run.teacher is not None and run.supernet is None
    args = build_parser().parse_args(["train", "--method", smoothed, "--out", str(tmp_path / "cli")])
    assert args.method == smoothed


def test_the_cli_choices_are_the_registries() -> None:
    from autogtkd.gtn import list_arch_losses

    train_parser = build_parser()._subparsers._group_actions[0].choices["train"]  # type: ignore[union-attr]
    choices = {a.dest: a.choices for a in train_parser._actions if a.choices is not None}
    assert list(choices["method"]) == list_methods()
    assert list(choices["arch_loss"]) == list_arch_losses()
