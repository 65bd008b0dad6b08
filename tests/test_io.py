"""Atomic writes: an interrupted write leaves the previous good file intact."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from autogtkd._io import atomic_open, atomic_write_json, atomic_write_text


def test_round_trip_and_no_temporary_files(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "r.json"
    atomic_write_json(target, {"a": 1})
    atomic_write_json(target, {"a": 2})
    assert json.loads(target.read_text()) == {"a": 2}
    assert [p.name for p in target.parent.iterdir()] == ["r.json"]


def test_exception_mid_write_keeps_previous_file(tmp_path: Path) -> None:
    target = tmp_path / "r.txt"
    atomic_write_text(target, "good")
    with pytest.raises(RuntimeError), atomic_open(target, "w", encoding="utf-8") as f:
        f.write("half")
        raise RuntimeError("crash")
    assert target.read_text() == "good" and len(list(tmp_path.iterdir())) == 1


def test_kill_minus_9_mid_write_keeps_previous_file(tmp_path: Path) -> None:
    target = tmp_path / "big.bin"
    atomic_write_text(target, "good")
    script = textwrap.dedent(
        f"""
        import os, signal
        from autogtkd._io import atomic_open
        with atomic_open({str(target)!r}, "wb") as f:
            f.write(b"x" * 1_000_000)
            f.flush()
            os.kill(os.getpid(), signal.SIGKILL)
        """
    )
    proc = subprocess.run([sys.executable, "-c", script], check=False)
    assert proc.returncode == -9
    assert target.read_text() == "good"
    leftovers = [p for p in tmp_path.iterdir() if p.name != "big.bin"]
    assert all(p.name.startswith(".big.bin.") and p.name.endswith(".tmp") for p in leftovers)
    assert os.path.getsize(target) == 4
