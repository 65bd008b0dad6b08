"""The student directory written by ``autogtkd distill`` and read by ``autogtkd export``, and
:func:`load_model_dir`, which also reads the teacher of a training run directory."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Literal

from torch import nn

from autogtkd._io import atomic_write_json
from autogtkd.exceptions import AutoGTKDError, CheckpointError, ConfigError, RunError
from autogtkd.hw.costs import count_params
from autogtkd.space import Arch, SearchSpace, create_space, list_spaces, load_space, space_from_dict
from autogtkd.train import DatasetSpec, load_run
from autogtkd.train.checkpoint import load_checkpoint, save_checkpoint

__all__ = [
    "ARCH_FILE",
    "METRICS_FILE",
    "STUDENT_FILE",
    "ModelDir",
    "load_model_dir",
    "load_student_dir",
    "save_student_dir",
    "space_spec",
]

STUDENT_FILE = "student.pt"
ARCH_FILE = "arch.json"
METRICS_FILE = "metrics.json"


def space_spec(space: SearchSpace) -> str | dict[str, Any]:
    """How ``arch.json`` names a space: the registered name when ``create_space(name,
    num_classes=...)`` rebuilds it exactly, else its ``to_dict()``."""
    if space.name in list_spaces():
        try:
            if create_space(space.name, num_classes=space.num_classes).to_dict() == space.to_dict():
                return space.name
        except (AutoGTKDError, TypeError):
            pass
    return space.to_dict()


def save_student_dir(
    dir: str | Path,
    model: nn.Module,
    arch: Arch | Mapping[str, Any],
    space: SearchSpace,
    metrics: Mapping[str, Any] | None = None,
    *,
    extra: Mapping[str, Any] | None = None,
    step: int = 0,
    epoch: int = 0,
) -> Path:
    """Write a student directory::

        dir/student.pt     checkpoint (kind "student", models={"student": state_dict}, the space's hash)
        dir/arch.json      {"space": name | space.to_dict(), "num_classes", "input_size", "in_channels",
                            "arch": {...}, "flops" (MACs, batch 1), "params"}
        dir/metrics.json   metrics, e.g. {"top1": 0.73, "teacher": "resnet32x4"} (accuracy as a fraction)

    ``extra`` (JSON-like) goes into the checkpoint (e.g. the distillation config). Returns ``dir``.
    """
    out = Path(dir)
    out.mkdir(parents=True, exist_ok=True)
    a = space.canonical(arch)
    save_checkpoint(
        out / STUDENT_FILE,
        kind="student",
        step=step,
        epoch=epoch,
        models={"student": model},
        extra={"arch": a.to_dict(), **dict(extra or {})},
        space=space,
    )
    try:
        flops = int(space.flops(a))
    except AutoGTKDError:
        flops = None
    atomic_write_json(
        out / ARCH_FILE,
        {
            "space": space_spec(space),
            "num_classes": space.num_classes,
            "input_size": space.input_size,
            "in_channels": space.in_channels,
            "arch": a.to_dict(),
            "flops": flops,
            "params": count_params(model),
        },
    )
    atomic_write_json(out / METRICS_FILE, dict(metrics or {}))
    return out


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CheckpointError(f"{path} is missing (not a student directory written by `autogtkd distill`)") from None
    except (OSError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"{path} is not valid JSON: {exc}") from None


def load_student_dir(
    dir: str | Path,
    *,
    space: SearchSpace | str | None = None,
) -> tuple[nn.Module, Arch, SearchSpace, dict[str, Any]]:
    """Read a student directory written by :func:`save_student_dir`.

    Returns ``(model in eval mode with the saved weights, arch, space, metrics)``. ``space`` overrides
    the one named in ``arch.json`` (needed for custom ``.py`` spaces whose ``to_dict()`` cannot be
    rebuilt); the checkpoint's space hash must match it either way.
    """
    root = Path(dir)
    if not root.is_dir():
        raise CheckpointError(f"student directory {root} does not exist")
    info = _read_json(root / ARCH_FILE)
    if not isinstance(info, dict) or not isinstance(info.get("arch"), dict):
        raise CheckpointError(f"{root / ARCH_FILE} has no 'arch' object")
    if space is None:
        spec = info.get("space")
        try:
            if isinstance(spec, str):
                space = load_space(spec, num_classes=info.get("num_classes"))
            elif isinstance(spec, dict):
                space = space_from_dict(spec, where=str(root / ARCH_FILE))
            else:
                raise CheckpointError(f"{root / ARCH_FILE} has no 'space' (a name or a space description)")
        except CheckpointError:
            raise
        except AutoGTKDError as exc:
            raise CheckpointError(f"cannot rebuild the search space of {root}: {exc}") from None
    elif isinstance(space, str):
        space = load_space(space, num_classes=info.get("num_classes"))
    arch = space.canonical(info["arch"])
    ckpt = load_checkpoint(root / STUDENT_FILE, expected_kind="student", space=space)
    model = space.build_model(arch, num_classes=space.num_classes)
    ckpt.load_model("student", model)
    model.eval()
    metrics = _read_json(root / METRICS_FILE) if (root / METRICS_FILE).exists() else {}
    return model, arch, space, metrics if isinstance(metrics, dict) else {"value": metrics}


# ------------------------------------------------------------------------------------------- any model dir
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
    record = _read_json(root / DISTILL_FILE)
    run = record.get("train_run") if isinstance(record, dict) else None
    config = Path(str(run)) / RUN_CONFIG_FILE if run else None
    if config is None or not config.is_file():
        return None
    run_config = _read_json(config)
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
