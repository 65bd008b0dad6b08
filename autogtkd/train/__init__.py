"""Training: GTN (generic teacher + supernet), the baselines, final KD, run directories,
checkpoints and metrics logs.

Example:
    >>> from autogtkd.train import TrainConfig, train, load_run, distill     # doctest: +SKIP
    >>> run_dir = train("runs/a", space="mbv3-cifar", dataset="digits", teacher="resnet8",
    ...                 config=TrainConfig(method="gtn", epochs=3))          # doctest: +SKIP
    >>> run = load_run(run_dir)                                              # doctest: +SKIP
    >>> model, metrics = distill(run.teacher, run.space.smallest(), space=run.space,
    ...                          data=run.data, epochs=5)                    # doctest: +SKIP
"""

from autogtkd.train._config import (
    METHODS,
    DatasetSpec,
    KDConfig,
    Method,
    OptimConfig,
    TrainConfig,
    train_config_from_dict,
)
from autogtkd.train._ddp import DistContext, init_distributed, resolve_device
from autogtkd.train._distill import distill
from autogtkd.train._loops import TrainState, top1
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
    "Checkpoint",
    "DatasetSpec",
    "DistContext",
    "KDConfig",
    "Method",
    "MetricsLog",
    "OptimConfig",
    "TrainConfig",
    "TrainState",
    "TrainedRun",
    "default_run",
    "default_run_config",
    "distill",
    "init_distributed",
    "load_checkpoint",
    "load_run",
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
