"""Latency measurement on the local machine: PyTorch eager and ONNX Runtime, or a registered runtime.

Runtimes are registered by name (:func:`register_runtime`): a factory
``(model, example, threads) -> run`` returns a no-argument callable doing one forward pass of
``model`` (eval mode) on ``example``; :class:`MeasureConfig`, ``autogtkd latency measure --runtime``
and the measurement files accept every registered name. Adding one touches one file.

A measurement runs ``warmup`` untimed forward passes, then ``repeats`` timed ones, rejects outliers
with Tukey's fences (samples outside ``[Q1 - 1.5 IQR, Q3 + 1.5 IQR]``) and reports the median and
interquartile range of what is left.

Clocks: ``"wall"`` times each pass with ``time.perf_counter_ns`` (what a user waits, including time
the OS gives to other processes); ``"cpu"`` with ``time.thread_time_ns`` -- the CPU time of the
calling thread, which is where both runtimes compute when they use one intra-op thread. On a
shared machine the CPU clock is far more repeatable (on a loaded 2-core machine wall-clock medians
of the same network varied by 2x, thread CPU time by ~5 %); on an idle machine both agree.
``"auto"`` (default) uses ``"cpu"`` for ``threads=1`` and ``"wall"`` otherwise (worker threads'
time would not be counted by the calling thread's clock).
"""

from __future__ import annotations

import io
import os
import platform
import time
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import torch
from torch import nn

from autogtkd._io import atomic_write_bytes
from autogtkd.exceptions import ConfigError, RunError
from autogtkd.nn import cpu_threads
from autogtkd.registry import Registry

if TYPE_CHECKING:
    from autogtkd.space import SearchSpace

__all__ = [
    "CLOCKS",
    "LATENCY_RUNTIMES",
    "LatencyReference",
    "LatencyResult",
    "MeasureConfig",
    "list_runtimes",
    "machine_info",
    "measure_arch",
    "measure_latency",
    "register_runtime",
    "reject_outliers",
    "save_onnx",
]

Runtime = str  # a registered runtime name (list_runtimes()): "onnxruntime", "eager", ...
Clock = Literal["auto", "wall", "cpu"]
#: ``factory(model, example, threads) -> run``: ``run()`` does one forward pass (see the module docstring).
RuntimeFactory = Callable[[nn.Module, torch.Tensor, int], Callable[[], Any]]
LATENCY_RUNTIMES: Registry[Callable[[], Any]] = Registry("latency runtime")
CLOCKS: tuple[str, ...] = ("auto", "wall", "cpu")


@dataclass(frozen=True)
class MeasureConfig:
    """How to time one network.

    Attributes:
        runtime: ``"onnxruntime"`` (CPU execution provider, all graph optimisations), ``"eager"``
            (PyTorch eval mode under ``torch.inference_mode``) or another registered runtime.
        threads: intra-op threads of the runtime (ONNX Runtime's ``intra_op_num_threads``;
            ``torch.set_num_threads`` for eager, restored afterwards).
        batch_size: images per forward pass.
        input_size: input height = width in pixels (``None``: the space's own).
        warmup: untimed forward passes before timing.
        repeats: timed forward passes.
        clock: ``"wall"``, ``"cpu"`` (thread CPU time; only with ``threads=1``) or ``"auto"``
            (``"cpu"`` when ``threads == 1``, else ``"wall"``); see the module docstring.
    """

    runtime: Runtime = "onnxruntime"
    threads: int = 1
    batch_size: int = 1
    input_size: int | None = None
    warmup: int = 10
    repeats: int = 50
    clock: Clock = "auto"

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any]) -> MeasureConfig:
        """The config recorded in a measurement-file header or a predictor's ``manifest["measurement"]``
        (other keys such as ``machine`` are ignored) -- to re-measure with the same settings.

        Example:
            >>> MeasureConfig.from_settings({"runtime": "eager", "threads": 1, "machine": {}}).runtime
            'eager'
        """
        keys = ("runtime", "threads", "batch_size", "input_size", "warmup", "repeats", "clock")
        return cls(**{k: settings[k] for k in keys if k in settings and settings[k] is not None})

    @property
    def resolved_clock(self) -> str:
        """``"wall"`` or ``"cpu"``."""
        return ("cpu" if self.threads == 1 else "wall") if self.clock == "auto" else self.clock

    def __post_init__(self) -> None:
        if self.runtime not in LATENCY_RUNTIMES:
            raise ConfigError(f"unknown runtime {self.runtime!r}; valid: {', '.join(list_runtimes())}")
        if self.clock not in CLOCKS:
            raise ConfigError(f"unknown clock {self.clock!r}; valid: {', '.join(CLOCKS)}")
        if self.clock == "cpu" and self.threads != 1:
            raise ConfigError("clock 'cpu' measures the calling thread only; use it with threads=1 (or clock 'wall')")
        for name in ("threads", "batch_size", "repeats"):
            if int(getattr(self, name)) < 1:
                raise ConfigError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.warmup < 0:
            raise ConfigError(f"warmup must be >= 0, got {self.warmup}")
        if self.input_size is not None and self.input_size < 1:
            raise ConfigError(f"input_size must be >= 1, got {self.input_size}")


@dataclass(frozen=True)
class LatencyResult:
    """Timing of one network.

    Attributes:
        median_ms: median latency of one forward pass (whole batch) in milliseconds, outliers removed.
        iqr_ms: interquartile range (Q3 - Q1) of the kept samples, milliseconds.
        mean_ms: mean of the kept samples, milliseconds.
        std_ms: standard deviation of the kept samples, milliseconds.
        samples_ms: every timed sample in order, milliseconds, shape ``(repeats,)``.
        n_rejected: samples rejected as outliers.
        runtime: runtime that ran the model.
        threads: intra-op threads.
        input_shape: ``(batch, channels, height, width)``.
        clock: ``"wall"`` or ``"cpu"``.
        reference_ms: median latency of the reference network timed interleaved with this one
            (``None`` without a reference); see :class:`LatencyReference`.
    """

    median_ms: float
    iqr_ms: float
    mean_ms: float
    std_ms: float
    samples_ms: tuple[float, ...] = field(repr=False)
    n_rejected: int
    runtime: str
    threads: int
    input_shape: tuple[int, ...]
    clock: str = "wall"
    reference_ms: float | None = None

    @property
    def relative_iqr(self) -> float:
        """``iqr_ms / median_ms``: the spread of one measurement as a fraction."""
        return self.iqr_ms / self.median_ms if self.median_ms > 0 else float("nan")

    def to_record(self) -> dict[str, Any]:
        """The fields a measurement file stores beside the architecture."""
        return {
            "latency_ms": self.median_ms,
            "latency_iqr_ms": self.iqr_ms,
            "latency_std_ms": self.std_ms,
            "n_samples": len(self.samples_ms),
            "n_rejected": self.n_rejected,
            **({"reference_ms": self.reference_ms} if self.reference_ms is not None else {}),
        }


def reject_outliers(samples_ms: np.ndarray) -> np.ndarray:
    """Keep samples inside Tukey's fences ``[Q1 - 1.5 IQR, Q3 + 1.5 IQR]``; shape ``(n,) -> (m,)``.

    Example:
        >>> reject_outliers(np.array([1.0, 1.1, 0.9, 1.0, 9.0])).tolist()
        [1.0, 1.1, 0.9, 1.0]
    """
    x = np.asarray(samples_ms, dtype=np.float64)
    if x.size < 4:
        return x
    q1, q3 = np.percentile(x, [25, 75])
    iqr = q3 - q1
    return x[(x >= q1 - 1.5 * iqr) & (x <= q3 + 1.5 * iqr)]


def _summarise(
    samples: list[float], runtime: str, threads: int, shape: tuple[int, ...], clock: str,
    ref_samples: list[float] | None = None,
) -> LatencyResult:
    raw = np.asarray(samples, dtype=np.float64)
    kept = reject_outliers(raw)
    q1, q3 = np.percentile(kept, [25, 75])
    return LatencyResult(
        median_ms=float(np.median(kept)),
        iqr_ms=float(q3 - q1),
        mean_ms=float(kept.mean()),
        std_ms=float(kept.std(ddof=1)) if kept.size > 1 else 0.0,
        samples_ms=tuple(float(v) for v in raw),
        n_rejected=int(raw.size - kept.size),
        runtime=runtime,
        threads=threads,
        input_shape=tuple(int(s) for s in shape),
        clock=clock,
        reference_ms=float(np.median(reject_outliers(np.asarray(ref_samples)))) if ref_samples else None,
    )


def _onnx_bytes(model: nn.Module, example: torch.Tensor) -> bytes:
    """Export ``model`` (eval mode) to ONNX bytes with the TorchScript-based exporter.

    ``dynamo=False`` is used because it exports these CNNs in ~0.1-0.7 s on torch 2.13, versus
    2-6 s for the dynamo exporter, with the same ONNX Runtime latency (checked on mbv3-cifar and
    resnet-cifar).
    """
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            torch.onnx.export(
                model, (example,), buf,  # type: ignore[arg-type]  # file-like objects are accepted
                dynamo=False, input_names=["input"], output_names=["logits"],
                opset_version=17,
            )
        except Exception as exc:  # noqa: BLE001 - the exporter raises many types
            raise RunError(f"ONNX export failed: {type(exc).__name__}: {str(exc).splitlines()[0]}") from None
    return buf.getvalue()


def _time_calls(
    fn: Any, warmup: int, repeats: int, clock: str, ref: Any = None
) -> tuple[list[float], list[float]]:
    """Time ``fn`` ``repeats`` times (ms); with ``ref``, time it right after each call of ``fn``."""
    for _ in range(warmup):
        fn()
        if ref is not None:
            ref()
    now = time.thread_time_ns if clock == "cpu" else time.perf_counter_ns
    out: list[float] = []
    ref_out: list[float] = []
    for _ in range(repeats):
        t0 = now()
        fn()
        out.append((now() - t0) / 1e6)
        if ref is not None:
            t0 = now()
            ref()
            ref_out.append((now() - t0) / 1e6)
    return out, ref_out


def register_runtime(name: str, factory: RuntimeFactory, *, overwrite: bool = False) -> None:
    """Register a latency runtime: ``factory(model, example, threads)`` returns a no-argument callable
    running one forward pass of ``model`` (in eval mode) on the tensor ``example``."""
    LATENCY_RUNTIMES.register(name, factory, overwrite=overwrite)


def list_runtimes() -> list[str]:
    """Names of the registered latency runtimes."""
    return LATENCY_RUNTIMES.list()


@LATENCY_RUNTIMES.register("eager")
def _eager(model: nn.Module, example: torch.Tensor, threads: int) -> Callable[[], Any]:
    """PyTorch eager under ``torch.inference_mode`` (threads are set around the timed calls)."""

    def run() -> Any:
        with torch.inference_mode():
            return model(example)

    return run


@LATENCY_RUNTIMES.register("onnxruntime")
def _onnxruntime(model: nn.Module, example: torch.Tensor, threads: int) -> Callable[[], Any]:
    """ONNX Runtime's CPU execution provider on the model exported in memory."""
    with cpu_threads(threads):
        data = _onnx_bytes(model, example)
    session = _ort_session(data, threads)
    feed = {session.get_inputs()[0].name: example.numpy()}
    return lambda: session.run(None, feed)


def _runner(model: nn.Module, example: torch.Tensor, runtime: str, threads: int) -> Callable[[], Any]:
    """A no-argument callable running one forward pass of ``model`` (eval mode) on ``example``."""
    return LATENCY_RUNTIMES.get(runtime)(model, example, threads)


class LatencyReference:
    """A fixed reference network timed interleaved with every measured one (drift correction).

    On a shared or thermally throttled machine the speed of the CPU drifts over a measurement
    campaign (on our shared 2-core machine: +-4 % over minutes, even on the CPU clock). Timing a
    fixed network right after each timed pass gives the machine's current speed;
    ``latency * baseline_ms / reference_ms`` then expresses every measurement at the speed the
    campaign started with. Measured on the loaded machine, this halved the run-to-run error of the
    same 12 networks (mean 10 % -> 4.4 %).

    Args:
        model: the reference network (kept in eval mode).
        input_shape: its input shape.
        runtime: as in :class:`MeasureConfig`.
        threads: intra-op threads.
    """

    def __init__(self, model: nn.Module, input_shape: tuple[int, ...], *, runtime: Runtime = "onnxruntime",
                 threads: int = 1) -> None:
        model.eval()
        example = torch.randn(tuple(input_shape), generator=torch.Generator().manual_seed(0))
        self.runtime, self.threads = runtime, threads
        self.run = _runner(model, example, runtime, threads)

    def calibrate(self, *, repeats: int = 100, warmup: int = 20, clock: Clock = "auto") -> float:
        """Median latency of the reference alone (ms): the campaign's baseline."""
        clk = MeasureConfig(runtime=self.runtime, threads=self.threads, clock=clock).resolved_clock
        with cpu_threads(self.threads):
            samples, _ = _time_calls(self.run, warmup, repeats, clk)
        return float(np.median(reject_outliers(np.asarray(samples))))


def measure_latency(
    model: nn.Module,
    input_shape: tuple[int, ...],
    *,
    runtime: Runtime = "onnxruntime",
    threads: int = 1,
    warmup: int = 10,
    repeats: int = 50,
    clock: Clock = "auto",
    reference: LatencyReference | None = None,
) -> LatencyResult:
    """Time ``model`` on a random input of ``input_shape`` (e.g. ``(1, 3, 32, 32)``).

    The model is put in eval mode (its mode is restored afterwards). For ``"onnxruntime"`` it is
    first exported to ONNX in memory. Returns the median and IQR in milliseconds per forward pass of
    the whole batch, after Tukey outlier rejection, on ``clock`` (see the module docstring).
    With ``reference``, that network is timed right after each pass (``result.reference_ms``).

    Example:
        >>> from torch import nn
        >>> r = measure_latency(nn.Conv2d(3, 8, 3), (1, 3, 16, 16), runtime="eager", warmup=1, repeats=5)
        >>> r.median_ms > 0 and len(r.samples_ms) == 5
        True
    """
    cfg = MeasureConfig(runtime=runtime, threads=threads, warmup=warmup, repeats=repeats, clock=clock)
    clk = cfg.resolved_clock
    shape = tuple(int(s) for s in input_shape)
    example = torch.randn(shape, generator=torch.Generator().manual_seed(0))
    was_training = model.training
    model.eval()
    try:
        run = _runner(model, example, cfg.runtime, cfg.threads)
        with cpu_threads(cfg.threads):
            samples, ref_samples = _time_calls(run, cfg.warmup, cfg.repeats, clk, reference.run if reference else None)
    finally:
        model.train(was_training)
    return _summarise(samples, cfg.runtime, cfg.threads, shape, clk, ref_samples)


def _ort_session(data: bytes, threads: int) -> Any:
    try:
        import onnxruntime as ort
    except ImportError:
        raise ConfigError("runtime 'onnxruntime' needs the onnx extra: pip install 'autogtkd[onnx]'") from None
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.log_severity_level = 3
    return ort.InferenceSession(data, opts, providers=["CPUExecutionProvider"])


def measure_arch(
    space: SearchSpace, arch: Mapping[str, Any], config: MeasureConfig | None = None, *,
    model: nn.Module | None = None, reference: LatencyReference | None = None,
) -> LatencyResult:
    """Build ``arch`` of ``space`` (or use ``model``) and time it with ``config``.

    Use this to re-measure search results on the local target with the settings a predictor was
    fitted on (``MeasureConfig(**predictor.manifest["measurement"])``).
    """
    config = config or MeasureConfig()
    net = model if model is not None else space.build_model(space.canonical(arch))
    size = config.input_size or space.input_size
    return measure_latency(
        net, (config.batch_size, space.in_channels, size, size), runtime=config.runtime, threads=config.threads,
        warmup=config.warmup, repeats=config.repeats, clock=config.clock, reference=reference,
    )


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_info() -> dict[str, Any]:
    """Where a measurement ran: CPU model, logical CPUs, OS, and library versions."""
    versions: dict[str, str] = {"python": platform.python_version(), "torch": torch.__version__, "numpy": np.__version__}
    for mod in ("onnxruntime", "onnx"):
        try:
            versions[mod] = __import__(mod).__version__
        except ImportError:
            pass
    from autogtkd import __version__

    versions["autogtkd"] = __version__
    return {
        "cpu": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "os": f"{platform.system()} {platform.release()}",
        "machine": platform.machine(),
        "versions": versions,
    }


def save_onnx(model: nn.Module, input_shape: tuple[int, ...], path: str | os.PathLike[str]) -> None:
    """Write ``model`` (eval mode) as an ONNX file for measuring on another device (atomic write)."""
    was_training = model.training
    model.eval()
    try:
        data = _onnx_bytes(model, torch.zeros(tuple(input_shape)))
    finally:
        model.train(was_training)
    atomic_write_bytes(path, data)
