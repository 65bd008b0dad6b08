"""Measurement files: JSON Lines, a header record then one record per architecture.

Schema (documented in ``docs/latency.md``)::

    {"type": "header", "format": "autogtkd-latency", "version": 1, "space": "mbv3-cifar",
     "space_hash": "...", "space_def": {...} | null, "target": "local-ort", "runtime": "onnxruntime",
     "batch_size": 1, "threads": 1, "input_size": 32, "warmup": 10, "repeats": 50, "clock": "cpu",
     "machine": {"cpu": "...", "versions": {...}}, "created": "2026-01-01T00:00:00+00:00"}
    {"arch": {"s1.depth": 2, ...}, "latency_ms": 3.21, "latency_iqr_ms": 0.05, "energy_mj": 1.2}

Only ``arch`` and ``latency_ms`` are required in a record; the header is optional (then the space
must be given when fitting). Each record is written and flushed as one line, so a killed run loses
at most the line being written; a torn last line is ignored when reading and cut when appending.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from autogtkd.exceptions import DataError

__all__ = ["FORMAT", "MeasurementWriter", "Measurements", "make_header", "read_measurements", "write_measurements"]

FORMAT = "autogtkd-latency"
VERSION = 1

# header keys that must agree for two runs to share one file
_COMPATIBLE_KEYS = (
    "space", "space_hash", "target", "runtime", "batch_size", "threads", "input_size", "clock", "reference_arch",
)


@dataclass(frozen=True)
class Measurements:
    """The content of a measurement file.

    Attributes:
        header: the header record (``{}`` when the file has none).
        records: one dict per measured architecture, in file order (``arch``, ``latency_ms``, ...).
        path: where it was read from.
    """

    header: dict[str, Any]
    records: tuple[dict[str, Any], ...]
    path: str = ""

    @property
    def archs(self) -> list[dict[str, Any]]:
        """The architectures, in file order."""
        return [dict(r["arch"]) for r in self.records]

    @property
    def latency_ms(self) -> np.ndarray:
        """Measured latencies in milliseconds, shape ``(n,)``."""
        return np.array([float(r["latency_ms"]) for r in self.records], dtype=np.float64)

    def __len__(self) -> int:
        return len(self.records)


def make_header(**fields: Any) -> dict[str, Any]:
    """A header record with ``format``/``version``/``created`` filled in."""
    return {
        "type": "header", "format": FORMAT, "version": VERSION,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"), **fields,
    }


def _check_record(rec: Any, where: str) -> dict[str, Any]:
    if not isinstance(rec, dict) or not isinstance(rec.get("arch"), dict):
        raise DataError(f"{where}: a record needs an object `arch`")
    lat = rec.get("latency_ms")
    if isinstance(lat, bool) or not isinstance(lat, (int, float)) or not math.isfinite(lat) or lat <= 0:
        raise DataError(f"{where}: `latency_ms` must be a positive number, got {lat!r}")
    energy = rec.get("energy_mj")
    if energy is not None and (isinstance(energy, bool) or not isinstance(energy, (int, float))):
        raise DataError(f"{where}: `energy_mj` must be a number, got {energy!r}")
    return rec


def read_measurements(path: str | os.PathLike[str]) -> Measurements:
    """Read a measurement file; raise :class:`DataError` (naming the line) on malformed content.

    A torn final line (no newline, invalid JSON: the writer was killed) is skipped.
    """
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise DataError(f"cannot read measurement file {p}: {exc.strerror or exc}") from None
    lines = text.split("\n")
    header: dict[str, Any] = {}
    records: list[dict[str, Any]] = []
    for i, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError:
            if i == len(lines) and not text.endswith("\n"):
                break  # torn last line of a killed run
            raise DataError(f"{p}:{i}: not valid JSON") from None
        if isinstance(obj, dict) and obj.get("type") == "header":
            if header or records:
                raise DataError(f"{p}:{i}: the header must be the first record and appear once")
            if obj.get("format") != FORMAT:
                raise DataError(f"{p}:{i}: unknown format {obj.get('format')!r}; expected {FORMAT!r}")
            header = obj
            continue
        records.append(_check_record(obj, f"{p}:{i}"))
    return Measurements(header, tuple(records), str(p))


class MeasurementWriter:
    """Append records to a measurement file, one flushed (and fsync'ed) line each.

    Opening an existing file checks that its header matches ``header`` on the keys that make two
    runs comparable (space, its hash, target, runtime, batch size, threads, input size, clock,
    reference network) and cuts a
    torn last line. Use as a context manager.
    """

    def __init__(self, path: str | os.PathLike[str], header: Mapping[str, Any]) -> None:
        self.path = Path(path)
        self.existing = Measurements({}, ())
        if self.path.exists() and self.path.stat().st_size > 0:
            self.existing = read_measurements(self.path)
            old = self.existing.header
            diffs = [k for k in _COMPATIBLE_KEYS if k in header and old.get(k) != header.get(k)]
            if diffs:
                detail = ", ".join(f"{k}: file {old.get(k)!r} vs now {header.get(k)!r}" for k in diffs)
                raise DataError(f"{self.path} holds other measurements ({detail}); use another --out")
            self._cut_torn_tail()
            self._file = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 - closed by close()
        else:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = open(self.path, "w", encoding="utf-8")  # noqa: SIM115 - closed by close()
            self._write(dict(header))

    def _cut_torn_tail(self) -> None:
        data = self.path.read_bytes()
        if data and not data.endswith(b"\n"):
            keep = data.rfind(b"\n") + 1
            with open(self.path, "r+b") as f:
                f.truncate(keep)

    def _write(self, obj: Mapping[str, Any]) -> None:
        self._file.write(json.dumps(obj, separators=(",", ":")) + "\n")
        self._file.flush()
        os.fsync(self._file.fileno())

    def append(self, arch: Mapping[str, Any], fields: Mapping[str, Any]) -> None:
        """Write one record ``{"arch": arch, **fields}``."""
        self._write({"arch": dict(arch), **fields})

    def close(self) -> None:
        """Close the file."""
        self._file.close()

    def __enter__(self) -> MeasurementWriter:  # noqa: PYI034
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def write_measurements(
    path: str | os.PathLike[str], header: Mapping[str, Any], archs: Sequence[Mapping[str, Any]],
    latency_ms: Sequence[float],
) -> None:
    """Write a whole measurement file (e.g. synthetic or converted data); overwrites ``path``."""
    p = Path(path)
    if p.exists():
        p.unlink()
    with MeasurementWriter(p, header) as w:
        for a, lat in zip(archs, latency_ms, strict=True):
            w.append(a, {"latency_ms": float(lat)})
