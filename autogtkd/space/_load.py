"""The search-space registry and :func:`load_space` (a registered name, a YAML file or a Python file)."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from autogtkd._config import read_yaml
from autogtkd.exceptions import AutoGTKDError, SpaceError
from autogtkd.registry import Registry
from autogtkd.space import _builtin
from autogtkd.space._base import SearchSpace
from autogtkd.space._generic import ChoiceSpace
from autogtkd.space._mbv3 import MobileNetV3Space
from autogtkd.space._resnet import ResNetSpace

__all__ = ["SPACES", "create_space", "list_spaces", "load_space", "register_space", "space_from_dict"]

SPACES: Registry[SearchSpace] = Registry("search space")
SPACES.register("mbv3-cifar", _builtin.mbv3_cifar)
SPACES.register("mbv3-imagenet", _builtin.mbv3_imagenet)
SPACES.register("resnet-cifar", _builtin.resnet_cifar)
SPACES.register("resnet-imagenet", _builtin.resnet_imagenet)

_FAMILIES: dict[str, Callable[..., SearchSpace]] = {
    MobileNetV3Space.family: MobileNetV3Space.from_dict,
    ResNetSpace.family: ResNetSpace.from_dict,
    ChoiceSpace.family: ChoiceSpace.from_dict,
}


def register_space(name: str, factory: Callable[..., SearchSpace], *, overwrite: bool = False) -> None:
    """Register a search-space factory (called with keyword options such as ``num_classes``)."""
    SPACES.register(name, factory, overwrite=overwrite)


def list_spaces() -> list[str]:
    """Names of the registered search spaces."""
    return SPACES.list()


def create_space(name: str, **kwargs: Any) -> SearchSpace:
    """Create a registered search space, e.g. ``create_space("mbv3-cifar", num_classes=100)``."""
    return SPACES.create(name, **kwargs)


def space_from_dict(data: Any, *, where: str = "space") -> SearchSpace:
    """Build a space from its data form (``family`` selects the kind: mobilenetv3, resnet, choices)."""
    if not isinstance(data, Mapping):
        raise SpaceError(f"{where}: a search space must be a mapping, got {type(data).__name__}")
    family = data.get("family")
    if family not in _FAMILIES:
        raise SpaceError(f"{where}: unknown family {family!r}; valid: {', '.join(sorted(_FAMILIES))}")
    try:
        return _FAMILIES[family](data, where=where)
    except AutoGTKDError as exc:
        raise SpaceError(str(exc)) from None


def load_space(spec: str | Path | SearchSpace, **kwargs: Any) -> SearchSpace:
    """A search space from a registered name, a ``.yaml``/``.yml`` file or a ``.py`` file.

    A Python file must define ``space`` (a :class:`SearchSpace`) or ``build_space(**kwargs)``.
    ``kwargs`` (e.g. ``num_classes``) go to registered factories and ``build_space``; for YAML files
    ``num_classes`` overrides the file's value.
    """
    if isinstance(spec, SearchSpace):
        return spec
    text = str(spec)
    path = Path(text)
    if path.suffix in (".yaml", ".yml"):
        if not path.is_file():
            raise SpaceError(f"search space file {path} does not exist")
        data = read_yaml(path)
        if isinstance(data, dict) and "num_classes" in kwargs and kwargs["num_classes"] is not None:
            data = {**data, "num_classes": kwargs["num_classes"]}
        return space_from_dict(data, where=str(path))
    if path.suffix == ".py":
        return _load_python(path, **kwargs)
    if text not in SPACES and (path.exists() or "/" in text):
        raise SpaceError(f"search space {text!r}: expected a registered name or a .yaml/.py file")
    return create_space(text, **{k: v for k, v in kwargs.items() if v is not None})


def _load_python(path: Path, **kwargs: Any) -> SearchSpace:
    if not path.is_file():
        raise SpaceError(f"search space file {path} does not exist")
    module_name = f"_autogtkd_user_space_{abs(hash(str(path.resolve())))}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise SpaceError(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module  # dataclasses and pickling need the module registered
    try:
        spec.loader.exec_module(module)
        if hasattr(module, "build_space"):
            space = module.build_space(**{k: v for k, v in kwargs.items() if v is not None})
        elif hasattr(module, "space"):
            space = module.space
        else:
            raise SpaceError(f"{path} defines neither `space` nor `build_space()`")
    except AutoGTKDError:
        raise
    except Exception as exc:  # noqa: BLE001 -- a user's file may raise anything
        raise SpaceError(f"search space file {path} raised {type(exc).__name__}: {exc}") from None
    if not isinstance(space, SearchSpace):
        raise SpaceError(f"{path}: `space` must be an autogtkd.space.SearchSpace, got {type(space).__name__}")
    return space
