"""Atomic file writes: every result, config and checkpoint autogtkd writes goes through here.

A write goes to a temporary file in the target's folder, which is flushed, fsync-ed and renamed over
the target (``os.replace``, atomic on POSIX and Windows); the folder is fsync-ed afterwards. A crash or
kill part-way leaves the previous good file intact and at most a stray ``.NAME.*.tmp`` file.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

__all__ = ["atomic_open", "atomic_write_bytes", "atomic_write_json", "atomic_write_text"]


@contextmanager
def atomic_open(path: str | os.PathLike[str], mode: str = "wb", *, encoding: str | None = None) -> Iterator[IO[Any]]:
    """Open a temporary file that replaces ``path`` when the block exits without an exception.

    Example:
        >>> with atomic_open(tmp_dir / "model.pt") as f:     # doctest: +SKIP
        ...     torch.save(state, f)
    """
    if mode not in ("wb", "w"):
        raise ValueError("atomic_open supports modes 'wb' and 'w'")
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, mode, encoding=encoding if mode == "w" else None, newline="" if mode == "w" else None) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _fsync_dir(target.parent)


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Replace ``path`` with ``data`` atomically."""
    with atomic_open(path, "wb") as f:
        f.write(data)


def atomic_write_text(path: str | os.PathLike[str], text: str) -> None:
    """Replace ``path`` with UTF-8 ``text`` atomically."""
    with atomic_open(path, "w", encoding="utf-8") as f:
        f.write(text)


def atomic_write_json(path: str | os.PathLike[str], data: Any, *, indent: int | None = 2) -> None:
    """Replace ``path`` with ``data`` as JSON (plus a final newline) atomically."""
    atomic_write_text(path, json.dumps(data, indent=indent) + "\n")


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # pragma: no cover -- e.g. Windows cannot open folders
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover
        pass
    finally:
        os.close(fd)
