"""Built-in spaces: their YAML forms in search_spaces/ stay equal to the registered spaces."""

from __future__ import annotations

from pathlib import Path

import pytest

from autogtkd.budget import parse_budget
from autogtkd.space import create_space, list_spaces, load_space

ROOT = Path(__file__).resolve().parents[2]


def test_builtins_are_registered() -> None:
    assert {"mbv3-cifar", "resnet-cifar", "mbv3-imagenet", "resnet-imagenet"} <= set(list_spaces())


@pytest.mark.parametrize("name", list_spaces())
def test_yaml_form_equals_registered_space(name: str) -> None:
    from_yaml = load_space(ROOT / "search_spaces" / f"{name}.yaml")
    registered = create_space(name)
    assert from_yaml.to_dict() == registered.to_dict()
    assert [(c.name, c.options) for c in from_yaml.choices] == [(c.name, c.options) for c in registered.choices]
    arch = registered.largest()
    assert from_yaml.flops(arch) == registered.flops(arch)


def test_300_mflops_cuts_through_mbv3_cifar() -> None:
    space = create_space("mbv3-cifar")
    budget = parse_budget("300MFLOPs").limit
    assert space.flops(space.smallest()) < 30e6 and space.flops(space.largest()) > 500e6
    assert space.flops(space.smallest()) < budget < space.flops(space.largest())


def test_mbv3_cifar_has_squeeze_excite_and_hardswish_where_mobilenetv3_has_them() -> None:
    cfg = create_space("mbv3-cifar").config
    assert [s.se for s in cfg.stages] == [False, True, False, True, True]
    assert [s.act for s in cfg.stages] == ["relu", "relu", "hswish", "hswish", "hswish"]
    assert all(s.kernel == (3, 5, 7) and s.expand == (3, 4, 6) and s.depth == (2, 3, 4) for s in cfg.stages)


def test_num_classes_option() -> None:
    assert create_space("resnet-cifar", num_classes=100).num_classes == 100
    assert load_space(ROOT / "search_spaces" / "mbv3-cifar.yaml", num_classes=100).num_classes == 100
