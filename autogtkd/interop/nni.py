"""Import an NNI 3.0 model space as an autogtkd search space (optional extra ``autogtkd[nni]``).

NNI's last release (3.0) dates from 2023 and its NAS API imports pytorch-lightning without declaring
it, so NNI is never imported by the core package: only this module needs it. Install with
``pip install "autogtkd[nni]"`` (``nni`` + ``pytorch-lightning``).

An NNI ``ModelSpace`` declares its decisions with ``LayerChoice`` / ``InputChoice`` / ``nni.choice``
(and the ``Mutable*`` layers). :class:`NNISpace` turns each simplified mutable into a
:class:`~autogtkd.space.Choice` and builds students with ``model_space.freeze(sample)``, so NNI users
can search with their own evaluator, count FLOPs/params, fit latency predictors, and distil frozen
students from a generic teacher.

Example:
    >>> from autogtkd.interop.nni import NNISpace          # doctest: +SKIP
    >>> space = NNISpace(MyNNIModelSpace(), input_size=32)  # doctest: +SKIP
    >>> model = space.build_model(space.sample(rng))        # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

from torch import nn

from autogtkd.exceptions import SpaceError
from autogtkd.space import Choice, SearchSpace

__all__ = ["NNISpace"]

_SCALARS = (bool, int, float, str)


def _import_nni() -> Any:
    try:
        import nni.mutable
        import nni.nas.nn.pytorch
    except ImportError as exc:
        raise SpaceError(f'NNI interop needs the optional extra: pip install "autogtkd[nni]" ({exc})') from None
    return nni.mutable


class NNISpace(SearchSpace):
    """An NNI 3.0 ``ModelSpace`` seen as an autogtkd :class:`SearchSpace` (no supernet).

    Args:
        model_space: an instance of an ``nni.nas.nn.pytorch.ModelSpace`` subclass.
        name: space name (default: the model-space class name).
        input_size, in_channels, num_classes: the input and output the models expect.
    """

    family = "nni"

    def __init__(
        self, model_space: Any, *, name: str | None = None, input_size: int = 32, in_channels: int = 3,
        num_classes: int = 10,
    ) -> None:
        mutable = _import_nni()
        if not isinstance(model_space, nn.Module) or not hasattr(model_space, "simplify"):
            raise SpaceError(f"expected an NNI ModelSpace instance, got {type(model_space).__name__}")
        self.model_space: Any = model_space
        self.name = name or type(model_space).__name__
        self.input_size, self.in_channels, self.num_classes = input_size, in_channels, num_classes
        choices = []
        for label, m in cast(Any, model_space).simplify().items():
            if not isinstance(m, mutable.Categorical):
                raise SpaceError(f"NNI mutable {label!r} is a {type(m).__name__}; only categorical choices are supported")
            values = tuple(m.values)
            if not all(isinstance(v, _SCALARS) for v in values):
                raise SpaceError(f"NNI mutable {label!r} has non-scalar values; use indices or scalars")
            choices.append(Choice(str(label), values))
        if not choices:
            raise SpaceError(f"NNI model space {self.name!r} has no mutables")
        self._choices = tuple(choices)

    @property
    def choices(self) -> tuple[Choice, ...]:
        return self._choices

    def build_model(self, arch: Mapping[str, Any], *, num_classes: int | None = None) -> nn.Module:
        """``model_space.freeze(arch)``: a plain module with fresh weights (``num_classes`` is fixed by
        the NNI space and must match it when given)."""
        if num_classes not in (None, self.num_classes):
            raise SpaceError(f"NNI space {self.name!r} has {self.num_classes} classes, not {num_classes}")
        return self.model_space.freeze(dict(self.canonical(arch)))

    def to_dict(self) -> dict[str, Any]:
        return {"family": self.family, **super().to_dict()}
