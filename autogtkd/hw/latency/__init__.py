"""Latency of architectures on hardware targets: measurement, predictors, target registry.

Measure on this machine (PyTorch eager, ONNX Runtime, or a runtime added with
:func:`register_runtime`) into a JSON Lines measurement file, or on another device with
``tools/measure_latency_onnx.py``; fit a :class:`LatencyPredictor` (per-block
look-up table, analytic or scikit-learn models, chosen by cross-validation); save it in a safe
format and register it as a named target used by ``--budget 15ms@NAME``.

Example:
    >>> from autogtkd.hw.latency import measure_latency
    >>> from torch import nn
    >>> measure_latency(nn.Conv2d(3, 4, 3), (1, 3, 8, 8), runtime="eager", warmup=1, repeats=3).median_ms > 0
    True
"""

from autogtkd.hw.latency._active import sample_archs, suggest_archs
from autogtkd.hw.latency._campaign import measure_space, measurement_header, reference_arch, remeasure_archs
from autogtkd.hw.latency._features import ArchFeaturizer, layer_kind
from autogtkd.hw.latency._measure import (
    CLOCKS,
    LATENCY_RUNTIMES,
    LatencyReference,
    LatencyResult,
    MeasureConfig,
    list_runtimes,
    machine_info,
    measure_arch,
    measure_latency,
    register_runtime,
    reject_outliers,
    save_onnx,
)
from autogtkd.hw.latency._models import (
    LOSSES,
    MODEL_KINDS,
    FactorisedLUTRegressor,
    KindContext,
    LatencyRegressor,
    ModelKind,
    NonNegativeLinearRegressor,
    TransferLinearRegressor,
)
from autogtkd.hw.latency._predictor import (
    TRUSTED_TYPES,
    LatencyPredictor,
    fit_predictor,
    latency_metrics,
    load_predictor_dir,
)
from autogtkd.hw.latency._records import (
    Measurements,
    MeasurementWriter,
    make_header,
    read_measurements,
    write_measurements,
)
from autogtkd.hw.latency._targets import (
    autogtkd_home,
    list_targets,
    load_predictor,
    register_target,
    targets_dir,
    unregister_target,
)
from autogtkd.space import space_hash  # re-exported: the digest measurement files record

__all__ = [
    "CLOCKS",
    "LATENCY_RUNTIMES",
    "LOSSES",
    "MODEL_KINDS",
    "TRUSTED_TYPES",
    "ArchFeaturizer",
    "FactorisedLUTRegressor",
    "KindContext",
    "LatencyPredictor",
    "LatencyReference",
    "LatencyRegressor",
    "LatencyResult",
    "MeasureConfig",
    "MeasurementWriter",
    "Measurements",
    "ModelKind",
    "NonNegativeLinearRegressor",
    "TransferLinearRegressor",
    "autogtkd_home",
    "fit_predictor",
    "latency_metrics",
    "layer_kind",
    "list_runtimes",
    "list_targets",
    "load_predictor",
    "load_predictor_dir",
    "machine_info",
    "make_header",
    "measure_arch",
    "measure_latency",
    "measure_space",
    "measurement_header",
    "read_measurements",
    "reference_arch",
    "register_runtime",
    "register_target",
    "reject_outliers",
    "remeasure_archs",
    "sample_archs",
    "save_onnx",
    "space_hash",
    "suggest_archs",
    "targets_dir",
    "unregister_target",
    "write_measurements",
]
