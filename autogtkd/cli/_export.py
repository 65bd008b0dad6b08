"""``autogtkd export DIR``: write a distilled student as ONNX, TorchScript or a state dict."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from autogtkd.export import EXPORT_FORMATS, export_model, load_student_dir, space_spec

__all__ = ["register"]


def register(sub: Any) -> None:
    """Add the ``export`` sub-command."""
    p = sub.add_parser(
        "export",
        help="export a distilled student directory to ONNX / TorchScript / state dict",
        description="Export the student in DIR (written by `autogtkd distill`: student.pt, arch.json, "
        "metrics.json) to OUT/model.onnx, OUT/model.torchscript.pt or OUT/model.pt, with arch.json and "
        "metrics.json beside it. The exported model is run once on a random batch and compared with "
        "PyTorch (ONNX Runtime for ONNX, when installed).",
    )
    p.add_argument("dir", metavar="DIR", help="student directory")
    p.add_argument("--format", choices=EXPORT_FORMATS, default="onnx", help="output format (default: onnx)")
    p.add_argument("--out", metavar="OUT", help="output folder (default: DIR/export-FORMAT)")
    p.add_argument("--space", metavar="NAME|FILE", help="search space, when arch.json's cannot be rebuilt (.py spaces)")
    p.add_argument("--opset", type=int, help="ONNX opset (default: the exporter's)")
    p.add_argument("--no-check", action="store_true", help="skip comparing the exported model with PyTorch")
    p.set_defaults(func=_export)


def _export(args: argparse.Namespace) -> int:
    model, arch, space, metrics = load_student_dir(args.dir, space=args.space)
    out = Path(args.out) if args.out else Path(args.dir) / f"export-{args.format}"
    result = export_model(
        model,
        out,
        format=args.format,
        input_shape=(space.in_channels, space.input_size, space.input_size),
        arch=arch,
        metrics=metrics,
        space=space_spec(space),
        opset=args.opset,
        check=not args.no_check,
    )
    checked = "not checked" if result.max_abs_diff is None else f"max |diff| vs PyTorch {result.max_abs_diff:.2e}"
    print(f"wrote {result.path} ({args.format}, {checked}), {result.arch_json.name}, {result.metrics_json.name}")
    return 0
