"""Training metrics as JSON Lines (``metrics.jsonl``, one record per line, flushed per record) with a
CSV view (``metrics.csv``), safe to resume.

Every record has an integer ``step`` (and whatever else the caller logs: ``epoch``, ``phase``,
``loss``, ``top1``, ``lr``, ...). Resuming from a checkpoint at step ``s`` drops the records with
``step > s`` -- those were logged after the checkpoint and will be logged again -- so a restarted run
leaves no duplicate steps. A record cut short by a crash (a last line without its newline) is
ignored when reading and removed when resuming.

Example:
    >>> log = MetricsLog("runs/a")                                    # doctest: +SKIP
    >>> log.append(step=100, epoch=1, phase="train", loss=0.71)       # doctest: +SKIP
    >>> log = MetricsLog("runs/a", resume_step=ckpt.step)             # doctest: +SKIP
    >>> MetricsLog.read("runs/a")[-1]["loss"]                         # doctest: +SKIP
"""

from __future__ import annotations

import csv
import json
import math
import os
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

from autogtkd._io import atomic_write_text
from autogtkd.exceptions import RunError

__all__ = ["CSV_NAME", "JSONL_NAME", "MetricsLog"]

JSONL_NAME = "metrics.jsonl"
CSV_NAME = "metrics.csv"


def _plain(value: Any) -> Any:
    """Tensors / numpy scalars -> Python numbers; other values unchanged."""
    if hasattr(value, "item") and callable(value.item) and getattr(value, "ndim", 0) == 0:
        return value.item()
    return value


class MetricsLog:
    """Append-only metrics of one run directory.

    Args:
        run_dir: folder of ``metrics.jsonl`` and ``metrics.csv`` (created).
        resume_step: when resuming from a checkpoint at this step, first drop the records with a
            larger step. ``None`` keeps existing records and appends after them.
    """

    def __init__(self, run_dir: str | Path, *, resume_step: int | None = None) -> None:
        self.run_dir = Path(run_dir)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.jsonl_path = self.run_dir / JSONL_NAME
        self.csv_path = self.run_dir / CSV_NAME
        records = self.read(self.run_dir)
        if resume_step is not None:
            records = [r for r in records if r["step"] <= resume_step]
        needs_rewrite = resume_step is not None or self._has_partial_line()
        if needs_rewrite and self.jsonl_path.exists():
            atomic_write_text(self.jsonl_path, "".join(json.dumps(r) + "\n" for r in records))
        self._columns: list[str] = []
        for r in records:
            self._add_columns(r)
        self._write_csv(records)
        self._file = self.jsonl_path.open("a", encoding="utf-8")
        self.last_step: int | None = max((r["step"] for r in records), default=None)

    # ------------------------------------------------------------------ writing
    def append(self, record: Mapping[str, Any] | None = None, /, **values: Any) -> dict[str, Any]:
        """Append one record (``step`` required, an int) and flush it; returns the record written.

        Values may be Python/numpy/tensor scalars, strings, bools, None or lists of those.
        Non-finite floats are written as ``NaN`` / ``Infinity`` (Python's JSON extension).
        """
        rec = {k: _plain(v) for k, v in {**(record or {}), **values}.items()}
        step = rec.get("step")
        if isinstance(step, bool) or not isinstance(step, int):
            raise TypeError(f"a metrics record needs an integer 'step', got {step!r}")
        rec = {"step": step, **{k: v for k, v in rec.items() if k != "step"}}
        line = json.dumps(rec)  # raises TypeError for values JSON cannot hold
        if self._file.closed:
            raise RunError(f"metrics log {self.jsonl_path} is closed")
        self._file.write(line + "\n")
        self._file.flush()
        new_cols = self._add_columns(rec)
        if new_cols:
            self._write_csv(self.read(self.run_dir))
        else:
            with self.csv_path.open("a", encoding="utf-8", newline="") as f:
                csv.DictWriter(f, fieldnames=self._columns, lineterminator="\n").writerow(self._csv_row(rec))
        self.last_step = step if self.last_step is None else max(self.last_step, step)
        return rec

    log = append

    def close(self) -> None:
        """Close the JSON Lines file."""
        if not self._file.closed:
            self._file.close()

    def __enter__(self) -> MetricsLog:  # noqa: PYI034
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # ------------------------------------------------------------------ reading
    @staticmethod
    def read(run_dir: str | Path) -> list[dict[str, Any]]:
        """All complete records of ``run_dir/metrics.jsonl`` in file order (``[]`` when absent).

        A last line without its newline (a crash mid-write) is skipped; a malformed complete line
        raises :class:`~autogtkd.exceptions.RunError` naming the line.
        """
        path = Path(run_dir) / JSONL_NAME
        if not path.exists():
            return []
        text = path.read_text(encoding="utf-8")
        lines = text.split("\n")
        complete = lines[:-1]  # the part after the last newline is empty or partial
        out = []
        for i, line in enumerate(complete, 1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except json.JSONDecodeError as exc:
                raise RunError(f"{path}:{i} is not a JSON record ({exc.msg})") from None
            if not isinstance(rec, dict) or not isinstance(rec.get("step"), int):
                raise RunError(f"{path}:{i} is not a metrics record with an integer 'step'")
            out.append(rec)
        return out

    def records(self) -> list[dict[str, Any]]:
        """All records written so far (re-read from disk)."""
        return self.read(self.run_dir)

    # ------------------------------------------------------------------ internals
    def _has_partial_line(self) -> bool:
        if not self.jsonl_path.exists() or self.jsonl_path.stat().st_size == 0:
            return False
        with self.jsonl_path.open("rb") as f:
            f.seek(-1, os.SEEK_END)
            return f.read(1) != b"\n"

    def _add_columns(self, rec: Mapping[str, Any]) -> bool:
        new = [k for k in rec if k not in self._columns]
        self._columns += new
        return bool(new)

    @staticmethod
    def _csv_row(rec: Mapping[str, Any]) -> dict[str, Any]:
        row = {}
        for k, v in rec.items():
            if isinstance(v, float) and not math.isfinite(v):
                v = str(v)
            elif isinstance(v, (list, dict)):
                v = json.dumps(v)
            row[k] = v
        return row

    def _write_csv(self, records: list[dict[str, Any]]) -> None:
        import io

        if not self._columns:
            self.csv_path.unlink(missing_ok=True)
            return
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=self._columns, lineterminator="\n")
        writer.writeheader()
        for r in records:
            writer.writerow(self._csv_row(r))
        atomic_write_text(self.csv_path, buf.getvalue())
