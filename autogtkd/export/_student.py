""":func:`load_model_dir`: the model of a student directory (whose format lives in
:mod:`autogtkd.train._student_dir`, beside its writer :func:`autogtkd.train.distill`) or the teacher of a
training run directory."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Literal

from torch import nn

from autogtkd.exceptions import CheckpointError, ConfigError, RunError
from autogtkd.space import Arch, SearchSpace
from autogtkd.train import DatasetSpec, load_run
from autogtkd.train._student_dir import ARCH_FILE, STUDENT_FILE, load_student_dir, read_json

__all__ = ["ModelDir", "load_model_dir"]

RUN_CONFIG_FILE = "config.json"  # the marker of a training run directory (autogtkd.train.train)
DISTILL_FILE = "distill.json"  # written by `autogtkd distill` beside the student: names the training run


@dataclass
class ModelDir:
    """One trained model read from a directory by :func:`load_model_dir`.

    Attributes:
        path: the directory.
        kind: ``"student"`` (a student directory), ``"teacher"`` (a ``vanilla`` run: the run directory
            is the teacher's) or ``"run"`` (any other training run; the model is its teacher).
        model: the network in eval mode, weights loaded, on the CPU.
        input_shape: ``(C, H, W)`` of its training images.
        num_classes: outputs of the model.
        dataset: the dataset it was trained and validated on, as the fields of
            :class:`~autogtkd.train.DatasetSpec` (``name``, ``data_dir``, ``image_size``,
            ``val_fraction``, ``seed``, ``subset``); None when the directory does not record it.
        val_top1: top-1 (fraction) on the whole validation split of ``dataset`` recorded at training
            time; None when not recorded (or measured on part of the split only).
        metrics: the student's ``metrics.json``; for a run ``{"teacher", "method", "val_top1"}``.
        arch, space: the student's architecture and search space (None for a teacher).
        teacher: the registered teacher name (None for a student).
    """

    path: Path
    kind: Literal["student", "teacher", "run"]
    model: nn.Module
    input_shape: tuple[int, int, int]
    num_classes: int
    dataset: dict[str, Any] | None = None
    val_top1: float | None = None
    metrics: dict[str, Any] = field(default_factory=dict)
    arch: Arch | None = None
    space: SearchSpace | None = None
    teacher: str | None = None


def _dataset_fields(value: Any) -> dict[str, Any] | None:
    """The DatasetSpec fields of a recorded dataset (a dict with at least ``name``), else None."""
    if not isinstance(value, dict) or not isinstance(value.get("name"), str):
        return None
    return {f.name: value[f.name] for f in fields(DatasetSpec) if f.name in value}


def _student_dataset(root: Path, metrics: Mapping[str, Any]) -> dict[str, Any] | None:
    """What a student directory records of its dataset: ``metrics.json``'s ``"dataset"``, else the
    dataset of the training run named by ``distill.json`` (``autogtkd distill``), else None."""
    recorded = _dataset_fields(metrics.get("dataset"))
    if recorded is not None or not (root / DISTILL_FILE).is_file():
        return recorded
    record = read_json(root / DISTILL_FILE)
    run = record.get("train_run") if isinstance(record, dict) else None
    config = Path(str(run)) / RUN_CONFIG_FILE if run else None
    if config is None or not config.is_file():
        return None
    run_config = read_json(config)
    return _dataset_fields(run_config.get("dataset")) if isinstance(run_config, dict) else None


def load_model_dir(dir: str | Path, *, space: SearchSpace | str | None = None) -> ModelDir:
    """Read the model of a student directory (:func:`save_student_dir`) or the teacher of a finished
    training run directory (:func:`autogtkd.train.train`; ``config.json``).

    ``space`` applies to student directories only (see :func:`load_student_dir`). A missing directory,
    one that is neither kind, an unfinished run, a run without a teacher (``inplace``) or a corrupt
    file raises an :class:`~autogtkd.exceptions.InvalidInputError` (one line).

    Example:
        >>> md = load_model_dir("runs/a")          # doctest: +SKIP
        >>> md.kind, md.teacher, md.input_shape    # doctest: +SKIP
        ('run', 'resnet8', (3, 32, 32))
    """
    root = Path(dir)
    if not root.is_dir():
        raise CheckpointError(f"directory {root} does not exist")
    if (root / RUN_CONFIG_FILE).is_file():
        if space is not None:
            raise ConfigError(f"{root} is a training run: --space applies to student directories only")
        return _load_run_teacher(root)
    if not any((root / n).exists() for n in (STUDENT_FILE, ARCH_FILE)):
        raise CheckpointError(
            f"{root} is neither a student directory ({STUDENT_FILE}, {ARCH_FILE}) nor a training run ({RUN_CONFIG_FILE})"
        )
    model, arch, sp, metrics = load_student_dir(root, space=space)
    val = metrics.get("val_top1")
    return ModelDir(
        path=root,
        kind="student",
        model=model,
        input_shape=(sp.in_channels, sp.input_size, sp.input_size),
        num_classes=sp.num_classes,
        dataset=_student_dataset(root, metrics),
        val_top1=float(val) if isinstance(val, (int, float)) else None,
        metrics=metrics,
        arch=arch,
        space=sp,
    )


def _load_run_teacher(root: Path) -> ModelDir:
    try:
        run = load_run(root, load_data=False)
    except RunError as exc:  # an unreadable metrics log: a corrupt directory, not a failed run
        raise CheckpointError(str(exc)) from None
    if run.teacher is None:
        raise ConfigError(
            f"run {root} (method {run.method!r}) has no teacher; evaluate or export a student distilled from it"
        )
    info = run.run_config["data_info"]
    val = None
    if run.config.eval_batches is None:  # the training log scored the whole validation split
        val = next((r["val_top1_teacher"] for r in reversed(run.metrics) if "val_top1_teacher" in r), None)
    teacher = run.run_config.get("teacher")
    return ModelDir(
        path=root,
        kind="teacher" if run.method == "vanilla" else "run",
        model=run.teacher,
        input_shape=(int(info["in_channels"]), int(info["image_size"]), int(info["image_size"])),
        num_classes=int(info["num_classes"]),
        dataset=_dataset_fields(run.run_config.get("dataset")),
        val_top1=val,
        metrics={"teacher": teacher, "method": run.method, "val_top1": val},
        teacher=teacher,
    )
