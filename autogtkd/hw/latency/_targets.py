"""The hardware-target registry: predictors for named targets under ``$AUTOGTKD_HOME/targets/<name>/``.

``AUTOGTKD_HOME`` defaults to ``~/.cache/autogtkd``. It is read on every call (no module state).
"""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path
from typing import Any

from autogtkd.exceptions import PredictorError
from autogtkd.hw.latency._predictor import MANIFEST, LatencyPredictor, load_predictor_dir
from autogtkd.space import SearchSpace

__all__ = ["TARGET_NAME", "autogtkd_home", "list_targets", "load_predictor", "register_target", "targets_dir", "unregister_target"]

TARGET_NAME = re.compile(r"^[A-Za-z0-9_.\-]+$")  # the names budgets such as "15ms@NAME" accept


def autogtkd_home() -> Path:
    """``$AUTOGTKD_HOME`` or ``~/.cache/autogtkd``."""
    env = os.environ.get("AUTOGTKD_HOME")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "autogtkd"


def targets_dir() -> Path:
    """Where registered target predictors live."""
    return autogtkd_home() / "targets"


def _check_name(name: str) -> str:
    if not TARGET_NAME.match(name or "") or name in (".", ".."):
        raise PredictorError(f"invalid target name {name!r}: use letters, digits, '_', '-' and '.'")
    return name


def register_target(predictor: LatencyPredictor, name: str | None = None) -> Path:
    """Save ``predictor`` as the predictor of target ``name`` (default: ``predictor.target``),
    replacing an earlier one; returns its directory."""
    target = _check_name(name or predictor.target)
    if predictor.target != target:
        predictor.set_params(target=target)
        predictor.__dict__.pop("loaded_manifest_", None)
    return predictor.save(targets_dir() / target)


def unregister_target(name: str) -> None:
    """Remove target ``name`` (no error when absent)."""
    shutil.rmtree(targets_dir() / _check_name(name), ignore_errors=True)


def list_targets() -> list[dict[str, Any]]:
    """One summary per registered target: name, space, runtime, threads, CPU, n_train, metrics."""
    root = targets_dir()
    out: list[dict[str, Any]] = []
    if not root.is_dir():
        return out
    for d in sorted(root.iterdir()):
        if not (d / MANIFEST).is_file():
            continue
        try:
            m = json.loads((d / MANIFEST).read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            out.append({"name": d.name, "error": "unreadable manifest"})
            continue
        meas = m.get("measurement", {})
        out.append({
            "name": d.name,
            "space": m.get("space"),
            "runtime": meas.get("runtime"),
            "threads": meas.get("threads"),
            "batch_size": meas.get("batch_size"),
            "cpu": (meas.get("machine") or {}).get("cpu"),
            "model": (m.get("model") or {}).get("kind"),
            "n_train": m.get("n_train"),
            "metrics": m.get("metrics", {}),
            "path": str(d),
        })
    return out


def load_predictor(spec: str | os.PathLike[str], space: SearchSpace) -> LatencyPredictor:
    """The latency predictor of a registered target name or a predictor directory/manifest path.

    Raises :class:`~autogtkd.exceptions.PredictorError` (one line) when it is missing, tampered
    with, or fitted for another space.

    Example:
        >>> from autogtkd.space import create_space
        >>> load_predictor("no-such-target", create_space("resnet-cifar"))  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        autogtkd.exceptions.PredictorError: no latency predictor for target 'no-such-target'...
    """
    text = os.fspath(spec)
    path = Path(text)
    if path.exists():
        return load_predictor_dir(path, space)
    if TARGET_NAME.match(text) and text not in (".", ".."):
        d = targets_dir() / text
        if (d / MANIFEST).is_file():
            return load_predictor_dir(d, space)
        known = ", ".join(t["name"] for t in list_targets()) or "none"
        raise PredictorError(
            f"no latency predictor for target {text!r} (registered: {known}); "
            "fit one with `autogtkd latency fit FILE --out DIR --register NAME` or give a predictor path"
        )
    raise PredictorError(f"no latency predictor at {text}")
