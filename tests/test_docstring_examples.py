"""Every ``Example:`` in the package's docstrings runs and shows what it says (the CLI's modules excepted:
their docstrings hold commands, not Python)."""

from __future__ import annotations

import doctest
import importlib
import pkgutil
import warnings

import pytest

import autogtkd

MODULES = sorted(
    m.name
    for m in pkgutil.walk_packages(autogtkd.__path__, "autogtkd.")
    if not m.name.startswith("autogtkd.cli") and not m.name.endswith("__main__")
)


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    module = importlib.import_module(name)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE, report=True)
    assert result.failed == 0, f"{result.failed} of {result.attempted} docstring examples of {name} failed"
