from __future__ import annotations

import pytest

from autogtkd.exceptions import UnknownNameError
from autogtkd.registry import Registry


def test_register_list_create_and_unknown_names() -> None:
    reg: Registry[tuple[str, int]] = Registry("widget")

    @reg.register("b")
    def make_b(n: int = 1) -> tuple[str, int]:
        return ("b", n)

    reg.register("a", lambda n=0: ("a", n))
    assert reg.list() == ["a", "b"]
    assert reg.create("b", n=3) == ("b", 3)
    with pytest.raises(UnknownNameError, match=r"unknown widget 'c'; valid: a, b"):
        reg.create("c")
    with pytest.raises(ValueError, match="already registered"):
        reg.register("a", lambda: ("x", 0))
    reg.register("a", lambda: ("x", 0), overwrite=True)
    assert reg.create("a") == ("x", 0)
