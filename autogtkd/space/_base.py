"""The search-space extension point: :class:`Choice` and the abstract :class:`SearchSpace`."""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from autogtkd.exceptions import ArchError, SpaceError
from autogtkd.space._arch import Arch, Scalar

if TYPE_CHECKING:
    from torch import nn

    from autogtkd.supernet import Supernet

__all__ = ["Choice", "SearchSpace"]


@dataclass(frozen=True)
class Choice:
    """One architectural decision: a name and its options (scalars, in a fixed order).

    Example:
        >>> Choice("kernel", (3, 5, 7)).index(5)
        1
    """

    name: str
    options: tuple[Scalar, ...]

    def __post_init__(self) -> None:
        if not self.options:
            raise SpaceError(f"choice {self.name!r} has no options")
        if len(set(self.options)) != len(self.options):
            raise SpaceError(f"choice {self.name!r} has duplicate options {self.options}")
        object.__setattr__(self, "options", tuple(self.options))
        lookup = {(type(o) is bool, o): i for i, o in enumerate(self.options)}
        object.__setattr__(self, "_lookup", lookup)

    @property
    def lookup(self) -> dict[tuple[bool, Scalar], int]:
        """``(is_bool, value) -> index`` (so that ``True`` and ``1`` stay distinct)."""
        return self._lookup  # type: ignore[attr-defined,no-any-return]

    @property
    def numeric(self) -> bool:
        """Whether every option is a number (bools excluded)."""
        return all(isinstance(o, (int, float)) and not isinstance(o, bool) for o in self.options)

    def index(self, value: Scalar) -> int:
        """Position of ``value`` among the options."""
        i = self.lookup.get((type(value) is bool, value))
        if i is None:
            raise ArchError(f"{self.name}={value!r} is not one of {list(self.options)}")
        return i


def _short(names: list[str], limit: int = 6) -> str:
    """``['a', 'b', ...] (+N more)`` for one-line error messages."""
    more = f" (+{len(names) - limit} more)" if len(names) > limit else ""
    return f"{names[:limit]}{more}"


class SearchSpace(ABC):
    """A pool of student architectures.

    Subclasses define :attr:`choices` (and, for conditional decisions, :meth:`is_active`); everything
    else has a default. Spaces with a weight-sharing supernet override :meth:`build_supernet`; spaces
    with a closed-form cost override :meth:`flops` and :meth:`params` (otherwise they are counted on
    :meth:`build_model`, cached per architecture).

    Attributes:
        name: registry name.
        input_size: input height = width in pixels.
        in_channels: input channels (3 for RGB).
        num_classes: classifier outputs.
    """

    name: str = "custom"
    input_size: int = 32
    in_channels: int = 3
    num_classes: int = 10

    # ------------------------------------------------------------------ decisions
    @property
    @abstractmethod
    def choices(self) -> tuple[Choice, ...]:
        """All decisions, in a fixed order."""

    def is_active(self, name: str, arch: Mapping[str, Scalar]) -> bool:
        """Whether decision ``name`` affects the network built from ``arch`` (default: always)."""
        return True

    @property
    def has_conditions(self) -> bool:
        """Whether some decisions can be inactive (overridden by spaces that use :meth:`is_active`)."""
        return False

    def choice(self, name: str) -> Choice:
        """The decision called ``name``."""
        for c in self.choices:
            if c.name == name:
                return c
        raise ArchError(f"space {self.name!r} has no decision {name!r}")

    # ------------------------------------------------------------------ canonical form
    def canonical(self, arch: Mapping[str, Any]) -> Arch:
        """Validate ``arch`` and return its canonical form.

        Values of inactive decisions are set to their first option, so two encodings of the same
        network compare equal. Keys are put in decision order; missing or unknown keys and values
        outside the options raise :class:`ArchError`.
        """
        memo: dict[Arch, Arch] = self.__dict__.setdefault("_canonical_memo", {})
        if isinstance(arch, Arch) and arch in memo:
            return memo[arch]
        if not isinstance(arch, Mapping):
            raise ArchError(f"an architecture must be a mapping, got {type(arch).__name__}")
        choices = self.choices
        if len(arch) != len(choices) or any(c.name not in arch for c in choices):
            names = [c.name for c in choices]
            unknown = sorted(set(arch) - set(names))
            missing = [n for n in names if n not in arch]
            parts = [
                f"unknown keys {_short(unknown)}" if unknown else "",
                f"missing keys {_short(missing)}" if missing else "",
            ]
            raise ArchError(f"not an architecture of {self.name!r}: " + "; ".join(p for p in parts if p))
        values: dict[str, Scalar] = {}
        for c in choices:
            v = arch[c.name]
            i = c.lookup.get((type(v) is bool, v))
            if i is None:
                raise ArchError(f"{c.name}={v!r} is not one of {list(c.options)}")
            values[c.name] = c.options[i]
        if self.has_conditions:
            for c in choices:
                if not self.is_active(c.name, values):
                    values[c.name] = c.options[0]
        result = Arch(values)
        if len(memo) >= 65536:  # a bounded memo: search loops canonicalise the same archs often
            memo.clear()
        memo[result] = result
        if isinstance(arch, Arch):
            memo[arch] = result
        return result

    def contains(self, arch: Mapping[str, Any]) -> bool:
        """Whether ``arch`` is a valid architecture of this space."""
        try:
            self.canonical(arch)
        except ArchError:
            return False
        return True

    # ------------------------------------------------------------------ sampling and variation
    def sample(self, rng: np.random.Generator) -> Arch:
        """Draw each decision uniformly and independently (OFA-style), then canonicalise.

        This is uniform per decision, not uniform over distinct networks.
        """
        return self.canonical({c.name: c.options[int(rng.integers(len(c.options)))] for c in self.choices})

    def mutate(self, arch: Mapping[str, Any], rng: np.random.Generator, *, prob: float = 0.2) -> Arch:
        """Resample each active decision with probability ``prob``; returns a different network
        whenever the space has more than one (at least one active decision is changed)."""
        base = self.canonical(arch)
        active = [c for c in self.choices if len(c.options) > 1 and self.is_active(c.name, base)]
        if not active:
            return base
        values = dict(base)
        changed = False
        for c in active:
            if rng.random() < prob:
                values[c.name] = c.options[int(rng.integers(len(c.options)))]
                changed = changed or values[c.name] != base[c.name]
        if not changed:  # force one real change
            c = active[int(rng.integers(len(active)))]
            others = [o for o in c.options if o != base[c.name]]
            values[c.name] = others[int(rng.integers(len(others)))]
        return self.canonical(values)

    def crossover(self, a: Mapping[str, Any], b: Mapping[str, Any], rng: np.random.Generator) -> Arch:
        """Uniform crossover: each decision taken from ``a`` or ``b`` with probability 1/2."""
        ca, cb = self.canonical(a), self.canonical(b)
        return self.canonical({c.name: (ca if rng.random() < 0.5 else cb)[c.name] for c in self.choices})

    def smallest(self) -> Arch:
        """Each numeric decision at its minimum (others at their first option)."""
        return self._extreme(min)

    def largest(self) -> Arch:
        """Each numeric decision at its maximum (others at their last option)."""
        return self._extreme(max)

    def _extreme(self, pick: Any) -> Arch:
        values = {}
        for c in self.choices:
            values[c.name] = pick(c.options) if c.numeric else c.options[0 if pick is min else -1]
        return self.canonical(values)

    def size(self) -> int:
        """Number of distinct networks (distinct canonical architectures)."""
        if self.has_conditions:
            raise NotImplementedError(f"{type(self).__name__} must override size() for conditional decisions")
        return math.prod(len(c.options) for c in self.choices)

    # ------------------------------------------------------------------ encodings
    def encoding_kind(self, choice: Choice) -> str:
        """How :meth:`encode` represents ``choice``: ``"ordinal"`` (numeric decisions: their value) or
        ``"categorical"`` (others: one indicator column per option; one 0/1 column for two options).
        Spaces may override it (:class:`~autogtkd.space.ChoiceSpace` takes declarations)."""
        return "ordinal" if choice.numeric else "categorical"

    def _encoding_plan(self) -> tuple[list[tuple[int, str]], int, list[tuple[tuple[str, ...], list[int]]]]:
        """``(per decision: (first column, kind), decision columns, option-count groups: (options as
        strings, decision indices))``; kind is ``ordinal``, ``onehot`` or ``index``."""
        plan = self.__dict__.get("_encoding_plan_memo")
        if plan is None:
            cols: list[tuple[int, str]] = []
            groups: dict[tuple[str, ...], list[int]] = {}
            j = 0
            for i, c in enumerate(self.choices):
                kind = self.encoding_kind(c)
                if kind not in ("ordinal", "categorical"):
                    raise SpaceError(f"decision {c.name!r}: encoding {kind!r} is neither 'ordinal' nor 'categorical'")
                if kind == "categorical" and len(c.options) > 2:
                    kind = "onehot"
                    groups.setdefault(tuple(sorted(map(str, c.options))), []).append(i)
                elif kind == "categorical" or not c.numeric:
                    kind = "index"  # two options, or declared ordinal without numbers: the option's position
                cols.append((j, kind))
                j += len(c.options) if kind == "onehot" else 1
            plan = (cols, j, [(opts, idx) for opts, idx in groups.items() if len(idx) > 1])
            self.__dict__["_encoding_plan_memo"] = plan
        return plan

    @property
    def encoding_names(self) -> list[str]:
        """Names of the columns of :meth:`encode`: ``decision`` (ordinal or two options),
        ``decision=option`` (one-hot) and ``count/option`` (option counts of a shared option set,
        ``count<k>/option`` when several sets are shared)."""
        cols, _, groups = self._encoding_plan()
        names: list[str] = []
        for c, (_, kind) in zip(self.choices, cols):
            names += [f"{c.name}={o}" for o in c.options] if kind == "onehot" else [c.name]
        for g, (opts, _) in enumerate(groups):
            prefix = "count" if len(groups) == 1 else f"count{g}"
            names += [f"{prefix}/{o}" for o in opts]
        return names

    def encode(self, arch: Mapping[str, Any]) -> np.ndarray:
        """A float vector for predictors, shape ``(len(encoding_names),)``.

        Ordinal numeric decisions give their value; categorical decisions with more than two options
        one indicator per option (so linear models and look-up tables learn a cost per option), with
        two options their option index (0/1); decisions with the same option set add how often each
        option occurs. Inactive decisions give zeros.

        Example:
            >>> from autogtkd.space import ChoiceSpace
            >>> s = ChoiceSpace("toy", {"k": [3, 5], "a": ["x", "y", "z"], "b": ["x", "y", "z"]})
            >>> s.encode({"k": 5, "a": "y", "b": "y"}).tolist()
            [5.0, 0.0, 1.0, 0.0, 0.0, 1.0, 0.0, 0.0, 2.0, 0.0]
        """
        a = self.canonical(arch)
        cols, n_cols, groups = self._encoding_plan()
        out = np.zeros(n_cols + sum(len(opts) for opts, _ in groups), dtype=np.float64)
        active = [not self.has_conditions or self.is_active(c.name, a) for c in self.choices]
        for c, (j, kind), on in zip(self.choices, cols, active):
            if not on:
                continue
            v = a[c.name]
            if kind == "ordinal":
                out[j] = float(v)
            elif kind == "onehot":
                out[j + c.index(v)] = 1.0
            else:
                out[j] = float(c.index(v))
        j = n_cols
        for opts, idx in groups:
            pos = {o: k for k, o in enumerate(opts)}
            for i in idx:
                if active[i]:
                    out[j + pos[str(a[self.choices[i].name])]] += 1.0
            j += len(opts)
        return out

    def encode_many(self, archs: Sequence[Mapping[str, Any]]) -> np.ndarray:
        """Stack :meth:`encode` of many archs, shape ``(n, len(encoding_names))``."""
        return np.stack([self.encode(a) for a in archs]) if archs else np.zeros((0, len(self.encoding_names)))

    # ------------------------------------------------------------------ serialisation
    def to_dict(self) -> dict[str, Any]:
        """A data-only description; built-in spaces round-trip through their YAML form."""
        return {
            "name": self.name,
            "input_size": self.input_size,
            "in_channels": self.in_channels,
            "num_classes": self.num_classes,
            "choices": {c.name: list(c.options) for c in self.choices},
        }

    # ------------------------------------------------------------------ models
    def build_supernet(self, *, num_classes: int | None = None) -> Supernet:
        """The weight-sharing supernet of this space (not every space has one)."""
        raise SpaceError(f"search space {self.name!r} has no supernet")

    @property
    def has_supernet(self) -> bool:
        """Whether :meth:`build_supernet` is implemented."""
        return type(self).build_supernet is not SearchSpace.build_supernet

    def build_model(self, arch: Mapping[str, Any], *, num_classes: int | None = None) -> nn.Module:
        """A standalone, randomly initialised ``nn.Module`` for ``arch``.

        Default: export ``arch`` from a fresh supernet. Custom spaces without a supernet override it.
        """
        if not self.has_supernet:
            raise SpaceError(f"search space {self.name!r} defines neither build_model() nor build_supernet()")
        return self.build_supernet(num_classes=num_classes).export(self.canonical(arch))

    # ------------------------------------------------------------------ costs
    def flops(self, arch: Mapping[str, Any]) -> int:
        """Multiply-accumulates of one forward pass at batch 1 (conv and linear layers).

        Default: counted with ``torch.utils.flop_counter`` on :meth:`build_model` (cached per arch).
        """
        return self._counted(arch)[0]

    def params(self, arch: Mapping[str, Any]) -> int:
        """Number of parameters of the standalone model (default: counted, cached per arch)."""
        return self._counted(arch)[1]

    def _counted(self, arch: Mapping[str, Any]) -> tuple[int, int]:
        from autogtkd.hw.costs import count_macs, count_params

        a = self.canonical(arch)
        cache: dict[Arch, tuple[int, int]] = self.__dict__.setdefault("_cost_cache", {})
        if a not in cache:
            model = self.build_model(a)
            cache[a] = (count_macs(model, (1, self.in_channels, self.input_size, self.input_size)), count_params(model))
        return cache[a]

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r}: {len(self.choices)} decisions>"
