"""Training: GTN (generic teacher + supernet), the baselines, final KD, run directories,
checkpoints and metrics logs.

Training methods are a registry (:func:`register_method`, :func:`list_methods`); every method runs in
the same loop (:class:`Phase` objects) under the same resume/checkpoint/log skeleton, configured by a
:class:`LoopConfig` (:class:`TrainConfig` for :func:`train`, :class:`KDConfig` for :func:`distill`).
``top1`` is re-exported from :mod:`autogtkd.nn`, where the model utilities every layer shares live.

Example:
    >>> from autogtkd.train import TrainConfig, train, load_run, distill     # doctest: +SKIP
    >>> run_dir = train("runs/a", space="mbv3-cifar", dataset="digits", teacher="resnet8",
    ...                 config=TrainConfig(method="gtn", epochs=3))          # doctest: +SKIP
    >>> run = load_run(run_dir)                                              # doctest: +SKIP
    >>> model, metrics = distill(run.teacher, run.space.smallest(), space=run.space,
    ...                          data=run.data, epochs=5)                    # doctest: +SKIP
"""

from autogtkd.nn import top1
from autogtkd.train._config import (
    DatasetSpec,
    KDConfig,
    LoopConfig,
    OptimConfig,
    TrainConfig,
    train_config_from_dict,
)
from autogtkd.train._ddp import DistContext, init_distributed, resolve_device
from autogtkd.train._distill import distill
from autogtkd.train._loops import Phase, TrainState
from autogtkd.train._methods import (
    METHODS,
    TRAINING_METHODS,
    Method,
    MethodContext,
    TrainingMethod,
    create_method,
    list_methods,
    register_method,
)
from autogtkd.train._run import (
    RUN_FORMAT,
    RUN_VERSION,
    TrainedRun,
    default_run,
    default_run_config,
    load_run,
    run_is_complete,
    train,
)
from autogtkd.train.checkpoint import (
    FORMAT as CHECKPOINT_FORMAT,
)
from autogtkd.train.checkpoint import (
    FORMAT_VERSION as CHECKPOINT_FORMAT_VERSION,
)
from autogtkd.train.checkpoint import (
    Checkpoint,
    load_checkpoint,
    restore_rng,
    rng_state,
    save_checkpoint,
    space_hash,
)
from autogtkd.train.metrics import MetricsLog

__all__ = [
    "CHECKPOINT_FORMAT",
    "CHECKPOINT_FORMAT_VERSION",
    "METHODS",
    "RUN_FORMAT",
    "RUN_VERSION",
    "TRAINING_METHODS",
    "Checkpoint",
    "DatasetSpec",
    "DistContext",
    "KDConfig",
    "LoopConfig",
    "Method",
    "MethodContext",
    "MetricsLog",
    "OptimConfig",
    "Phase",
    "TrainConfig",
    "TrainState",
    "TrainedRun",
    "TrainingMethod",
    "create_method",
    "default_run",
    "default_run_config",
    "distill",
    "init_distributed",
    "list_methods",
    "load_checkpoint",
    "load_run",
    "register_method",
    "resolve_device",
    "restore_rng",
    "rng_state",
    "run_is_complete",
    "save_checkpoint",
    "space_hash",
    "top1",
    "train",
    "train_config_from_dict",
]
