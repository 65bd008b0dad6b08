"""LoopConfig: the options every training loop shares, the base of TrainConfig and KDConfig. Configs
and run directories written before it existed still load, and keep their identity (so they resume)."""

from __future__ import annotations

import dataclasses
import types

import pytest

from autogtkd._config import from_dict, to_dict
from autogtkd.exceptions import ConfigError
from autogtkd.gtn import GTNConfig
from autogtkd.train import KDConfig, LoopConfig, TrainConfig, default_run_config, train_config_from_dict
from autogtkd.train._run import _identity, _run_config

# The "train" mapping of config.json as autogtkd wrote it before LoopConfig (the embedded default run;
# its keys in the old order), and the identity of that run with a stub space (computed by that code).
OLD_DEFAULT_TRAIN = {
    "method": "gtn", "epochs": 2, "teacher_epochs": None, "teacher_init": None, "batch_size": 16,
    "optim": {"lr": 0.05, "momentum": 0.9, "weight_decay": 0.0005, "nesterov": False, "schedule": "cosine",
              "milestones": [0.5, 0.75], "warmup_epochs": 0.0},
    "gtn": {"paths": 1, "sandwich": False, "cond_weight": 1.0, "kl_weight": 1.0, "temperature": 4.0,
            "detach_teacher": False, "full_path": "distill", "kl_direction": "forward", "branch_reduction": "sum",
            "include_head_only": False, "arch_loss": "uniform", "arch_lr": 0.001, "entropy_weight": 0.001,
            "baseline_momentum": 0.9, "gumbel_tau": 1.0, "gumbel_sign": 1.0, "pool": None, "prior_archs": None,
            "max_path_mflops": 40.0},
    "inplace_paths": 2, "kd_sandwich": True, "kd_temperature": 4.0, "sftn_arch": None, "augment": True, "seed": 0,
    "max_steps_per_epoch": None, "eval_batches": 2, "calib_batches": 2, "checkpoint_every": 1, "device": "cpu",
    "amp": True, "amp_dtype": "bfloat16", "num_workers": 0, "channels_last": False, "threads": 1,
    "supernet_init": "grow",
}  # fmt: skip
OLD_DEFAULT_IDENTITY = "618fdc3199fa6d6c7d1e49ffb9268573b5f20d27bdecdb085a9a0a6d579e56b9"
STUB_SPACE = types.SimpleNamespace(name="stub", to_dict=lambda: {"family": "stub"})


def test_train_and_kd_configs_share_the_loop_config() -> None:
    shared = {f.name for f in dataclasses.fields(LoopConfig)}
    assert len(shared) == 15
    for cls in (TrainConfig, KDConfig):
        assert issubclass(cls, LoopConfig) and shared <= {f.name for f in dataclasses.fields(cls)}
    with pytest.raises(ConfigError, match="epochs must be >= 1"):  # LoopConfig's check applies to both
        KDConfig(epochs=0)
    with pytest.raises(ConfigError, match="epochs must be >= 1"):
        TrainConfig(epochs=0)


def test_old_config_json_loads_unchanged() -> None:
    cfg = train_config_from_dict(OLD_DEFAULT_TRAIN)
    # The default run has trained in NHWC since issue 12 and validates once (channels_last and
    # eval_every, like threads, are not part of the run's identity: test below); everything else is as
    # written before.
    assert dataclasses.replace(cfg, channels_last=True, eval_every=2) == default_run_config()[3]
    assert to_dict(cfg) == {**OLD_DEFAULT_TRAIN, "eval_every": 1}  # the same values; one new field at its default
    assert cfg.gtn == GTNConfig(paths=1, max_path_mflops=40.0)
    kd = from_dict(KDConfig, {"epochs": 3, "gamma": 0.2, "batch_size": 8, "threads": 1})
    assert (kd.epochs, kd.gamma, kd.batch_size, kd.threads, kd.alpha) == (3, 0.2, 8, 1, 0.9)


def test_a_run_written_before_keeps_its_identity() -> None:
    """The identity hash decides whether `train` resumes a directory and names the default run's cache
    folder: a run directory written before LoopConfig must resume, not be refused as another run."""
    dataset, _, teacher, cfg = default_run_config()
    info = {"num_classes": 10, "in_channels": 3, "image_size": 32}
    new = _run_config(STUB_SPACE, dataset, info, teacher, cfg)  # type: ignore[arg-type]
    old = {**new, "train": OLD_DEFAULT_TRAIN}
    assert _identity(new) == _identity(old) == OLD_DEFAULT_IDENTITY


def test_key_values_reads_json_else_text_and_rejects_a_missing_equals() -> None:
    """The one reader of ``KEY=VALUE`` options (CLI ``--strategy-option``, the benchmarks' variants)."""
    from autogtkd._config import key_values

    assert key_values(["a=0.5", "b=deepen", "c=true", "d=null", "e=[1, 2]", " f =nope", "g="]) == {
        "a": 0.5,
        "b": "deepen",
        "c": True,
        "d": None,
        "e": [1, 2],
        "f": "nope",
        "g": "",
    }
    for bad in ("budget_exploit", "=1"):
        with pytest.raises(ConfigError, match=rf"^--x needs KEY=VALUE, got '{bad}'$"):
            key_values([bad], what="--x")
