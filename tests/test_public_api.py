"""The public API: every name in every ``__all__`` of every autogtkd module imports, is documented and
defined in autogtkd, and is what the module docstrings say it is (issue 14: ``autogtkd.distill`` is the
final-KD function, the GTN objective lives in ``autogtkd.gtn``)."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re
from types import ModuleType
from typing import Any

import pytest

import autogtkd

MODULES = ["autogtkd"] + sorted(
    m.name
    for m in pkgutil.walk_packages(autogtkd.__path__, "autogtkd.")
    if m.name != "autogtkd.__main__"  # runs the CLI when imported
)
# Sphinx cross-references in docstrings: :func:`name`, :class:`~autogtkd.x.Name`, ...
_ROLE = re.compile(r":(func|class|data|mod|meth|attr|exc):`~?([A-Za-z_][\w.]*)`")


def _exported(name: str) -> list[tuple[str, Any]]:
    mod = importlib.import_module(name)
    return [(n, getattr(mod, n)) for n in getattr(mod, "__all__", [])]


@pytest.mark.parametrize("name", MODULES)
def test_every_name_in_all_imports_and_is_documented(name: str) -> None:
    mod = importlib.import_module(name)
    names = list(getattr(mod, "__all__", []))
    assert len(names) == len(set(names)), f"{name}.__all__ repeats a name"
    namespace: dict[str, Any] = {}
    exec(f"from {name} import *", namespace)  # noqa: S102 -- the star import users may write
    assert set(names) <= set(namespace)
    for n in names:
        obj = getattr(mod, n)
        if inspect.isclass(obj) or inspect.isfunction(obj):
            assert obj.__module__.startswith("autogtkd"), f"{name}.{n} re-exports {obj.__module__}"
            assert (obj.__doc__ or "").strip(), f"{name}.{n} has no docstring"


def _resolve(mod: ModuleType, role: str, ref: str) -> Any:
    if ref.startswith("autogtkd"):
        parts = ref.split(".")
        for i in range(len(parts), 0, -1):
            try:
                obj: Any = importlib.import_module(".".join(parts[:i]))
                break
            except ImportError:
                continue
        rest = parts[i:]
    elif role in ("meth", "attr") and "." not in ref and not hasattr(mod, ref):
        # a method of a class of this module, named without its class
        owners = [c for _, c in inspect.getmembers(mod, inspect.isclass) if hasattr(c, ref)]
        assert owners, f"no class of {mod.__name__} has {ref!r}"
        return getattr(owners[0], ref)
    else:
        obj, rest = mod, ref.split(".")
    for part in rest:
        obj = getattr(obj, part)
    return obj


@pytest.mark.parametrize("name", MODULES)
def test_names_the_module_docstring_refers_to_exist(name: str) -> None:
    mod = importlib.import_module(name)
    for role, ref in _ROLE.findall(mod.__doc__ or ""):
        try:
            _resolve(mod, role, ref)
        except (AttributeError, ImportError) as exc:
            pytest.fail(f"{name}'s docstring refers to {ref!r}, which does not exist ({exc})")


def test_autogtkd_distill_is_the_final_kd_function() -> None:
    from autogtkd import distill
    from autogtkd.train import KDConfig

    assert inspect.isfunction(distill) and distill is autogtkd.distill
    assert distill.__module__ == "autogtkd.train._distill"
    assert "Hinton KD" in (distill.__doc__ or "")
    assert inspect.signature(distill).parameters["config"].annotation in ("KDConfig | None", KDConfig | None)


def test_autogtkd_gtn_holds_the_gtn_objective() -> None:
    from autogtkd import gtn

    assert (gtn.__doc__ or "").startswith("The GTN objective")
    assert gtn.gtn_losses.__module__ == gtn.GTNConfig.__module__ == "autogtkd.gtn._gtn"
    assert {"GTNConfig", "gtn_losses", "arch_loss", "sample_paths", "ArchDistribution", "conditioning_loss"} <= set(
        gtn.__all__
    )
    assert "distill" not in gtn.__all__  # the final KD is autogtkd.distill (autogtkd.train)


def test_shared_model_utilities_are_one_object_everywhere() -> None:
    """top1 / recalibrate_bn live in autogtkd.nn (below train and evaluate) and are re-exported, not copied;
    the student-directory format lives beside its writer (autogtkd.train) and is re-exported by export."""
    import autogtkd.evaluate
    import autogtkd.export
    import autogtkd.nn
    import autogtkd.train
    from autogtkd.train import _student_dir

    assert autogtkd.train.top1 is autogtkd.nn.top1
    assert autogtkd.evaluate.recalibrate_bn is autogtkd.nn.recalibrate_bn
    for n in ("save_student_dir", "load_student_dir", "space_spec", "STUDENT_FILE", "ARCH_FILE", "METRICS_FILE"):
        assert getattr(autogtkd.export, n) is getattr(_student_dir, n)


def test_lazy_root_exports_resolve() -> None:
    from autogtkd import _LAZY

    for n, module in _LAZY.items():
        assert getattr(autogtkd, n) is getattr(importlib.import_module(module), n)
