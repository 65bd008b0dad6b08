"""Export a model to ONNX, TorchScript or a state dict, with ``arch.json`` and ``metrics.json`` beside it."""

from __future__ import annotations

import copy
import logging
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from torch import nn

from autogtkd._io import atomic_write_json
from autogtkd.exceptions import ConfigError, RunError
from autogtkd.hw.costs import count_macs, count_params
from autogtkd.space import Arch

__all__ = ["EXPORT_FORMATS", "MODEL_FILES", "ExportResult", "export_model"]

ExportFormat = Literal["onnx", "torchscript", "state-dict"]
EXPORT_FORMATS: tuple[str, ...] = ("onnx", "torchscript", "state-dict")
#: File name of the exported model per format.
MODEL_FILES: dict[str, str] = {"onnx": "model.onnx", "torchscript": "model.torchscript.pt", "state-dict": "model.pt"}


@dataclass(frozen=True)
class ExportResult:
    """What :func:`export_model` wrote.

    Attributes:
        path: the model file.
        format: ``onnx``, ``torchscript`` or ``state-dict``.
        arch_json, metrics_json: the two JSON files beside it.
        max_abs_diff: largest ``|exported(x) - model(x)|`` on a random batch (None when not checked).
    """

    path: Path
    format: str
    arch_json: Path
    metrics_json: Path
    max_abs_diff: float | None


def _batch_shape(input_shape: tuple[int, ...]) -> tuple[int, ...]:
    shape = tuple(int(v) for v in input_shape)
    if len(shape) == 3:
        return (1, *shape)
    if len(shape) == 4:
        return shape
    raise ConfigError(f"input_shape must be (C, H, W) or (N, C, H, W), got {input_shape}")


def _export_onnx(model: nn.Module, path: Path, example: torch.Tensor, opset: int | None) -> None:
    from torch.export import Dim

    try:
        import onnxscript  # noqa: F401 -- the torch.export-based exporter needs it
    except ImportError:
        raise ConfigError("ONNX export needs onnx and onnxscript: pip install 'autogtkd[onnx]'") from None
    onnx_logger = logging.getLogger("torch.onnx")  # it warns about the absent torchvision ops
    level = onnx_logger.level
    onnx_logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                model,
                (example,),
                str(path),
                input_names=["input"],
                output_names=["logits"],
                opset_version=opset,
                dynamic_shapes=({0: Dim("batch", min=1, max=65536)},),
                external_data=False,
                verbose=False,
            )
    finally:
        onnx_logger.setLevel(level)


def _run_onnx(path: Path, x: torch.Tensor) -> np.ndarray | None:
    try:
        import onnxruntime as ort
    except ImportError:
        return None
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: x.numpy()})[0]


# long: its signature and docstring (the formats and files written) take 38 lines; the code is 55
def export_model(
    model: nn.Module,
    out_dir: str | Path,
    *,
    format: ExportFormat = "onnx",
    input_shape: tuple[int, ...],
    arch: Arch | Mapping[str, Any] | None = None,
    metrics: Mapping[str, Any] | None = None,
    space: str | Mapping[str, Any] | None = None,
    opset: int | None = None,
    check: bool = True,
    atol: float = 1e-4,
    rtol: float = 1e-5,
) -> ExportResult:
    """Write ``model`` (in eval mode) to ``out_dir`` as ONNX, TorchScript or a state dict.

    Files:
        * ``model.onnx`` (input ``"input"`` ``(N, C, H, W)`` float32 with a dynamic batch, output
          ``"logits"`` ``(N, classes)``; torch.export-based exporter, weights inside the file),
          ``model.torchscript.pt`` (``torch.jit.trace``) or ``model.pt`` (``state_dict``, loadable
          with ``torch.load(weights_only=True)`` into ``space.build_model(arch)``);
        * ``arch.json``: ``{"arch", "space", "input_shape", "flops" (MACs at batch 1), "params",
          "export": {"format", "file", "torch", "opset", "max_abs_diff"}}``;
        * ``metrics.json``: ``metrics`` (e.g. ``{"top1": 0.71}``, accuracy as a fraction).

    Args:
        model: the network; it is copied, so its mode and weights are untouched.
        input_shape: ``(C, H, W)`` or ``(N, C, H, W)`` of the example input.
        arch: the architecture (written to ``arch.json``).
        space: the search space's name or ``to_dict()`` (written to ``arch.json``).
        check: run the exported file (ONNX Runtime when installed, ``torch.jit.load`` or
            ``load_state_dict``) on a random batch of 2 and compare with PyTorch; a difference above
            ``atol + rtol * max|logit|`` raises :class:`~autogtkd.exceptions.RunError` (float32
            rounding grows with the size of the logits).

    Example:
        >>> export_model(model, "out", format="onnx", input_shape=(3, 32, 32), arch=arch)  # doctest: +SKIP
    """
    if format not in EXPORT_FORMATS:
        raise ConfigError(f"unknown export format {format!r}; valid: {', '.join(EXPORT_FORMATS)}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    shape = _batch_shape(input_shape)
    net = copy.deepcopy(model).cpu().eval()
    path = out / MODEL_FILES[format]
    example = torch.randn((2, *shape[1:]), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        expected = net(example)
    got: np.ndarray | None
    if format == "onnx":
        _export_onnx(net, path, example, opset)
        got = _run_onnx(path, example) if check else None
    elif format == "torchscript":
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")
            traced = torch.jit.trace(net, example, check_trace=False)  # compared below instead
            torch.jit.save(traced, str(path))
            got = torch.jit.load(str(path))(example).numpy() if check else None
    else:
        torch.save(net.state_dict(), path)
        if check:
            clone = copy.deepcopy(net)
            clone.load_state_dict(torch.load(path, weights_only=True))
            with torch.no_grad():
                got = clone(example).numpy()
        else:
            got = None
    diff = None if got is None else float(np.abs(got - expected.numpy()).max())
    scale = float(expected.abs().max())
    if diff is not None and not diff <= atol + rtol * scale:
        raise RunError(
            f"exported {format} model differs from PyTorch by {diff:.3g} (> {atol:g} + {rtol:g} * max|logit| "
            f"{scale:.3g}) on a random batch"
        )
    info: dict[str, Any] = {
        "arch": dict(arch.to_dict() if isinstance(arch, Arch) else arch) if arch is not None else None,
        "space": space if space is None or isinstance(space, str) else dict(space),
        "input_shape": list(shape[1:]),
        "flops": count_macs(net, (1, *shape[1:])),
        "params": count_params(net),
        "export": {
            "format": format,
            "max_abs_logit": scale,
            "file": path.name,
            "torch": torch.__version__,
            "opset": opset,
            "max_abs_diff": diff,
        },
    }
    arch_json, metrics_json = out / "arch.json", out / "metrics.json"
    atomic_write_json(arch_json, info)
    atomic_write_json(metrics_json, dict(metrics or {}))
    return ExportResult(path, format, arch_json, metrics_json, diff)
