"""Run directories: :func:`train` writes one, :func:`load_run` reads it back, :func:`default_run`
trains and caches the embedded default run.

Layout of ``RUN/``::

    config.json      {"format": "autogtkd-run", "version": 1, "space": {"name", "spec"}, "dataset": {...},
                      "data_info": {"num_classes", "in_channels", "image_size"}, "teacher": name | null,
                      "method": ..., "train": TrainConfig as data}
    checkpoint.pt    autogtkd checkpoint (kind "train"): models "teacher", "supernet", "branches",
                     "arch_dist" as the method has them; optimisers, schedulers, RNG states, and in
                     ``extra`` the position (phase, epoch) and the sampling state
    metrics.jsonl    one record per epoch (and metrics.csv)
    done.json        completion marker: wall time and the last metrics record
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import torch
from torch import nn

from autogtkd._config import to_dict
from autogtkd.data import load_data
from autogtkd.exceptions import CheckpointError, ConfigError
from autogtkd.gtn import GTNConfig
from autogtkd.nn import to_device
from autogtkd.space import SearchSpace, load_space, space_from_dict
from autogtkd.supernet import Supernet
from autogtkd.teachers import create_teacher
from autogtkd.train._config import DatasetSpec, TrainConfig, train_config_from_dict
from autogtkd.train._ddp import DistContext, init_distributed, resolve_device
from autogtkd.train._loops import TrainState, make_loaders
from autogtkd.train._methods import build_models, build_phases, create_method
from autogtkd.train._resume import ResumableRun
from autogtkd.train.checkpoint import load_checkpoint
from autogtkd.train.metrics import MetricsLog

__all__ = [
    "RUN_FORMAT",
    "RUN_VERSION",
    "TrainedRun",
    "default_run",
    "default_run_config",
    "load_run",
    "run_is_complete",
    "train",
]

RUN_FORMAT = "autogtkd-run"
RUN_VERSION = 1
CONFIG_NAME, CHECKPOINT_NAME, DONE_NAME = "config.json", "checkpoint.pt", "done.json"
CHECKPOINT_KIND = "train"
# Settings that do not change what a run computes: excluded from a run's identity.
_NON_IDENTITY = ("device", "num_workers", "threads", "channels_last", "eval_every")


def _run_config(
    space: SearchSpace, dataset: DatasetSpec, data_info: Mapping[str, int], teacher: str | None, cfg: TrainConfig
) -> dict[str, Any]:
    return {
        "format": RUN_FORMAT,
        "version": RUN_VERSION,
        "space": {"name": space.name, "spec": space.to_dict()},
        "dataset": to_dict(dataset),
        "data_info": dict(data_info),
        "teacher": teacher,
        "method": cfg.method,
        "train": to_dict(cfg),
    }


def _identity(run_cfg: Mapping[str, Any]) -> str:
    data = json.loads(json.dumps(run_cfg))
    data["dataset"].pop("data_dir", None)
    for k in _NON_IDENTITY:
        data["train"].pop(k, None)
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()


def run_is_complete(path: str | Path) -> bool:
    """Whether ``path`` is a finished run directory (config, checkpoint and completion marker)."""
    p = Path(path)
    return all((p / n).is_file() for n in (CONFIG_NAME, CHECKPOINT_NAME, DONE_NAME))


def _teacher(name: str | None, num_classes: int, in_channels: int) -> nn.Module | None:
    if name is None:
        return None
    return create_teacher(name, num_classes=num_classes, in_channels=in_channels)


def _load_data(spec: DatasetSpec) -> Any:
    return load_data(
        spec.name,
        data_dir=spec.data_dir,
        image_size=spec.image_size,
        val_fraction=spec.val_fraction,
        seed=spec.seed,
        subset=spec.subset,
    )


def train(
    out: str | Path,
    *,
    space: str | Path | SearchSpace = "mbv3-cifar",
    dataset: DatasetSpec | str = "digits",
    teacher: str | None = "resnet20",
    config: TrainConfig | None = None,
    data: Any = None,
    progress: bool = True,
    on_epoch_end: Callable[[TrainState], None] | None = None,
) -> Path:
    """Train ``config.method`` and write the run directory ``out``; returns ``out`` as a
    :class:`~pathlib.Path` (the layout is in the module docstring).

    A run directory that already holds the same run is resumed from its last checkpoint (or returned
    untouched when complete); one holding a different run raises :class:`CheckpointError`. Under
    ``torchrun`` every process calls this; rank 0 writes the files.

    Args:
        out: run directory.
        space: search space (name, .yaml/.py file or object); built with the dataset's classes.
        dataset: :class:`DatasetSpec` or a dataset name (defaults for the rest).
        teacher: registered teacher name (ignored, and recorded as None, for methods without a
            teacher such as ``inplace``).
        config: training configuration (default :class:`TrainConfig`).
        data: already loaded :class:`~autogtkd.data.DataSplits` for ``dataset`` (else loaded here).
        progress: show progress bars.
        on_epoch_end: called with the training state after each epoch's checkpoint.

    Example:
        >>> run = train("runs/a", space="mbv3-cifar", dataset="digits", teacher="resnet8",
        ...             config=TrainConfig(epochs=2))                     # doctest: +SKIP
        >>> load_run(run).supernet                                        # doctest: +SKIP
    """
    t_start = time.perf_counter()
    cfg = config or TrainConfig()
    spec = DatasetSpec(name=dataset) if isinstance(dataset, str) else dataset
    if not create_method(cfg.method).uses_teacher:
        teacher = None
    ctx = init_distributed(cfg.device)
    device = resolve_device(cfg.device, local_rank=ctx.local_rank)
    data = data if data is not None else _load_data(spec)
    space_obj, info = _space_for(space, data)
    out = Path(out)
    if _claim_run_dir(out, _run_config(space_obj, spec, info, teacher, cfg), ctx):
        return out  # finished before

    models = _models_on(device, ctx, space_obj, teacher, cfg, info)
    run = ResumableRun(
        out / CHECKPOINT_NAME,
        kind=CHECKPOINT_KIND,
        space=space_obj,
        models=models,
        cfg=cfg,
        ctx=ctx,
        device=device,
        metrics_dir=out,
    )
    if cfg.teacher_init is not None and "teacher" in models and not run.has_checkpoint:
        _init_teacher(models["teacher"], Path(cfg.teacher_init), device)
    ckpt = run.resume()
    elapsed0 = 0.0 if ckpt is None else float(ckpt.extra.get("elapsed_s", 0.0))
    if ckpt is not None:
        run.state.arch.restore(ckpt.extra, device)

    def extra(st: TrainState) -> dict[str, Any]:
        return {"method": cfg.method, **st.arch.to_extra(), "elapsed_s": elapsed0 + time.perf_counter() - t_start}

    loader, val_loader = make_loaders(data, cfg, ctx)
    if len(loader) == 0:
        raise ConfigError(f"batch size {cfg.batch_size} exceeds the {len(data.train)} training images")

    def calib() -> Any:
        return data.loader("calib", 128, shuffle=False, augment=False)

    phases = build_phases(models, cfg, run.state, device, calib)
    run.run(phases, loader, val_loader, extra=extra, progress=progress, on_epoch_end=on_epoch_end)
    if ctx.is_main:
        _write_done(out, elapsed0 + time.perf_counter() - t_start)
    ctx.barrier()
    return out


def _models_on(
    device: torch.device,
    ctx: DistContext,
    space: SearchSpace,
    teacher: str | None,
    cfg: TrainConfig,
    info: Mapping[str, int],
) -> dict[str, nn.Module]:
    """The modules of ``cfg.method`` (:func:`build_models`), seeded by ``cfg.seed``, on ``device``,
    with rank 0's initial weights on every rank."""
    torch.manual_seed(cfg.seed)  # the teacher's initialisation (build_models seeds the rest)
    models = build_models(
        space, _teacher(teacher, info["num_classes"], info["in_channels"]), cfg, num_classes=info["num_classes"]
    )
    for m in models.values():
        to_device(m, device, channels_last=cfg.channels_last)
        ctx.broadcast(m)
    return models


def _space_for(space: str | Path | SearchSpace, data: Any) -> tuple[SearchSpace, dict[str, int]]:
    """The search space built for ``data``'s classes, and the data facts a run records; a space made
    for another image size raises :class:`ConfigError`."""
    space_obj = load_space(space, num_classes=data.num_classes)
    info = {
        "num_classes": int(data.num_classes),
        "in_channels": int(data.in_channels),
        "image_size": int(data.image_size),
    }
    if space_obj.input_size != data.image_size:
        raise ConfigError(
            f"space {space_obj.name!r} expects {space_obj.input_size}px images, dataset gives {data.image_size}px"
        )
    return space_obj, info


def _claim_run_dir(out: Path, run_cfg: dict[str, Any], ctx: DistContext) -> bool:
    """Make ``out`` the directory of the run ``run_cfg`` (rank 0 writes its config.json); True when
    it already holds this run, finished. A directory holding another run with a checkpoint raises
    :class:`CheckpointError`; one whose other run never trained (an earlier attempt stopped on bad
    input) starts afresh."""
    cfg_path = out / CONFIG_NAME
    if not cfg_path.exists():
        if ctx.is_main:
            out.mkdir(parents=True, exist_ok=True)
            _write_json(cfg_path, run_cfg)
        return False
    if _identity(_read_config(out)) == _identity(run_cfg):
        return run_is_complete(out)  # else: the same run, unfinished: resume it
    if (out / CHECKPOINT_NAME).exists():
        raise CheckpointError(f"{out} holds a different run (its config.json differs); use another --out")
    if ctx.is_main:
        _write_json(cfg_path, run_cfg)
    return False


def _write_done(out: Path, wall_time_s: float) -> None:
    """The completion marker: the total training time and the last metrics record."""
    records = MetricsLog.read(out)
    _write_json(
        out / DONE_NAME, {"complete": True, "wall_time_s": wall_time_s, "final": records[-1] if records else {}}
    )


def _init_teacher(teacher: nn.Module, run: Path, device: torch.device) -> None:
    """Copy the trained teacher of the finished run directory ``run`` into ``teacher``."""
    if not run_is_complete(run):
        raise ConfigError(f"teacher_init: {run} is not a finished run directory")
    ckpt = load_checkpoint(run / CHECKPOINT_NAME, expected_kind=CHECKPOINT_KIND, map_location=device)
    if "teacher" not in ckpt.models:
        raise ConfigError(f"teacher_init: {run} has no teacher (method {ckpt.extra.get('method')!r})")
    ckpt.load_model("teacher", teacher)


def _write_json(path: Path, data: Any) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=False) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def _read_config(path: Path) -> dict[str, Any]:
    p = Path(path) / CONFIG_NAME
    if not p.is_file():
        raise CheckpointError(f"{path} is not an autogtkd run directory (no {CONFIG_NAME})")
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"{p} is not readable JSON ({exc})") from None
    if not isinstance(data, dict) or data.get("format") != RUN_FORMAT:
        raise CheckpointError(f"{path} is not an autogtkd run directory (no {RUN_FORMAT!r} marker)")
    if not isinstance(data.get("version"), int) or data["version"] > RUN_VERSION:
        raise CheckpointError(
            f"{path} has run format version {data.get('version')!r}; this autogtkd reads up to {RUN_VERSION}"
        )
    return data


@dataclass
class TrainedRun:
    """A finished run loaded from its directory.

    Attributes:
        path: the run directory. config: its :class:`TrainConfig`. run_config: config.json as data.
        space: the search space. supernet: eval mode, weights loaded (None for ``vanilla``).
        teacher: eval mode, weights loaded (None for ``inplace``). data: the re-loaded
        :class:`~autogtkd.data.DataSplits` (None when ``load_data=False``). branches, arch_dist:
        GTN's adapters and architecture distribution (None for other methods). metrics: the log.
    """

    path: Path
    config: TrainConfig
    run_config: dict[str, Any]
    space: SearchSpace
    supernet: Supernet | None
    teacher: nn.Module | None
    data: Any = None
    branches: nn.Module | None = None
    arch_dist: nn.Module | None = None
    metrics: list[dict[str, Any]] = field(default_factory=list)

    @property
    def method(self) -> str:
        return self.config.method


def load_run(
    path: str | Path, *, device: str | torch.device = "cpu", load_data: bool = True, data_dir: str | Path | None = None
) -> TrainedRun:
    """Load a finished run directory written by :func:`train`.

    A missing, incomplete (no completion marker) or foreign directory raises
    :class:`~autogtkd.exceptions.CheckpointError`. ``data_dir`` overrides the dataset folder recorded
    in the config (the data are re-loaded with the recorded split arguments).

    Example:
        >>> run = load_run("runs/a")                          # doctest: +SKIP
        >>> with run.supernet.activated(run.space.smallest()):  # doctest: +SKIP
        ...     logits = run.supernet(images)
    """
    path = Path(path)
    if not path.is_dir():
        raise CheckpointError(f"run directory {path} does not exist")
    rc = _read_config(path)
    if not run_is_complete(path):
        raise CheckpointError(
            f"run {path} is incomplete (no {DONE_NAME}); resume it with `autogtkd train --out {path} ...`"
        )
    try:
        cfg = train_config_from_dict(rc["train"], where=f"{path}/config.json: train")
        space = space_from_dict(rc["space"]["spec"], where=f"{path}/config.json: space")
        info = rc["data_info"]
        spec = DatasetSpec(**rc["dataset"])
    except (KeyError, TypeError) as exc:
        raise CheckpointError(f"{path}/config.json is incomplete ({exc})") from None
    except ConfigError as exc:
        raise CheckpointError(str(exc)) from None
    dev = torch.device(device) if isinstance(device, torch.device) else resolve_device(str(device))
    models = build_models(
        space,
        _teacher(rc.get("teacher"), info["num_classes"], info["in_channels"]),
        cfg,
        num_classes=info["num_classes"],
    )
    ckpt = load_checkpoint(path / CHECKPOINT_NAME, expected_kind=CHECKPOINT_KIND, space=space, map_location="cpu")
    for name, m in models.items():
        ckpt.load_model(name, m)
        to_device(m, dev).eval()
    data = None
    if load_data:
        if data_dir is not None:
            spec = replace(spec, data_dir=str(data_dir))
        data = _load_data(spec)
    return TrainedRun(
        path=path,
        config=cfg,
        run_config=rc,
        space=space,
        supernet=models.get("supernet"),  # type: ignore[arg-type]
        teacher=models.get("teacher"),
        data=data,
        branches=models.get("branches"),
        arch_dist=models.get("arch_dist"),
        metrics=MetricsLog.read(path),
    )


# ---------------------------------------------------------------------------------------------- default run
def default_run_config() -> tuple[DatasetSpec, str, str, TrainConfig]:
    """The embedded default run: ``(dataset, space, teacher, config)`` (see docs/training.md for the
    measured cost on a 2-core CPU)."""
    dataset = DatasetSpec(name="digits", image_size=32, val_fraction=0.2, seed=0)
    # Batch 16 (176 steps in 2 epochs) rather than 32 (88 steps): the same images and CPU time, twice
    # the updates; the supernet grows from its smallest subnet (TrainConfig.supernet_init="grow").
    # Before/after numbers in docs/training.md. NHWC tensors: MobileNetV3 runs about 2x faster on CPU
    # (docs/benchmarks.md, "Main job"); like threads, not part of the run's identity (cache key).
    cfg = TrainConfig(
        method="gtn",
        epochs=DEFAULT_EPOCHS,
        batch_size=DEFAULT_BATCH_SIZE,
        supernet_init="grow",
        device="cpu",
        threads=1,
        channels_last=True,
        gtn=GTNConfig(paths=1, max_path_mflops=DEFAULT_MAX_PATH_MFLOPS),
        eval_batches=2,
        eval_every=DEFAULT_EPOCHS,  # validate once, at the end: each validation costs ~half an epoch here
    )
    return dataset, "mbv3-cifar", "resnet8", cfg


DEFAULT_EPOCHS = 2
DEFAULT_BATCH_SIZE = 16
DEFAULT_MAX_PATH_MFLOPS = 40.0


def default_run(cache_dir: str | Path | None = None, *, progress: bool = True, threads: int | None = None) -> Path:
    """Train (once) and cache the embedded default run: digits at 32x32, ``mbv3-cifar``, a ``resnet8``
    teacher, method ``gtn``, a small CPU budget. It lives in ``<cache>/runs/default-<hash of config>``
    with ``<cache>`` = ``cache_dir`` or ``$AUTOGTKD_HOME`` or ``~/.cache/autogtkd``. A second call
    returns the cached run; a call after a killed one resumes it. ``threads``: torch CPU threads while
    training (None: the config's, 1); not part of the run's identity, so not of its cache key.

    Example:
        >>> run = load_run(default_run())   # doctest: +SKIP
    """
    dataset, space, teacher, cfg = default_run_config()
    data = _load_data(dataset)
    space_obj = load_space(space, num_classes=data.num_classes)
    info = {"num_classes": data.num_classes, "in_channels": data.in_channels, "image_size": data.image_size}
    key = _identity(_run_config(space_obj, dataset, info, teacher, cfg))[:12]
    root = (
        Path(cache_dir)
        if cache_dir is not None
        else Path(os.environ.get("AUTOGTKD_HOME", Path.home() / ".cache" / "autogtkd"))
    )
    out = root / "runs" / f"default-{key}"
    if run_is_complete(out):
        return out
    if threads is not None:
        cfg = replace(cfg, threads=max(1, threads))
    return train(out, space=space_obj, dataset=dataset, teacher=teacher, config=cfg, data=data, progress=progress)
