"""The architecture contract (pyproject.toml ``[tool.importlinter]``, docs/architecture.md "Layers"):
imports between autogtkd's packages flow downward only, so cycles hidden by function-local imports
cannot come back."""

from __future__ import annotations

import pkgutil
import sys
from pathlib import Path
from typing import Any

import pytest

import autogtkd

pytest.importorskip(
    "importlinter", reason="import-linter is not installed (pip install import-linter; it is in the test extra)"
)
if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    tomllib = pytest.importorskip("tomli", reason="reading pyproject.toml on Python 3.10 needs tomli")

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = ROOT / "pyproject.toml"
OUTSIDE_LAYERS = {"autogtkd.__main__"}  # the entry point; autogtkd/__init__.py is the container


def _contracts() -> list[dict[str, Any]]:
    return tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))["tool"]["importlinter"]["contracts"]


def _layer_modules(contract: dict[str, Any]) -> list[list[str]]:
    return [[m.strip() for m in layer.split("|")] for layer in contract["layers"]]


def test_import_contracts_are_kept(capsys: pytest.CaptureFixture[str]) -> None:
    from importlinter import configuration
    from importlinter.application.use_cases import lint_imports

    configuration.configure()  # what the lint-imports command does first
    kept = lint_imports(config_filename=str(PYPROJECT), cache_dir=None, no_logo=True)
    out = capsys.readouterr().out
    assert kept, f"an import breaks the layers of docs/architecture.md:\n{out}"


def test_every_module_of_the_package_is_in_a_layer() -> None:
    """A new top-level package or module must be placed in the layers (or it escapes the contract)."""
    (layers,) = [c for c in _contracts() if c["name"].startswith("autogtkd layers")]
    placed = {m for level in _layer_modules(layers) for m in level}
    children = {f"autogtkd.{m.name}" for m in pkgutil.iter_modules(autogtkd.__path__)}
    # a package split over several layers (autogtkd.hw) is covered by its placed children
    split = {p.rsplit(".", 1)[0] for p in placed if p.count(".") == 2}
    for parent in split:
        children.discard(parent)
        pkg = __import__(parent, fromlist=["_"])
        children |= {f"{parent}.{m.name}" for m in pkgutil.iter_modules(pkg.__path__)}
    assert sorted(children - placed - OUTSIDE_LAYERS) == []
    assert sorted(placed - children) == []  # no stale layer names


def test_the_contract_rejects_an_upward_import() -> None:
    """The layers contract is not vacuous: one added upward import (nn -> train, the cycle issue 14
    removed) breaks it."""
    import grimp
    from importlinter.contracts.layers import LayersContract

    (spec,) = [c for c in _contracts() if c["name"].startswith("autogtkd layers")]
    contract = LayersContract(
        name=spec["name"], session_options={"root_packages": ["autogtkd"]}, contract_options=dict(spec)
    )
    graph = grimp.build_graph("autogtkd", exclude_type_checking_imports=True, cache_dir=None)
    assert contract.check(graph, verbose=False).kept
    graph.add_import(importer="autogtkd.nn._bn", imported="autogtkd.train._loops")
    assert not contract.check(graph, verbose=False).kept
