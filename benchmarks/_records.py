"""The resumable record of a benchmark's finished runs: one JSON object per line.

Shared by the benchmark scripts, and free of autogtkd imports on purpose:
``latency_builtin_regression.py`` runs under older commits of the package (via ``PYTHONPATH``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

__all__ = ["append_run", "read_runs"]


def read_runs(path: str | Path) -> list[dict[str, Any]]:
    """The records of ``path`` in file order (blank lines skipped; none when it does not exist yet)."""
    p = Path(path)
    return [json.loads(line) for line in p.read_text().splitlines() if line.strip()] if p.exists() else []


def append_run(path: str | Path, record: dict[str, Any]) -> None:
    """Append ``record`` to ``path`` as one line (the file and its folder are created when missing)."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    with p.open("a", encoding="utf-8") as f:
        f.write(json.dumps(record) + "\n")
