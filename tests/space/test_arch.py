from __future__ import annotations

import json

import pytest

from autogtkd.exceptions import ArchError
from autogtkd.space import Arch


def test_arch_is_an_immutable_hashable_json_value() -> None:
    a = Arch({"width": 0.5, "s1.depth": 2, "op": "conv", "se": True})
    b = Arch([("se", True), ("op", "conv"), ("s1.depth", 2), ("width", 0.5)])
    assert a == b and hash(a) == hash(b) and len({a, b}) == 1
    assert Arch.from_json(a.to_json()) == a
    assert json.loads(a.to_json()) == a.to_dict()
    assert a.key == b.key
    with pytest.raises(AttributeError):
        a.x = 1  # type: ignore[attr-defined]
    with pytest.raises(TypeError):
        a["width"] = 1.0  # type: ignore[index]
    assert a.replace(width=1.0)["width"] == 1.0 and a["width"] == 0.5


def test_arch_copies_and_pickles() -> None:
    import copy
    import pickle

    a = Arch({"width": 0.5, "s1.depth": 2})
    assert copy.deepcopy(a) == a and copy.copy(a) is a
    b = pickle.loads(pickle.dumps(a))
    assert b == a and hash(b) == hash(a) and list(b) == list(a)
    assert copy.deepcopy({a: [a]}) == {a: [a]}


@pytest.mark.parametrize("bad", [{"a": [1, 2]}, {"a": None}, {1: 2}])
def test_arch_rejects_non_scalars(bad: dict) -> None:
    with pytest.raises(ArchError):
        Arch(bad)


def test_arch_from_json_errors() -> None:
    with pytest.raises(ArchError, match="not valid JSON"):
        Arch.from_json("{")
    with pytest.raises(ArchError, match="JSON object"):
        Arch.from_json("[1, 2]")
    with pytest.raises(ArchError, match="unknown architecture keys"):
        Arch({"a": 1}).replace(b=2)
