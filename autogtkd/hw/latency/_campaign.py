"""Measure many architectures of a space into a measurement file (resumable, with a progress bar)."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from autogtkd.hw.latency._active import sample_archs, suggest_archs
from autogtkd.hw.latency._measure import LatencyReference, MeasureConfig, machine_info, measure_arch
from autogtkd.hw.latency._records import Measurements, MeasurementWriter, make_header, read_measurements
from autogtkd.space import Arch, SearchSpace, space_hash

__all__ = ["measure_space", "measurement_header", "reference_arch", "remeasure_archs"]


def reference_arch(space: SearchSpace) -> Arch:
    """The drift-correction reference of a space: every decision at its middle option."""
    return space.canonical({c.name: c.options[len(c.options) // 2] for c in space.choices})


def measurement_header(
    space: SearchSpace, target: str, config: MeasureConfig, *, reference: Arch | None = None,
    reference_baseline_ms: float | None = None,
) -> dict[str, Any]:
    """The header record of a measurement file made on this machine."""
    try:
        import json

        space_def: Any = json.loads(json.dumps(space.to_dict()))
        if "family" not in space_def:  # only data forms that space_from_dict can rebuild
            space_def = None
    except (TypeError, ValueError):
        space_def = None
    return make_header(
        space=space.name, space_hash=space_hash(space), space_def=space_def, target=target,
        runtime=config.runtime, batch_size=config.batch_size, threads=config.threads,
        input_size=config.input_size or space.input_size, warmup=config.warmup, repeats=config.repeats,
        clock=config.resolved_clock,
        reference_arch=reference.to_dict() if reference is not None else None,
        reference_baseline_ms=reference_baseline_ms,
        machine=machine_info(),
    )


@contextmanager
def _progress(total: int, initial: int, enabled: bool, desc: str) -> Iterator[Any]:
    from tqdm import tqdm

    bar = tqdm(total=total, initial=initial, disable=not enabled, desc=desc, unit="arch", file=sys.stderr,
               dynamic_ncols=True)
    try:
        yield bar
    finally:
        bar.close()


def measure_space(
    space: SearchSpace,
    out: str | os.PathLike[str],
    *,
    n: int,
    target: str,
    config: MeasureConfig | None = None,
    seed: int = 0,
    active: bool = False,
    active_init: int = 20,
    active_batch: int = 10,
    progress: bool = True,
    reference: bool = True,
) -> Measurements:
    """Measure ``n`` distinct architectures of ``space`` into the JSON Lines file ``out``.

    Architectures come from a fixed sequence (smallest, largest, then random draws from
    ``seed``), or with ``active`` from :func:`suggest_archs` after ``active_init`` random ones, in
    batches of ``active_batch``. An existing file with the same settings is resumed: its
    architectures are kept and only the missing ones are measured. Returns the whole file.

    With ``reference``, :func:`reference_arch` is timed interleaved with every network
    (:class:`LatencyReference`); records then hold ``latency_raw_ms``, ``reference_ms`` and
    ``latency_ms = latency_raw_ms * baseline / reference_ms``, where the baseline (in the header) is
    the reference's latency when the file was started.
    """
    config = config or MeasureConfig()
    supernet = space.build_supernet() if space.has_supernet else None

    def build(arch: Arch) -> Any:
        return supernet.export(arch) if supernet is not None else space.build_model(arch)

    size = config.input_size or space.input_size
    shape = (config.batch_size, space.in_channels, size, size)
    ref_runner: LatencyReference | None = None
    baseline: float | None = None
    ref_arch = reference_arch(space) if reference else None
    if ref_arch is not None:
        ref_runner = LatencyReference(build(ref_arch), shape, runtime=config.runtime, threads=config.threads)
        existing = Path(out)
        if existing.exists() and existing.stat().st_size > 0:
            baseline = read_measurements(existing).header.get("reference_baseline_ms")
        if baseline is None:
            baseline = ref_runner.calibrate(clock=config.clock)
    header = measurement_header(space, target, config, reference=ref_arch, reference_baseline_ms=baseline)
    with MeasurementWriter(out, header) as writer:
        done: dict[Arch, float] = {}
        for rec in writer.existing.records:
            done[space.canonical(rec["arch"])] = float(rec["latency_ms"])
        plan = [a for a in sample_archs(space, n, np.random.default_rng(seed)) if a not in done]
        with _progress(n, min(len(done), n), progress, f"{space.name}@{target}") as bar:
            while len(done) < n:
                if active and len(done) >= max(active_init, 5):
                    rng = np.random.default_rng([seed, len(done)])
                    batch = suggest_archs(space, list(done), list(done.values()), min(active_batch, n - len(done)), rng=rng)
                else:
                    batch = [plan.pop(0)] if plan else []
                if not batch:
                    break  # the space has fewer distinct members than n
                for arch in batch:
                    if arch in done:
                        continue
                    result = measure_arch(space, arch, config, model=build(arch), reference=ref_runner)
                    fields = result.to_record()
                    if baseline is not None and result.reference_ms:
                        fields = {**fields, "latency_raw_ms": fields["latency_ms"],
                                  "latency_ms": result.median_ms * baseline / result.reference_ms}
                    writer.append(arch.to_dict(), fields)
                    done[arch] = float(fields["latency_ms"])
                    bar.update(1)
                    bar.set_postfix_str(f"{fields['latency_ms']:.2f} ms")
    return read_measurements(out)


def remeasure_archs(
    predictor: Any, archs: list[Any], *, space: SearchSpace | None = None, progress: bool = False
) -> np.ndarray:
    """Measure ``archs`` on this machine with the settings ``predictor`` was fitted on.

    Uses the runtime, threads, batch, input size, clock, warm-up and repeats of
    ``predictor.manifest["measurement"]`` and, when the predictor's measurements were drift-corrected,
    the same reference network and baseline, so the result is directly comparable to
    ``predictor.predict_archs(archs)`` (e.g. to show predicted beside measured for Pareto candidates).
    Only meaningful on the machine the predictor's measurements came from. Returns ms, shape ``(n,)``.
    """
    sp = space if space is not None else predictor.space
    settings = predictor.manifest.get("measurement", {})
    config = MeasureConfig.from_settings(settings)
    supernet = sp.build_supernet() if sp.has_supernet else None

    def build(arch: Arch) -> Any:
        return supernet.export(arch) if supernet is not None else sp.build_model(arch)

    size = config.input_size or sp.input_size
    shape = (config.batch_size, sp.in_channels, size, size)
    ref = None
    baseline = settings.get("reference_baseline_ms")
    if settings.get("reference_arch") and baseline:
        ref = LatencyReference(build(sp.canonical(settings["reference_arch"])), shape, runtime=config.runtime,
                               threads=config.threads)
    out = []
    with _progress(len(archs), 0, progress, f"re-measure@{predictor.target}") as bar:
        for a in archs:
            arch = sp.canonical(a)
            r = measure_arch(sp, arch, config, model=build(arch), reference=ref)
            out.append(r.median_ms * baseline / r.reference_ms if ref is not None and r.reference_ms else r.median_ms)
            bar.update(1)
    return np.asarray(out, dtype=np.float64)
