"""Training configs: frozen dataclasses with documented defaults (docs/training.md, RepDistiller's CIFAR
recipe). Build them from YAML/JSON data with :func:`train_config_from_dict`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from autogtkd._config import from_dict
from autogtkd.exceptions import ConfigError
from autogtkd.gtn import GTNConfig
from autogtkd.train._methods import create_method

__all__ = ["DatasetSpec", "KDConfig", "LoopConfig", "OptimConfig", "TrainConfig", "train_config_from_dict"]


@dataclass(frozen=True)
class OptimConfig:
    """SGD with momentum and a per-step learning-rate schedule.

    Attributes:
        lr: peak learning rate (0.05). momentum: 0.9. weight_decay: 5e-4. nesterov: False.
        schedule: ``cosine`` (to 0 over the phase), ``step`` (×0.1 at ``milestones``, fractions of the
            phase) or ``constant``.
        warmup_epochs: linear warm-up from 0 (0).
    """

    lr: float = 0.05
    momentum: float = 0.9
    weight_decay: float = 5e-4
    nesterov: bool = False
    schedule: Literal["cosine", "step", "constant"] = "cosine"
    milestones: tuple[float, ...] = (0.5, 0.75)
    warmup_epochs: float = 0.0

    def __post_init__(self) -> None:
        if not 0 < self.lr < float("inf"):
            raise ConfigError(f"optim.lr must be a positive finite number, got {self.lr}")
        if self.momentum < 0 or self.weight_decay < 0 or self.warmup_epochs < 0:
            raise ConfigError("optim.momentum, weight_decay and warmup_epochs must be >= 0")


@dataclass(frozen=True)
class DatasetSpec:
    """What :func:`autogtkd.data.load_data` is called with (``data_dir`` is not part of a run's
    identity and may be overridden when a run is loaded)."""

    name: str = "digits"
    data_dir: str | None = None
    image_size: int = 32
    val_fraction: float = 0.2
    seed: int = 0
    subset: int | None = None


@dataclass(frozen=True)
class LoopConfig:
    """The options every training loop of autogtkd shares: :class:`TrainConfig` (teacher and/or
    supernet) and :class:`KDConfig` (final KD) extend it, so the loop (``autogtkd.train._loops``) and
    the resumable-run helper (``autogtkd.train._resume``) take one type. A base class rather than a
    nested field: the fields stay top-level keys, so the YAML files and the ``config.json`` of run
    directories written before it existed load unchanged (and keep their identity hash).

    Attributes:
        epochs: epochs of the main phase (30). batch_size: per process (64). optim: the SGD recipe.
        augment: random crop (+ flip) on training batches. seed: model init, data order, sampling.
        max_steps_per_epoch: cut epochs short (tests, quick benchmarks; None: full epochs).
        eval_batches: validation batches for the per-epoch log (None: the whole split).
        eval_every: validate every this many epochs (always at the end of a phase); validation
            only logs, so this does not change what a run computes (not part of its identity).
        checkpoint_every: write the checkpoint every this many epochs (always at the end).
        device: ``auto`` | ``cpu`` | ``cuda`` | ``mps``. amp: mixed precision on GPUs (``amp_dtype``).
        num_workers: loader worker processes.
        channels_last: NHWC memory format for models and batches (faster convolutions on CPU and
            tensor cores; numerics unchanged up to rounding).
        threads: intra-op CPU threads while training (restored afterwards; None: leave torch's
            setting). On a shared CPU, 1 thread per process avoids oversubscription (measured up to
            ~9x faster than 2 threads when other processes load the cores, docs/training.md).
    """

    epochs: int = 30
    batch_size: int = 64
    optim: OptimConfig = field(default_factory=OptimConfig)
    augment: bool = True
    seed: int = 0
    max_steps_per_epoch: int | None = None
    eval_batches: int | None = None
    eval_every: int = 1
    checkpoint_every: int = 1
    device: Literal["auto", "cpu", "cuda", "mps"] = "auto"
    amp: bool = True
    amp_dtype: Literal["bfloat16", "float16"] = "bfloat16"
    num_workers: int = 0
    channels_last: bool = False
    threads: int | None = None

    def __post_init__(self) -> None:
        if self.epochs < 1:
            raise ConfigError(f"epochs must be >= 1, got {self.epochs}")
        if self.eval_every < 1:
            raise ConfigError(f"eval_every must be >= 1, got {self.eval_every}")


@dataclass(frozen=True)
class TrainConfig(LoopConfig):
    """One training run (teacher and/or supernet): the :class:`LoopConfig` options and these.

    Attributes:
        method: a registered training method (:func:`~autogtkd.train.list_methods`; built-ins
            :data:`METHODS`): ``gtn`` (generic teacher + supernet, docs/training.md), ``vanilla``
            (teacher, CE only), ``inplace`` (supernet alone, sandwich rule with in-place distillation
            from its largest subnet, BigNAS/OFA), ``supernet-kd`` (a vanilla teacher is trained first,
            then frozen, and the supernet is distilled from it), ``sftn`` (one student-friendly teacher
            for the single architecture ``sftn_arch``: the GTN step with that one path).
        teacher_epochs: epochs of the vanilla-teacher phase of ``supernet-kd`` (None: ``epochs``, or 0
            when ``teacher_init`` gives a trained teacher).
        teacher_init: a finished run directory whose trained teacher initialises this run's teacher
            (same teacher architecture). With ``supernet-kd`` this distils a new supernet from an
            existing teacher without retraining it (OFA-style supernet from a vanilla teacher).
        gtn: GTN options. optim (inherited) is the teacher/supernet/branch optimiser.
        inplace_paths: random paths per step of ``inplace``/``supernet-kd`` besides the sandwich pair
            smallest + largest (2).
        kd_sandwich: ``supernet-kd`` also trains the smallest and largest subnets every step (BigNAS
            sandwich rule; True). False: only the ``inplace_paths`` random paths, the same per-step
            budget as a GTN supernet with ``gtn.paths`` = ``inplace_paths``.
        kd_temperature: temperature of in-place and fixed-teacher KD (4).
        sftn_arch: the student of ``sftn``.
        calib_batches: calibration batches (of 128 images) that re-estimate a subnet's BatchNorm
            statistics before its per-epoch evaluation (2, as ``autogtkd search``).
        supernet_init: ``grow`` (default): every supernet option beyond the smallest subnet starts as a
            no-op (zero weights on the input channels the smallest lacks, zero outer kernel taps,
            zero last-BN scale of extra residual blocks; :func:`autogtkd.gtn.grow_init`), so subnets
            whose extra options were rarely or never trained behave like the trained small ones instead
            of adding random features; ``default``: PyTorch's initialisation of every weight.
    """

    method: str = "gtn"
    teacher_epochs: int | None = None
    teacher_init: str | None = None
    gtn: GTNConfig = field(default_factory=GTNConfig)
    inplace_paths: int = 2
    kd_sandwich: bool = True
    kd_temperature: float = 4.0
    sftn_arch: dict[str, Any] | None = None
    calib_batches: int = 2
    supernet_init: Literal["grow", "default"] = "grow"

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.teacher_epochs is not None and self.teacher_epochs < 0:
            raise ConfigError(f"teacher_epochs must be >= 0, got {self.teacher_epochs}")
        create_method(self.method).check(self)  # unknown names raise, listing the registered ones


@dataclass(frozen=True)
class KDConfig(LoopConfig):
    """Final KD (Hinton): ``γ·CE + α·T²·KL``, teacher frozen in eval mode; the :class:`LoopConfig`
    options and these.

    Attributes:
        gamma: 0.1. alpha: 0.9. temperature: 4.
    """

    gamma: float = 0.1
    alpha: float = 0.9
    temperature: float = 4.0


def train_config_from_dict(data: Mapping[str, Any], *, where: str = "train") -> TrainConfig:
    """A :class:`TrainConfig` from plain data (unknown keys and wrong types raise ConfigError)."""
    return from_dict(TrainConfig, data, where=where)
