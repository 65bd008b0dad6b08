"""The per-target :class:`LatencyPredictor`, its metrics, and its safe on-disk format.

A saved predictor is a directory::

    PREDICTOR/
      manifest.json   format, target, space name + hash, measurement settings, machine, versions,
                      model kind, metrics, feature vocabulary, SHA-256 of the payload
      model.skops     the fitted LatencyRegressor in skops' format (no pickle)

Loading never executes code from the files: ``model.skops`` is read with ``skops.io.loads`` and an
explicit list of trusted types (:data:`TRUSTED_TYPES` plus skops' defaults); anything else, a
changed byte (SHA-256 mismatch), an unknown format or another search space raises
:class:`~autogtkd.exceptions.PredictorError`.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timezone
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
from scipy.stats import kendalltau
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

from autogtkd.exceptions import AutoGTKDError, PredictorError
from autogtkd.hw.latency._features import ArchFeaturizer
from autogtkd.hw.latency._models import SOURCE_KINDS, LatencyRegressor
from autogtkd.hw.latency._records import Measurements
from autogtkd.space import SearchSpace, space_hash, space_hash_matches

__all__ = [
    "PREDICTOR_FORMAT",
    "TRUSTED_TYPES",
    "LatencyPredictor",
    "fit_predictor",
    "latency_metrics",
    "load_predictor_dir",
]

PREDICTOR_FORMAT = "autogtkd-latency-predictor"
PREDICTOR_VERSION = 1
MANIFEST = "manifest.json"
PAYLOAD = "model.skops"

#: types beyond skops' defaults that a predictor file may contain; nothing else is loaded
TRUSTED_TYPES: tuple[str, ...] = (
    "autogtkd.hw.latency._models.FactorisedLUTRegressor",
    "autogtkd.hw.latency._models.LatencyRegressor",
    "autogtkd.hw.latency._models.NonNegativeLinearRegressor",
    "autogtkd.hw.latency._models.TransferLinearRegressor",
    "sklearn.tree._tree.Tree",
)

# measurement settings copied from a measurement file's header into the manifest
_MEASUREMENT_KEYS = (
    "runtime",
    "threads",
    "batch_size",
    "input_size",
    "warmup",
    "repeats",
    "clock",
    "reference_arch",
    "reference_baseline_ms",
    "machine",
)


def latency_metrics(y_true: Sequence[float] | np.ndarray, y_pred: Sequence[float] | np.ndarray) -> dict[str, float]:
    """Error of predicted against measured latencies (both in ms, shape ``(n,)``).

    Returns ``rmse_ms``, ``mape`` (fraction), ``within_5pct`` / ``within_10pct`` (fraction of
    predictions within +-5 % / +-10 % of the measurement) and ``kendall_tau`` (rank agreement; NaN
    for fewer than 2 points or constant input).

    Example:
        >>> m = latency_metrics([1.0, 2.0, 4.0], [1.04, 2.3, 4.0])
        >>> round(m["within_5pct"], 3), m["kendall_tau"]
        (0.667, 1.0)
    """
    t = np.asarray(y_true, dtype=np.float64)
    p = np.asarray(y_pred, dtype=np.float64)
    rel = np.abs(p - t) / t
    tau = float(kendalltau(t, p).statistic) if t.size >= 2 else float("nan")
    return {
        "rmse_ms": float(np.sqrt(np.mean((p - t) ** 2))),
        "mape": float(rel.mean()),
        "within_5pct": float(np.mean(rel <= 0.05)),
        "within_10pct": float(np.mean(rel <= 0.10)),
        "kendall_tau": tau,
    }


class LatencyPredictor(BaseEstimator):
    """Predicts the latency (ms) of architectures of one search space on one hardware target.

    A scikit-learn style estimator whose inputs are architectures (mappings) rather than a matrix:
    ``fit`` builds an :class:`ArchFeaturizer` and fits a :class:`LatencyRegressor` on its features.

    Args:
        space: the search space the architectures belong to.
        model: a kind of :data:`MODEL_KINDS` or ``"auto"`` (chosen by cross-validation).
        target: name of the hardware target (e.g. ``"cpu-ort"``).
        cv: cross-validation folds.
        few_shot_max: up to this many measurements use few-shot mode (see :class:`LatencyRegressor`).
        random_state: seed of folds and tree models.
        features: optional ``features(arch) -> 1-D vector`` replacing the space's encoding
            (:meth:`SearchSpace.encode`) as the look-up-table / tabular columns. A predictor with
            custom features works in memory but cannot be saved.
        loss: ``"squared"`` or ``"huber"`` (robust to outlying measurements; see
            :class:`LatencyRegressor`).

    Attributes:
        featurizer_: the fitted featurizer.
        regressor_: the fitted :class:`LatencyRegressor`.
        n_train_: number of measurements fitted on.
        info_: extra manifest fields (measurement settings, metrics), set by :func:`fit_predictor`
            or when loading.

    Example:
        >>> import numpy as np
        >>> from autogtkd.space import create_space
        >>> space = create_space("resnet-cifar")
        >>> archs = [space.sample(np.random.default_rng(i)) for i in range(30)]
        >>> ms = [space.flops(a) / 1e7 + 0.2 for a in archs]   # a synthetic target
        >>> p = LatencyPredictor(space, target="toy").fit(archs, ms)
        >>> bool(np.allclose(p.predict_archs(archs[:3]), ms[:3], rtol=0.02))
        True
    """

    def __init__(
        self,
        space: SearchSpace | None = None,
        *,
        model: str = "auto",
        target: str = "local",
        cv: int = 5,
        few_shot_max: int = 100,
        random_state: int = 0,
        features: Callable[[Any], Any] | None = None,
        loss: str = "squared",
    ) -> None:
        self.space = space
        self.loss = loss
        self.features = features
        self.model = model
        self.target = target
        self.cv = cv
        self.few_shot_max = few_shot_max
        self.random_state = random_state

    def fit(
        self,
        archs: Sequence[Mapping[str, Any]],
        latency_ms: Sequence[float] | np.ndarray,
        *,
        sources: Sequence[tuple[Sequence[Mapping[str, Any]], Sequence[float] | np.ndarray]] = (),
    ) -> LatencyPredictor:
        """Fit on architectures and their measured latencies in ms. Returns ``self``.

        ``sources``: measurements of the same space on *other* hardware targets, ``[(archs, ms), ...]``,
        for a new target with few measurements of its own: each source gets a linear model
        (``analytic`` / ``factorised`` / ``lut``, chosen by cross-validation) and ``model="auto"``
        also tries ``"transfer"``, a non-negative combination of them fitted on this target's
        measurements (K + 1 parameters; see :class:`TransferLinearRegressor`).
        """
        if self.space is None:
            raise PredictorError("LatencyPredictor needs a search space")
        canon, y = self._checked(archs, latency_ms, "")
        src = [self._checked(a, ms, f"source {i}: ") for i, (a, ms) in enumerate(sources)]
        pool = canon + [x for measured, _ in src for x in measured]
        self.featurizer_ = ArchFeaturizer.fit(self.space, pool, features=self.features)
        regressor = partial(
            LatencyRegressor,
            n_analytic=self.featurizer_.n_analytic,
            n_lut=self.featurizer_.n_lut,
            cv=self.cv,
            few_shot_max=self.few_shot_max,
            random_state=self.random_state,
            layer_costs=bool(self.featurizer_.kinds),
            layout=self.featurizer_.factor_layout,
            loss=self.loss,
        )
        priors = [
            regressor(candidates=SOURCE_KINDS).fit(self.featurizer_.transform(a), ms).linear_model() for a, ms in src
        ]
        self.regressor_ = regressor(model=self.model, priors=np.array(priors) if priors else None).fit(
            self.featurizer_.transform(canon), y
        )
        self.n_train_ = len(canon)
        self.__dict__.pop("loaded_manifest_", None)
        self.info_: dict[str, Any] = getattr(self, "info_", {})
        self.info_.pop("transfer", None)
        if src:
            self.info_["transfer"] = {"sources": len(src), "source_measurements": [len(a) for a, _ in src]}
        return self

    def _checked(
        self, archs: Sequence[Mapping[str, Any]], latency_ms: Sequence[float] | np.ndarray, what: str
    ) -> tuple[list[Any], np.ndarray]:
        assert self.space is not None
        canon = [self.space.canonical(a) for a in archs]
        y = np.asarray(latency_ms, dtype=np.float64)
        if len(canon) != y.shape[0]:
            raise PredictorError(f"{what}{len(canon)} architectures but {y.shape[0]} latencies")
        if len(canon) < 3:
            raise PredictorError(f"{what}need at least 3 measurements to fit a latency predictor, got {len(canon)}")
        return canon, y

    def predict(self, archs: Sequence[Mapping[str, Any]]) -> np.ndarray:
        """Predicted latencies in ms, shape ``(n,)``."""
        check_is_fitted(self, "regressor_")
        assert self.space is not None
        canon = [self.space.canonical(a) for a in archs]
        if not canon:
            return np.zeros(0)
        return np.asarray(self.regressor_.predict(self.featurizer_.transform(canon)), dtype=np.float64)

    def predict_archs(self, archs: Sequence[Mapping[str, Any]]) -> np.ndarray:
        """Alias of :meth:`predict` (the name search code calls)."""
        return self.predict(archs)

    def score(self, archs: Sequence[Mapping[str, Any]], latency_ms: Sequence[float]) -> float:
        """Share of predictions within +-10 % of ``latency_ms``."""
        return latency_metrics(latency_ms, self.predict(archs))["within_10pct"]

    # ------------------------------------------------------------------ manifest and files
    @property
    def manifest(self) -> dict[str, Any]:
        """What the predictor file's ``manifest.json`` holds (minus the payload hash)."""
        check_is_fitted(self, "regressor_")
        assert self.space is not None
        if hasattr(self, "loaded_manifest_"):
            return json.loads(json.dumps(self.loaded_manifest_))
        import sklearn

        from autogtkd import __version__

        try:
            import skops

            skops_version = skops.__version__
        except ImportError:  # pragma: no cover - skops is a dependency
            skops_version = "missing"
        reg = self.regressor_
        info = dict(self.info_)
        return {
            "format": PREDICTOR_FORMAT,
            "version": PREDICTOR_VERSION,
            "target": self.target,
            "space": self.space.name,
            "space_hash": space_hash(self.space),
            "measurement": info.pop("measurement", {}),
            "metrics": info.pop("metrics", {}),
            "n_train": self.n_train_,
            "model": {
                "kind": reg.model_,
                "params": dict(reg.params_),
                "requested": self.model,
                "loss": self.loss,
                "few_shot": reg.few_shot_,
                "cv_mape": reg.cv_scores_,
            },
            "versions": {
                "autogtkd": __version__,
                "scikit-learn": sklearn.__version__,
                "skops": skops_version,
                "numpy": np.__version__,
            },
            "features": self.featurizer_.to_dict(),
            **info,
        }

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the predictor directory ``path`` (replaced atomically if it exists); returns it."""
        import skops.io as sio

        if self.features is not None:
            raise PredictorError("a latency predictor with custom features(arch) cannot be saved (code is not stored)")
        manifest = self.manifest
        manifest.setdefault("created", datetime.now(timezone.utc).isoformat(timespec="seconds"))
        payload = sio.dumps(self.regressor_)
        manifest["payload"] = {"file": PAYLOAD, "sha256": _payload_hash(payload, manifest)}
        out = Path(path)
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
        try:
            (tmp / PAYLOAD).write_bytes(payload)
            (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=False) + "\n", encoding="utf-8")
            if out.exists():
                if not (out / MANIFEST).is_file():
                    raise PredictorError(f"{out} exists and is not a latency predictor; refusing to overwrite it")
                old = out.with_name(f".{out.name}.old")
                shutil.rmtree(old, ignore_errors=True)
                out.rename(old)
                tmp.rename(out)
                shutil.rmtree(old, ignore_errors=True)
            else:
                tmp.rename(out)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        return out


def _payload_hash(payload: bytes, manifest: Mapping[str, Any]) -> str:
    """SHA-256 of the model bytes together with the manifest fields that change predictions."""
    h = hashlib.sha256(payload)
    for key in ("features", "space", "space_hash", "target"):
        h.update(json.dumps(manifest.get(key), sort_keys=True, separators=(",", ":")).encode("utf-8"))
    return h.hexdigest()


def load_predictor_dir(path: str | os.PathLike[str], space: SearchSpace) -> LatencyPredictor:
    """Load a predictor directory (or its ``manifest.json``) for ``space``; see the module docstring."""
    p = Path(path)
    if p.is_file() and p.name == MANIFEST:
        p = p.parent
    if p.is_file():
        raise PredictorError(f"{p} is not a latency predictor (expected a directory with {MANIFEST} and {PAYLOAD})")
    if not (p / MANIFEST).is_file():
        raise PredictorError(f"no latency predictor at {p} (missing {MANIFEST})")
    try:
        manifest = json.loads((p / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise PredictorError(f"{p / MANIFEST} is not a valid predictor manifest: {exc}") from None
    if not isinstance(manifest, dict) or manifest.get("format") != PREDICTOR_FORMAT:
        raise PredictorError(
            f"{p} is not an autogtkd latency predictor (format {manifest.get('format') if isinstance(manifest, dict) else None!r})"
        )
    if manifest.get("version") != PREDICTOR_VERSION:
        raise PredictorError(
            f"{p}: unsupported predictor version {manifest.get('version')!r}; expected {PREDICTOR_VERSION}"
        )
    if manifest.get("space") != space.name or not space_hash_matches(manifest.get("space_hash"), space):
        raise PredictorError(
            f"{p} was fitted for space {manifest.get('space')!r} (hash {manifest.get('space_hash')}), "
            f"not {space.name!r} (hash {space_hash(space)})"
        )
    payload_info = manifest.get("payload") or {}
    try:
        payload = (p / PAYLOAD).read_bytes()
    except OSError as exc:
        raise PredictorError(f"cannot read {p / PAYLOAD}: {exc.strerror or exc}") from None
    if payload_info.get("sha256") != _payload_hash(payload, manifest):
        raise PredictorError(f"{p} has been modified or corrupted (SHA-256 of the payload does not match the manifest)")
    regressor = _safe_load(payload, p)
    predictor = LatencyPredictor(
        space,
        model=str(manifest.get("model", {}).get("requested", "auto")),
        target=str(manifest.get("target")),
        loss=str(manifest.get("model", {}).get("loss", "squared")),
    )
    try:
        predictor.featurizer_ = ArchFeaturizer.from_dict(space, manifest.get("features", {}))
    except AutoGTKDError as exc:
        raise PredictorError(f"{p}: {exc}") from None
    if regressor.n_features_in_ != predictor.featurizer_.n_features:
        raise PredictorError(
            f"{p}: the model expects {regressor.n_features_in_} features, the manifest describes {predictor.featurizer_.n_features}"
        )
    predictor.regressor_ = regressor
    predictor.n_train_ = int(manifest.get("n_train", 0))
    predictor.info_ = {k: v for k, v in manifest.items() if k in ("measurement", "metrics", "created", "source")}
    predictor.loaded_manifest_ = manifest
    return predictor


def _safe_load(payload: bytes, where: Path) -> LatencyRegressor:
    try:
        import skops.io as sio
    except ImportError:  # pragma: no cover - skops is a dependency
        raise PredictorError("loading latency predictors needs skops: pip install skops") from None
    try:
        untrusted = sio.get_untrusted_types(data=payload)
    except Exception as exc:  # noqa: BLE001 - skops raises several types on foreign data
        raise PredictorError(f"{where / PAYLOAD} is not a valid skops file: {type(exc).__name__}") from None
    refused = sorted(set(untrusted) - set(TRUSTED_TYPES))
    if refused:
        raise PredictorError(f"{where / PAYLOAD} contains types that are not trusted: {', '.join(refused)}")
    try:
        obj = sio.loads(payload, trusted=list(untrusted))
    except Exception as exc:  # noqa: BLE001 - any failure means the file is unusable
        raise PredictorError(f"{where / PAYLOAD} cannot be loaded: {type(exc).__name__}: {exc}") from None
    if not isinstance(obj, LatencyRegressor):
        raise PredictorError(f"{where / PAYLOAD} holds a {type(obj).__name__}, not a LatencyRegressor")
    return obj


def fit_predictor(
    measurements: Measurements,
    space: SearchSpace,
    *,
    model: str = "auto",
    target: str | None = None,
    test_size: float = 0.2,
    seed: int = 0,
    refit: bool = True,
    cv: int = 5,
    few_shot_max: int = 100,
    sources: Sequence[Measurements] = (),
    loss: str = "squared",
) -> tuple[LatencyPredictor, dict[str, Any]]:
    """Fit a predictor on a measurement file and report held-out metrics.

    The records are split at random (``seed``) into ``1 - test_size`` training and ``test_size``
    held-out measurements; metrics (:func:`latency_metrics` plus ``n_train``/``n_test``) come from
    the held-out part. With ``refit`` the returned predictor is then refitted on all records.
    Repeated architectures are averaged first (median). ``sources``: measurement files of the same
    space on other targets, to transfer from (see :meth:`LatencyPredictor.fit`). ``loss``: see
    :class:`LatencyPredictor`.
    """
    archs, y = _dedupe(space, measurements)
    for m in sources:
        h = m.header.get("space_hash")
        if h is not None and not space_hash_matches(h, space):
            raise PredictorError(f"{m.path}: measured on space {m.header.get('space')!r}, not {space.name!r}")
    src = [_dedupe(space, m) for m in sources]
    if len(archs) < 5:
        raise PredictorError(
            f"{measurements.path or 'measurements'}: need at least 5 distinct architectures, got {len(archs)}"
        )
    if not 0 < test_size < 1:
        raise PredictorError(f"test_size must be in (0, 1), got {test_size}")
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(archs))
    n_test = max(1, round(test_size * len(archs)))
    test, train = order[:n_test], order[n_test:]
    name = target or str(measurements.header.get("target") or "local")
    kwargs = {
        "model": model,
        "target": name,
        "cv": cv,
        "few_shot_max": few_shot_max,
        "random_state": seed,
        "loss": loss,
    }
    pred = LatencyPredictor(space, **kwargs).fit([archs[i] for i in train], y[train], sources=src)  # type: ignore[arg-type]
    metrics: dict[str, Any] = latency_metrics(y[test], pred.predict([archs[i] for i in test]))
    metrics.update(n_train=int(train.size), n_test=int(test.size), model=pred.regressor_.model_)
    if refit:
        pred = LatencyPredictor(space, **kwargs).fit(archs, y, sources=src)  # type: ignore[arg-type]
    header = measurements.header
    pred.info_ = {
        "measurement": {k: header[k] for k in _MEASUREMENT_KEYS if k in header},
        "metrics": {**metrics, "evaluated_on": "held-out split", "test_size": test_size, "seed": seed},
        "source": {"file": os.path.basename(measurements.path), "n_records": len(measurements)},
        **({"transfer": pred.info_["transfer"]} if src else {}),
    }
    return pred, metrics


def _dedupe(space: SearchSpace, measurements: Measurements) -> tuple[list[Any], np.ndarray]:
    groups: dict[Any, list[float]] = {}
    for rec in measurements.records:
        groups.setdefault(space.canonical(rec["arch"]), []).append(float(rec["latency_ms"]))
    archs = list(groups)
    return archs, np.array([float(np.median(groups[a])) for a in archs])
