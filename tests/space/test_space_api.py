"""The search-space contract, parametrised over every registered space plus small custom ones."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from autogtkd.exceptions import ArchError
from autogtkd.space import (
    Arch,
    ChoiceSpace,
    MBStageConfig,
    MobileNetV3Config,
    MobileNetV3Space,
    ResNetConfig,
    ResNetSpace,
    ResStageConfig,
    SearchSpace,
    create_space,
    list_spaces,
)


def tiny_mbv3() -> MobileNetV3Space:
    return MobileNetV3Space(
        MobileNetV3Config(
            name="tiny-mbv3", input_size=16, num_classes=4, stem_channels=8, stem_stride=1, first_channels=8,
            stages=(
                MBStageConfig(16, 2, se=True, act="relu", depth=(1, 2), kernel=(3, 5), expand=(2, 3)),
                MBStageConfig(24, 2, se=False, act="hswish", depth=(1, 2), kernel=(3,), expand=(2, 4)),
            ),
            final_channels=32, feature_channels=32, width=(0.5, 1.0),
        )
    )


def tiny_resnet() -> ResNetSpace:
    return ResNetSpace(
        ResNetConfig(
            name="tiny-resnet", input_size=16, num_classes=4, stem_channels=8,
            stages=(ResStageConfig(16, 1, depth=(1, 2), width=(0.5, 1.0), expand=(0.25, 0.5)),
                    ResStageConfig(32, 2, depth=(1, 2), width=(1.0,), expand=(0.25,))),
        )
    )


SPACES = {name: (lambda n=name: create_space(n)) for name in list_spaces()}
SPACES["tiny-mbv3"] = tiny_mbv3
SPACES["tiny-resnet"] = tiny_resnet
SPACES["choices"] = lambda: ChoiceSpace("toy", {"depth": [1, 2, 3], "op": ["conv", "pool"], "se": [True, False]})


@pytest.fixture(params=sorted(SPACES))
def space(request: pytest.FixtureRequest) -> SearchSpace:
    return SPACES[request.param]()


def test_sampling_is_seeded_and_valid(space: SearchSpace) -> None:
    a = [space.sample(np.random.default_rng(7)) for _ in range(2)]
    assert a[0] == a[1]
    rng = np.random.default_rng(0)
    for _ in range(50):
        arch = space.sample(rng)
        assert isinstance(arch, Arch) and space.canonical(arch) == arch and space.contains(arch)


def test_mutation_changes_the_network_and_crossover_mixes_parents(space: SearchSpace) -> None:
    rng = np.random.default_rng(1)
    for _ in range(30):
        a, b = space.sample(rng), space.sample(rng)
        m = space.mutate(a, rng)
        assert m != a and space.canonical(m) == m
        child = space.crossover(a, b, rng)
        assert space.canonical(child) == child
        for c in space.choices:
            if space.is_active(c.name, child) and space.is_active(c.name, a) and space.is_active(c.name, b):
                assert child[c.name] in (a[c.name], b[c.name])


def test_canonical_form_merges_encodings_of_the_same_network(space: SearchSpace) -> None:
    rng = np.random.default_rng(2)
    arch = space.sample(rng)
    inactive = [c for c in space.choices if not space.is_active(c.name, arch) and len(c.options) > 1]
    for c in inactive:
        other = dict(arch)
        other[c.name] = c.options[-1]
        assert space.canonical(other) == arch
    shuffled = dict(reversed(list(arch.items())))
    assert space.canonical(shuffled) == arch


def test_canonical_rejects_foreign_archs(space: SearchSpace) -> None:
    arch = dict(space.sample(np.random.default_rng(3)))
    with pytest.raises(ArchError, match="unknown keys"):
        space.canonical({**arch, "bogus": 1})
    first = space.choices[0]
    with pytest.raises(ArchError, match="missing keys"):
        space.canonical({k: v for k, v in arch.items() if k != first.name})
    with pytest.raises(ArchError, match="is not one of"):
        space.canonical({**arch, first.name: "not-an-option"})


def test_size_counts_distinct_canonical_networks() -> None:
    for space in (tiny_mbv3(), tiny_resnet(), SPACES["choices"]()):
        every = {space.canonical(dict(zip([c.name for c in space.choices], values, strict=True)))
                 for values in itertools.product(*(c.options for c in space.choices))}
        assert space.size() == len(every)


def test_encoding_is_numeric_and_zero_for_inactive(space: SearchSpace) -> None:
    rng = np.random.default_rng(4)
    archs = [space.sample(rng) for _ in range(10)]
    x = space.encode_many(archs)
    assert x.shape == (10, len(space.choices)) == (10, len(space.encoding_names))
    assert np.isfinite(x).all()
    for row, arch in zip(x, archs, strict=True):
        for value, c in zip(row, space.choices, strict=True):
            if not space.is_active(c.name, arch):
                assert value == 0


def test_smallest_and_largest_bound_costs() -> None:
    for space in (tiny_mbv3(), tiny_resnet(), create_space("mbv3-cifar")):
        rng = np.random.default_rng(5)
        lo, hi = space.flops(space.smallest()), space.flops(space.largest())
        for _ in range(30):
            assert lo <= space.flops(space.sample(rng)) <= hi


def test_to_dict_round_trips() -> None:
    from autogtkd.space import space_from_dict

    for space in (tiny_mbv3(), tiny_resnet(), SPACES["choices"]()):
        again = space_from_dict(space.to_dict())
        assert again.to_dict() == space.to_dict()
        assert [c.options for c in again.choices] == [c.options for c in space.choices]


def test_bool_and_int_options_stay_distinct() -> None:
    space = ChoiceSpace("b", {"flag": [True, False], "n": [1, 0]})
    with pytest.raises(ArchError):
        space.canonical({"flag": 1, "n": 1})
    with pytest.raises(ArchError):
        space.canonical({"flag": True, "n": True})
    assert space.size() == 4
