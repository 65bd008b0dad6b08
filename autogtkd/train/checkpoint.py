"""One versioned checkpoint format, written atomically and read with ``torch.load(weights_only=True)``.

A checkpoint file is a ``torch.save``-d dict of plain data and tensors only::

    {"format": "autogtkd-checkpoint", "format_version": 1, "autogtkd_version": "0.1.0",
     "kind": "gtn" | "supernet" | "teacher" | "student" | ..., "step": int, "epoch": int,
     "models": {name: state_dict}, "optimizers": {name: state_dict}, "schedulers": {name: state_dict},
     "extra": {JSON-like}, "space": space.to_dict() | None, "space_hash": sha256 hex | None,
     "rng": {"python": random.getstate(), "numpy": Generator.bit_generator.state | None,
             "torch": ByteTensor, "cuda": [ByteTensor, ...]}}

Writing goes to a temporary file in the same folder, which is flushed, fsync-ed and renamed over the
target (``os.replace``), so a crash never leaves a half-written checkpoint under the real name.
Reading never unpickles arbitrary objects: ``weights_only=True`` refuses any global outside
PyTorch's allow-list, so a crafted file cannot run code; every failure is one-line
:class:`~autogtkd.exceptions.CheckpointError`.

Example:
    >>> save_checkpoint("run/last.pt", kind="gtn", step=100, epoch=2,
    ...                 models={"teacher": teacher}, optimizers={"teacher": opt},
    ...                 rng=rng, space=space)                       # doctest: +SKIP
    >>> ckpt = load_checkpoint("run/last.pt", expected_kind="gtn", space=space)   # doctest: +SKIP
    >>> ckpt.load_model("teacher", teacher); restore_rng(ckpt, rng)              # doctest: +SKIP
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

from autogtkd._io import atomic_open
from autogtkd.exceptions import CheckpointError
from autogtkd.space import space_hash  # re-exported: the one digest of a space (autogtkd.space)

if TYPE_CHECKING:
    from autogtkd.space import SearchSpace

__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "Checkpoint",
    "load_checkpoint",
    "restore_rng",
    "rng_state",
    "save_checkpoint",
    "space_hash",
]

FORMAT = "autogtkd-checkpoint"
FORMAT_VERSION = 1


def rng_state(rng: np.random.Generator | None = None) -> dict[str, Any]:
    """Python, numpy (of ``rng``, if given), torch CPU and CUDA generator states."""
    return {
        "python": random.getstate(),
        "numpy": rng.bit_generator.state if rng is not None else None,
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }


def _unwrap(model: nn.Module) -> nn.Module:
    """The module under DistributedDataParallel / DataParallel (``.module``) or torch.compile (``._orig_mod``)."""
    while True:
        if isinstance(model, (nn.parallel.DistributedDataParallel, nn.DataParallel)):
            model = model.module
        elif hasattr(model, "_orig_mod") and isinstance(model._orig_mod, nn.Module):
            model = model._orig_mod
        else:
            return model


def _state(obj: Any, what: str) -> dict[str, Any]:
    if isinstance(obj, nn.Module):
        return _unwrap(obj).state_dict()
    if hasattr(obj, "state_dict") and callable(obj.state_dict):
        return obj.state_dict()
    if isinstance(obj, Mapping):
        return dict(obj)
    raise CheckpointError(f"{what}: expected a module, optimizer, scheduler or state dict, got {type(obj).__name__}")


def _check_plain(value: Any, where: str) -> None:
    """Extras must be JSON-like (dict with str keys, list, tuple, str, int, float, bool, None) or tensors."""
    if value is None or isinstance(value, (str, bool, int, float, torch.Tensor)):
        return
    if isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            _check_plain(v, f"{where}[{i}]")
        return
    if isinstance(value, dict):
        for k, v in value.items():
            if not isinstance(k, str):
                raise CheckpointError(f"{where}: keys must be strings, got {k!r}")
            _check_plain(v, f"{where}.{k}")
        return
    raise CheckpointError(f"{where}: {type(value).__name__} is not allowed in a checkpoint (use JSON-like types)")


@dataclass(frozen=True)
class Checkpoint:
    """A loaded checkpoint (see the module docstring for the file layout).

    Attributes:
        path: the file it was read from.
        kind, step, epoch: what wrote it and when (optimiser steps, completed epochs).
        models, optimizers, schedulers: name -> state dict.
        extra: JSON-like data the writer added (configs, metrics, architectures).
        rng: generator states (see :func:`rng_state`).
        space: the search space's ``to_dict()`` (or None); ``space_hash`` its hash.
    """

    path: Path
    kind: str
    step: int
    epoch: int
    models: dict[str, dict[str, Any]]
    optimizers: dict[str, dict[str, Any]] = field(default_factory=dict)
    schedulers: dict[str, dict[str, Any]] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)
    rng: dict[str, Any] = field(default_factory=dict)
    space: dict[str, Any] | None = None
    space_hash: str | None = None
    format_version: int = FORMAT_VERSION
    autogtkd_version: str = ""

    def _get(self, table: dict[str, Any], what: str, name: str) -> dict[str, Any]:
        if name not in table:
            raise CheckpointError(f"{self.path}: no {what} {name!r} (has: {', '.join(sorted(table)) or 'none'})")
        return table[name]

    def load_model(self, name: str, model: nn.Module, *, strict: bool = True) -> nn.Module:
        """Copy the weights saved as ``name`` into ``model``; mismatched keys or shapes raise
        :class:`CheckpointError`. Returns ``model``."""
        try:
            _unwrap(model).load_state_dict(self._get(self.models, "model", name), strict=strict)
        except RuntimeError as exc:
            first = str(exc).strip().splitlines()
            detail = " ".join(line.strip() for line in first[:3])
            raise CheckpointError(f"{self.path}: model {name!r} does not fit: {detail[:300]}") from None
        return model

    def load_optimizer(self, name: str, optimizer: torch.optim.Optimizer) -> None:
        """Restore the optimiser saved as ``name``."""
        try:
            optimizer.load_state_dict(self._get(self.optimizers, "optimizer", name))
        except (ValueError, KeyError, RuntimeError) as exc:
            raise CheckpointError(f"{self.path}: optimizer {name!r} does not fit: {exc}") from None

    def load_scheduler(self, name: str, scheduler: Any) -> None:
        """Restore the learning-rate scheduler saved as ``name``."""
        scheduler.load_state_dict(self._get(self.schedulers, "scheduler", name))


def save_checkpoint(
    path: str | Path,
    *,
    kind: str,
    step: int,
    epoch: int,
    models: Mapping[str, nn.Module | Mapping[str, Any]],
    optimizers: Mapping[str, Any] | None = None,
    schedulers: Mapping[str, Any] | None = None,
    extra: Mapping[str, Any] | None = None,
    space: SearchSpace | None = None,
    rng: np.random.Generator | None = None,
) -> Path:
    """Write a checkpoint atomically (temporary file in the same folder, flush, fsync, ``os.replace``).

    Args:
        path: target file (its folder is created).
        kind: what the checkpoint holds (``"gtn"``, ``"teacher"``, ``"student"``, ...), checked on load.
        step, epoch: optimiser steps and completed epochs so far.
        models: name -> module (DDP / compiled wrappers are unwrapped) or state dict.
        optimizers, schedulers: name -> object with ``state_dict()`` (or a state dict).
        extra: JSON-like data (str-keyed dicts, lists, str, int, float, bool, None) or tensors.
        space: the search space; its ``to_dict()`` and hash are stored and checked on load.
        rng: the run's ``np.random.Generator``; its state is stored beside the torch/python states.

    Returns:
        the path written.
    """
    path = Path(path)
    extra = dict(extra or {})
    _check_plain(extra, "extra")
    space_dict = space.to_dict() if space is not None else None
    if space_dict is not None:
        _check_plain(space_dict, "space")
    payload = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "autogtkd_version": _version(),
        "kind": str(kind),
        "step": int(step),
        "epoch": int(epoch),
        "models": {k: _state(v, f"models[{k!r}]") for k, v in models.items()},
        "optimizers": {k: _state(v, f"optimizers[{k!r}]") for k, v in (optimizers or {}).items()},
        "schedulers": {k: _state(v, f"schedulers[{k!r}]") for k, v in (schedulers or {}).items()},
        "extra": extra,
        "space": space_dict,
        "space_hash": space_hash(space_dict) if space_dict is not None else None,
        "rng": rng_state(rng),
    }
    with atomic_open(path, "wb") as f:
        torch.save(payload, f)
    return path


def _version() -> str:
    from autogtkd import __version__

    return __version__


def _one_line(exc: BaseException) -> str:
    lines = [line.strip() for line in str(exc).strip().splitlines() if line.strip()]
    text = lines[0] if lines else type(exc).__name__
    for line in lines:  # weights_only errors explain the refused global further down
        if "Unsupported global" in line or "Unsupported operand" in line:
            text = line
            break
    return text[:200]


def load_checkpoint(
    path: str | Path,
    *,
    expected_kind: str | None = None,
    space: SearchSpace | None = None,
    map_location: str | torch.device = "cpu",
) -> Checkpoint:
    """Read a checkpoint written by :func:`save_checkpoint`, safely (``weights_only=True``).

    Raises :class:`CheckpointError` (one line) when the file is missing, truncated or corrupt, carries
    a pickle payload (refused, never run), is not an autogtkd checkpoint, has a newer format version,
    is of another ``kind`` than ``expected_kind``, or was written for another search space than
    ``space`` (compared by the hash of ``space.to_dict()``).
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist")
    try:
        data = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # noqa: BLE001 -- truncated zip, bad pickle, refused global, ...
        raise CheckpointError(f"{path} is not a readable autogtkd checkpoint ({_one_line(exc)})") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not an autogtkd checkpoint (no {FORMAT!r} marker)")
    version = data.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise CheckpointError(
            f"{path} has checkpoint format version {version!r}; this autogtkd reads up to {FORMAT_VERSION} (upgrade it)"
        )
    kind = data.get("kind")
    if expected_kind is not None and kind != expected_kind:
        raise CheckpointError(f"{path} is a {kind!r} checkpoint, expected {expected_kind!r}")
    if space is not None:
        want = space_hash(space)
        if data.get("space_hash") is None:
            raise CheckpointError(f"{path} records no search space; expected {space.name!r}")
        if data["space_hash"] != want:
            saved = (data.get("space") or {}).get("name", "?")
            raise CheckpointError(
                f"{path} was written for another search space ({saved!r}, hash {data['space_hash'][:12]}) "
                f"than {space.name!r} (hash {want[:12]})"
            )
    try:
        return Checkpoint(
            path=path,
            kind=str(kind),
            step=int(data["step"]),
            epoch=int(data["epoch"]),
            models=dict(data["models"]),
            optimizers=dict(data.get("optimizers") or {}),
            schedulers=dict(data.get("schedulers") or {}),
            extra=dict(data.get("extra") or {}),
            rng=dict(data.get("rng") or {}),
            space=data.get("space"),
            space_hash=data.get("space_hash"),
            format_version=version,
            autogtkd_version=str(data.get("autogtkd_version", "")),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise CheckpointError(f"{path} is an incomplete autogtkd checkpoint ({type(exc).__name__}: {exc})") from None


def restore_rng(checkpoint: Checkpoint, rng: np.random.Generator | None = None) -> None:
    """Restore the python, torch CPU and CUDA generator states saved in ``checkpoint``, and the state
    of ``rng`` (in place) when given and saved."""
    state = checkpoint.rng
    try:
        if state.get("python") is not None:
            py = state["python"]
            random.setstate((py[0], tuple(py[1]), py[2]))
        if state.get("torch") is not None:
            torch.set_rng_state(state["torch"].cpu())
        if state.get("cuda") and torch.cuda.is_available() and len(state["cuda"]) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all([s.cpu() for s in state["cuda"]])
        if rng is not None:
            if state.get("numpy") is None:
                raise CheckpointError(f"{checkpoint.path}: no numpy generator state saved")
            if state["numpy"].get("bit_generator") != type(rng.bit_generator).__name__:
                raise CheckpointError(
                    f"{checkpoint.path}: saved generator is {state['numpy'].get('bit_generator')}, "
                    f"not {type(rng.bit_generator).__name__}"
                )
            rng.bit_generator.state = state["numpy"]
    except (TypeError, ValueError, IndexError, RuntimeError) as exc:
        raise CheckpointError(f"{checkpoint.path}: cannot restore random states ({exc})") from None
