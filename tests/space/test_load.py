"""Loading spaces by name, YAML file or Python file, and the errors users see."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from autogtkd.exceptions import ConfigError, SpaceError, UnknownNameError
from autogtkd.space import SearchSpace, load_space

ROOT = Path(__file__).resolve().parents[2]


def test_example_custom_space_file_loads_samples_exports_and_counts() -> None:
    space = load_space(ROOT / "search_spaces" / "example_custom_space.py")
    arch = space.sample(np.random.default_rng(0))
    model = space.build_supernet().export(arch)
    from autogtkd.hw.costs import count_macs, count_params

    assert space.flops(arch) == count_macs(model, (1, 3, 64, 64))
    assert space.params(arch) == count_params(model)


def test_yaml_choices_space(tmp_path: Path) -> None:
    space = load_space(ROOT / "search_spaces" / "example_choices.yaml")
    assert space.size() == 4 * 4 * 3 * 2
    assert not space.has_supernet


def test_unknown_name_lists_valid_names() -> None:
    with pytest.raises(UnknownNameError, match="valid: mbv3-cifar"):
        load_space("no-such-space")


def test_yaml_unknown_keys_and_wrong_types(tmp_path: Path) -> None:
    text = (ROOT / "search_spaces" / "mbv3-cifar.yaml").read_text()
    bad_key = tmp_path / "bad_key.yaml"
    bad_key.write_text(text + "colour: blue\n")
    with pytest.raises(SpaceError, match=r"unknown keys \['colour'\]"):
        load_space(bad_key)
    bad_type = tmp_path / "bad_type.yaml"
    bad_type.write_text(text.replace("input_size: 32", "input_size: big"))
    with pytest.raises(SpaceError, match="input_size: expected an integer"):
        load_space(bad_type)
    bad_family = tmp_path / "fam.yaml"
    bad_family.write_text("family: nope\n")
    with pytest.raises(SpaceError, match="unknown family 'nope'"):
        load_space(bad_family)
    not_yaml = tmp_path / "broken.yaml"
    not_yaml.write_text("a: [1, 2\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_space(not_yaml)


def test_python_file_errors(tmp_path: Path) -> None:
    raising = tmp_path / "raising.py"
    raising.write_text("raise RuntimeError('kaboom')\n")
    with pytest.raises(SpaceError, match="raised RuntimeError: kaboom"):
        load_space(raising)
    empty = tmp_path / "empty.py"
    empty.write_text("x = 1\n")
    with pytest.raises(SpaceError, match="neither `space` nor `build_space"):
        load_space(empty)
    wrong = tmp_path / "wrong.py"
    wrong.write_text("space = 42\n")
    with pytest.raises(SpaceError, match="must be an autogtkd.space.SearchSpace"):
        load_space(wrong)
    with pytest.raises(SpaceError, match="does not exist"):
        load_space(tmp_path / "missing.py")


def test_python_file_with_space_object(tmp_path: Path) -> None:
    f = tmp_path / "mine.py"
    f.write_text(
        "from autogtkd.space import ChoiceSpace\n"
        "space = ChoiceSpace('mine', {'a': [1, 2], 'b': ['x', 'y', 'z']})\n"
    )
    space = load_space(f)
    assert isinstance(space, SearchSpace) and space.size() == 6
