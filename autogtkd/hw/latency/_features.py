"""Features of architectures for latency predictors.

Columns, in this order (the regressors rely on it):

1. **analytic** (``n_analytic`` columns): for spaces with ``layer_costs`` -- per layer *kind*
   the number of layers and the sums of their FLOPs (MACs), parameters and output activations.
   Signatures are ``:``-separated tokens, the first naming the layer type. The kind is the type
   plus the tokens at the positions where, among that type's signatures seen at fit time, every
   value is a flag (not a number) or a small integer ``<=`` :data:`MAX_KIND_INT` -- kernel sizes,
   strides, squeeze-excite / activation / projection flags, but not channel widths or
   resolutions -- e.g. ``mb|4=5|5=2|7=True|8=relu|9=True``. No knowledge of the layout is needed.
   For other spaces: total FLOPs and params when the space can count them, and the option counts
   of the encoding (``count/...`` columns: how often each op occurs) -- an op-count regression.
2. **lut** (``n_lut`` columns): how many times each layer signature seen at fit time occurs in the
   architecture -- the design matrix of an OFA-style look-up table (latency = sum of block entries).
   For spaces without ``layer_costs``: the space's encoding (one-hot per categorical decision,
   values of numeric ones, option counts), or the user's ``features(arch)`` vector.
3. **tabular** (spaces with ``layer_costs`` only): the space's encoding (or ``features(arch)``) plus
   total FLOPs, params, activations and layer count.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from autogtkd.exceptions import AutoGTKDError, PredictorError
from autogtkd.hw.latency._models import FREE, IGNORED
from autogtkd.space import SearchSpace

__all__ = ["ArchFeaturizer", "layer_kind"]

_KIND_STATS = ("count", "flops", "params", "activations")
#: integer tokens up to this value (kernels, strides) can be part of a layer kind
MAX_KIND_INT = 7


def _kind_token(token: str) -> bool:
    try:
        value = float(token)
    except ValueError:
        return True  # a flag such as True / relu
    return value.is_integer() and 0 <= value <= MAX_KIND_INT


def kind_positions(signatures: Sequence[str]) -> dict[str, list[int]]:
    """Per layer type (first token), the token positions that define its kind (see module docstring).

    Example:
        >>> kind_positions(["mb:16:3:1:True", "mb:24:5:2:False", "head:8"])
        {'head': [], 'mb': [2, 3, 4]}
    """
    values: dict[str, dict[int, set[str]]] = {}
    for sig in signatures:
        tokens = sig.split(":")
        per = values.setdefault(tokens[0], {})
        for i, t in enumerate(tokens[1:], 1):
            per.setdefault(i, set()).add(t)
    return {
        typ: sorted(i for i, vals in per.items() if all(_kind_token(v) for v in vals))
        for typ, per in sorted(values.items())
    }


def layer_kind(signature: str, positions: Mapping[str, Sequence[int]]) -> str:
    """The kind of a layer: its type plus its tokens at ``positions[type]``.

    Example:
        >>> layer_kind("mb:24:5:2", {"mb": [2, 3]})
        'mb|2=5|3=2'
    """
    tokens = signature.split(":")
    keep = positions.get(tokens[0], ())
    return "|".join([tokens[0], *[f"{i}={tokens[i]}" for i in keep if i < len(tokens)]])


def _has_layer_costs(space: SearchSpace) -> bool:
    return callable(getattr(space, "layer_costs", None))


class ArchFeaturizer:
    """Turns architectures of one space into feature matrices (see the module docstring).

    Build with :meth:`fit` (learns the signature vocabulary and the layer kinds from training
    architectures); save with :meth:`to_dict` and restore with :meth:`from_dict`.

    Example:
        >>> import numpy as np
        >>> from autogtkd.space import create_space
        >>> space = create_space("resnet-cifar")
        >>> archs = [space.sample(np.random.default_rng(i)) for i in range(5)]
        >>> f = ArchFeaturizer.fit(space, archs)
        >>> f.transform(archs).shape == (5, f.n_features)
        True
    """

    def __init__(
        self,
        space: SearchSpace,
        *,
        kinds: Sequence[str] = (),
        signatures: Sequence[str] = (),
        totals: Sequence[str] = (),
        positions: Mapping[str, Sequence[int]] | None = None,
        features: Callable[[Any], Any] | None = None,
        n_custom: int = 0,
    ) -> None:
        self.space = space
        self.features = features
        self.n_custom = int(n_custom) if features is not None else 0
        names = space.encoding_names
        self._counts = [] if features is not None else [i for i, n in enumerate(names) if n.startswith("count")]
        self.positions = {k: list(v) for k, v in (positions or {}).items()}
        self.kinds = tuple(kinds)
        self.signatures = tuple(signatures)
        self.totals = tuple(totals)  # analytic totals for spaces without layer_costs: subset of (flops, params)
        self._sig_index = {s: i for i, s in enumerate(self.signatures)}
        self._kind_index = {k: i for i, k in enumerate(self.kinds)}

    # ------------------------------------------------------------------ construction
    @classmethod
    def fit(
        cls,
        space: SearchSpace,
        archs: Sequence[Mapping[str, Any]],
        *,
        features: Callable[[Any], Any] | None = None,
    ) -> ArchFeaturizer:
        """Learn layer kinds and signatures from ``archs`` (built-in spaces) or probe which totals
        the space can count (other spaces). ``features(arch) -> 1-D vector`` replaces the space's
        encoding (:meth:`SearchSpace.encode`) in the columns above."""
        n_custom = 0
        if features is not None:
            if not archs:
                raise PredictorError("custom features need at least one architecture to size them")
            n_custom = int(np.asarray(features(archs[0]), dtype=np.float64).reshape(-1).size)
        if _has_layer_costs(space):
            sigs: dict[str, None] = {}
            for a in archs:
                for layer in space.layer_costs(a):  # type: ignore[attr-defined]
                    sigs.setdefault(layer.signature, None)
            signatures = sorted(sigs)
            positions = kind_positions(signatures)
            kinds = sorted({layer_kind(s, positions) for s in signatures})
            return cls(
                space, kinds=kinds, signatures=signatures, positions=positions, features=features, n_custom=n_custom
            )
        totals: list[str] = []
        if archs:
            for name in ("flops", "params"):
                try:
                    getattr(space, name)(archs[0])
                    totals.append(name)
                except (AutoGTKDError, NotImplementedError):
                    pass
        return cls(space, totals=totals, features=features, n_custom=n_custom)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready state (kinds, signatures, totals, encoding names)."""
        return {
            "kinds": list(self.kinds),
            "signatures": list(self.signatures),
            "totals": list(self.totals),
            "positions": self.positions,
            "encoding_names": list(self.space.encoding_names),
            **({"custom_features": self.n_custom} if self.features is not None else {}),
        }

    @classmethod
    def from_dict(cls, space: SearchSpace, data: Mapping[str, Any]) -> ArchFeaturizer:
        """Inverse of :meth:`to_dict`; refuses a state made for a space with other decisions."""
        if data.get("custom_features"):
            raise PredictorError("this predictor was fitted with custom features(arch), which cannot be restored")
        if list(data.get("encoding_names", [])) != list(space.encoding_names):
            raise PredictorError(f"the predictor's features do not match the decisions of space {space.name!r}")
        if data.get("signatures") and not _has_layer_costs(space):
            raise PredictorError(f"the predictor needs layer_costs(), which space {space.name!r} lacks")
        return cls(
            space,
            kinds=data.get("kinds", ()),
            signatures=data.get("signatures", ()),
            totals=data.get("totals", ()),
            positions=data.get("positions", {}),
        )

    # ------------------------------------------------------------------ columns
    @property
    def n_encoding(self) -> int:
        """Columns of the encoding (the space's, or the custom features')."""
        return self.n_custom if self.features is not None else len(self.space.encoding_names)

    @property
    def n_analytic(self) -> int:
        """Number of analytic columns (first block)."""
        return len(self.kinds) * len(_KIND_STATS) + len(self.totals) + (0 if self.kinds else len(self._counts))

    @property
    def n_lut(self) -> int:
        """Number of look-up-table columns (second block)."""
        return len(self.signatures) if self.kinds else self.n_encoding

    @property
    def n_tabular(self) -> int:
        """Number of tabular columns (last block)."""
        return self.n_encoding + 4 if self.kinds else 0

    @property
    def n_features(self) -> int:
        """Total columns."""
        return self.n_analytic + self.n_lut + self.n_tabular

    @property
    def feature_names(self) -> list[str]:
        """Column names, shape ``(n_features,)``."""
        enc = (
            [f"enc/{n}" for n in self.space.encoding_names]
            if self.features is None
            else [f"custom/{i}" for i in range(self.n_custom)]
        )
        names = [f"{k}/{s}" for k in self.kinds for s in _KIND_STATS] + [f"total/{t}" for t in self.totals]
        if self.kinds:
            return (
                names
                + [f"lut/{s}" for s in self.signatures]
                + enc
                + ["total/flops", "total/params", "total/activations", "total/layers"]
            )
        return names + [f"enc/{self.space.encoding_names[i]}" for i in self._counts] + enc

    @property
    def factor_layout(self) -> tuple[tuple[int, int], ...]:
        """Per analytic + LUT column, its ``(decision, option)`` in a table of decisions sharing an
        option set (one-hot ``name=option`` columns whose option has a ``count/option`` column), else
        ``(FREE, FREE)``; the option counts are ``(IGNORED, IGNORED)`` (the table holds them). Empty
        for spaces with layer costs and for custom features: no such table. See
        :class:`~autogtkd.hw.latency.FactorisedLUTRegressor`."""
        if self.kinds or self.features is not None:
            return ()
        names = self.space.encoding_names
        shared = [n.removeprefix("count/") for n in names if n.startswith("count/")]
        if not shared:
            return ()
        decisions: dict[str, int] = {}
        lut: list[tuple[int, int]] = []
        for name in names:
            option = next((o for o in shared if name.endswith("=" + o)), None)
            if name.startswith("count/"):
                lut.append((IGNORED, IGNORED))
            elif option is None:
                lut.append((FREE, FREE))
            else:
                dec = decisions.setdefault(name[: -len(option) - 1], len(decisions))
                lut.append((dec, shared.index(option)))
        analytic = [(FREE, FREE)] * len(self.totals) + [(IGNORED, IGNORED)] * len(self._counts)
        return tuple(analytic + lut)

    def unseen_signatures(self, arch: Mapping[str, Any]) -> list[str]:
        """Signatures of ``arch`` missing from the look-up table (priced by the analytic part only)."""
        if not self.kinds:
            return []
        return [c.signature for c in self.space.layer_costs(arch) if c.signature not in self._sig_index]  # type: ignore[attr-defined]

    def transform(self, archs: Sequence[Mapping[str, Any]]) -> np.ndarray:
        """Feature matrix of ``archs``, shape ``(n, n_features)``, float64."""
        X = np.zeros((len(archs), self.n_features), dtype=np.float64)
        if len(archs):
            start = self.n_analytic + (self.n_lut if self.kinds else 0)
            X[:, start : start + self.n_encoding] = self._encode(archs)
            if self._counts and not self.kinds:
                X[:, len(self.totals) : self.n_analytic] = X[:, start : start + self.n_encoding][:, self._counts]
        for i, arch in enumerate(archs):
            if self.kinds:
                self._fill_layers(X[i], self.space.layer_costs(arch))  # type: ignore[attr-defined]
            else:
                for j, name in enumerate(self.totals):
                    X[i, j] = float(getattr(self.space, name)(arch))
        return X

    def _encode(self, archs: Sequence[Mapping[str, Any]]) -> np.ndarray:
        if self.features is None:
            return self.space.encode_many(list(archs))
        rows = [np.asarray(self.features(a), dtype=np.float64).reshape(-1) for a in archs]
        if any(r.size != self.n_custom for r in rows):
            raise PredictorError(f"features(arch) must return {self.n_custom} numbers for every architecture")
        return np.stack(rows)

    def _fill_layers(self, row: np.ndarray, layers: Sequence[Any]) -> None:
        counts = Counter(layer.signature for layer in layers)
        n_stats = len(_KIND_STATS)
        for layer in layers:
            k = self._kind_index.get(layer_kind(layer.signature, self.positions))
            if k is not None:
                base = k * n_stats
                row[base] += 1
                row[base + 1] += layer.flops
                row[base + 2] += layer.params
                row[base + 3] += layer.activations
        for sig, c in counts.items():
            j = self._sig_index.get(sig)
            if j is not None:
                row[self.n_analytic + j] = c
        end = self.n_features
        row[end - 4] = sum(layer.flops for layer in layers)
        row[end - 3] = sum(layer.params for layer in layers)
        row[end - 2] = sum(layer.activations for layer in layers)
        row[end - 1] = len(layers)
