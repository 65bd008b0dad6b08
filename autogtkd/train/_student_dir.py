"""The student directory: what :func:`autogtkd.train.distill` writes (``out_dir``) and
``autogtkd export`` / ``autogtkd evaluate`` read. Defined here, beside its writer and the checkpoint
format, and re-exported by :mod:`autogtkd.export`, so training never imports the export layer::

    DIR/student.pt     checkpoint (autogtkd format, kind "student", models={"student": ...})
    DIR/arch.json      {"space": registered name | space.to_dict(), "num_classes", "input_size",
                        "in_channels", "arch": {decision: value}, "flops" (MACs, batch 1), "params"}
    DIR/metrics.json   e.g. {"top1": 0.73} (accuracy as a fraction in [0, 1])
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from torch import nn

from autogtkd._io import atomic_write_json
from autogtkd.exceptions import AutoGTKDError, CheckpointError
from autogtkd.hw.costs import count_params
from autogtkd.space import Arch, SearchSpace, create_space, list_spaces, load_space, space_from_dict
from autogtkd.train.checkpoint import load_checkpoint, save_checkpoint

__all__ = [
    "ARCH_FILE",
    "METRICS_FILE",
    "STUDENT_FILE",
    "load_student_dir",
    "read_json",
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


def read_json(path: Path) -> Any:
    """The JSON document at ``path``; a missing or unreadable file raises :class:`CheckpointError`."""
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
    info = read_json(root / ARCH_FILE)
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
    metrics = read_json(root / METRICS_FILE) if (root / METRICS_FILE).exists() else {}
    return model, arch, space, metrics if isinstance(metrics, dict) else {"value": metrics}
