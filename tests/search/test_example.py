"""The user-evaluator example runs and its search agrees with enumeration of its space."""

from __future__ import annotations

import runpy
import sys
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "search_with_own_evaluator.py"


def test_example_runs(monkeypatch, capsys) -> None:
    monkeypatch.setattr(sys, "argv", [str(EXAMPLE)])
    runpy.run_path(str(EXAMPLE), run_name="__main__")
    out = capsys.readouterr().out
    assert "scored 30 of 96 architectures" in out and "knee:" in out
    n_true, rest = out.split("true front: ")[1].split(" architectures; found ")
    assert int(rest.split()[0]) >= int(n_true) // 2  # most of the true front within 30 of 96 evaluations
