"""``autogtkd export DIR``: write a distilled student, or the teacher of a training run, as ONNX,
TorchScript or a state dict."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from autogtkd._io import atomic_write_json
from autogtkd.export import EXPORT_FORMATS, export_model, load_model_dir, space_spec

__all__ = ["register"]


def register(sub: Any) -> None:
    """Add the ``export`` sub-command."""
    p = sub.add_parser(
        "export",
        help="export a distilled student (or a run's teacher) to ONNX / TorchScript / state dict",
        description="Export the student in DIR (written by `autogtkd distill`: student.pt, arch.json, "
        "metrics.json) or, when DIR is a training run (`autogtkd train`: config.json, checkpoint.pt), the "
        "run's teacher to OUT/model.onnx, OUT/model.torchscript.pt or OUT/model.pt, with arch.json and "
        'metrics.json beside it (for a teacher, arch.json names it: {"teacher": {name, num_classes, '
        "in_channels}}). The exported model is run once on a random batch and compared with PyTorch "
        "(ONNX Runtime for ONNX, when installed).",
    )
    p.add_argument("dir", metavar="DIR", help="student directory or training run directory")
    p.add_argument("--format", choices=EXPORT_FORMATS, default="onnx", help="output format (default: onnx)")
    p.add_argument("--out", metavar="OUT", help="output folder (default: DIR/export-FORMAT)")
    p.add_argument("--space", metavar="NAME|FILE", help="search space, when arch.json's cannot be rebuilt (.py spaces)")
    p.add_argument("--opset", type=int, help="ONNX opset (default: the exporter's)")
    p.add_argument("--no-check", action="store_true", help="skip comparing the exported model with PyTorch")
    p.set_defaults(func=_export)


def _export(args: argparse.Namespace) -> int:
    md = load_model_dir(args.dir, space=args.space)
    out = Path(args.out) if args.out else Path(args.dir) / f"export-{args.format}"
    result = export_model(
        md.model,
        out,
        format=args.format,
        input_shape=md.input_shape,
        arch=md.arch,
        metrics=md.metrics,
        space=None if md.space is None else space_spec(md.space),
        opset=args.opset,
        check=not args.no_check,
    )
    what = ""
    if md.teacher is not None:  # what `create_teacher` needs to rebuild the model (state-dict format)
        info = json.loads(result.arch_json.read_text(encoding="utf-8"))
        info["teacher"] = {"name": md.teacher, "num_classes": md.num_classes, "in_channels": md.input_shape[0]}
        atomic_write_json(result.arch_json, info)
        what = f"teacher {md.teacher}, "
    checked = "not checked" if result.max_abs_diff is None else f"max |diff| vs PyTorch {result.max_abs_diff:.2e}"
    print(f"wrote {result.path} ({what}{args.format}, {checked}), {result.arch_json.name}, {result.metrics_json.name}")
    return 0
