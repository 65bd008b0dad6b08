"""Benchmark: latency-predictor accuracy against the number of measurements (issue 5, item 7).

For each (space, runtime) in {mbv3-cifar, resnet-cifar} x {onnxruntime, eager} on this machine's CPU
(threads=1, batch 1):

1. measure ``--pool + --test`` distinct architectures once (one resumable file per pair);
2. re-measure ``--repeat`` of the held-out architectures a second time: the run-to-run **noise
   floor** (how well one measurement predicts another of the same network);
3. fit ``LatencyPredictor(model="auto")`` on random subsets of 25/50/100/200/400 training
   measurements (``--trials`` subsets each) and score on the held-out set: share within +-10 %,
   Kendall tau, MAPE; for n <= 100 also with active sampling (pool-based: the suggestions are
   chosen from the measured training pool, starting from 10 random ones).

Usage::

    python benchmarks/latency_predictors.py --workdir /tmp/autogtkd-latency-bench --out docs/benchmarks_latency.md

Re-running resumes the measurement files; ``--phase analyse`` only refits.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

from autogtkd.hw.latency import (
    LatencyPredictor,
    LatencyReference,
    MeasureConfig,
    MeasurementWriter,
    latency_metrics,
    machine_info,
    measure_arch,
    measure_space,
    read_measurements,
    suggest_archs,
)
from autogtkd.space import create_space

SPACES = ("mbv3-cifar", "resnet-cifar")
RUNTIMES = ("onnxruntime", "eager")
SIZES = (25, 50, 100, 200, 400)


def split_pool(n_total: int, n_test: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices of the training pool and of the ``n_test`` held-out measurements (a seeded permutation)."""
    order = np.random.default_rng(seed).permutation(n_total)
    return order[n_test:], order[:n_test]


def measure(args: argparse.Namespace, space_name: str, runtime: str) -> None:
    space = create_space(space_name)
    cfg = MeasureConfig(runtime=runtime, threads=1, warmup=args.warmup, repeats=args.repeats, clock=args.clock)
    base = Path(args.workdir) / f"{space_name}_{runtime}"
    t0 = time.time()
    m = measure_space(space, f"{base}.jsonl", n=args.pool + args.test, target=f"bench-{runtime}", config=cfg,
                      seed=args.seed, progress=not args.quiet, reference=not args.no_reference)
    _, test = split_pool(len(m), args.test, args.seed)
    again = [m.archs[i] for i in test[: args.repeat]]
    # noise floor: the same architectures again, later in the run (same settings, same baseline)
    rep = Path(f"{base}_repeat.jsonl")
    done = len(read_measurements(rep)) if rep.exists() else 0
    if done < len(again):
        supernet = space.build_supernet()
        size = space.input_size
        baseline = m.header.get("reference_baseline_ms")
        ref = None
        if baseline is not None:
            ref = LatencyReference(supernet.export(space.canonical(m.header["reference_arch"])), (1, 3, size, size),
                                   runtime=runtime, threads=1)
        with MeasurementWriter(rep, m.header) as w:
            for a in again[done:]:
                arch = space.canonical(a)
                r = measure_arch(space, arch, cfg, model=supernet.export(arch), reference=ref)
                fields = r.to_record()
                if ref is not None and r.reference_ms:
                    fields = {**fields, "latency_raw_ms": fields["latency_ms"],
                              "latency_ms": round(r.median_ms * baseline / r.reference_ms, 6)}
                w.append(arch.to_dict(), fields)
    print(f"[{space_name}/{runtime}] measured in {time.time() - t0:.0f} s", file=sys.stderr, flush=True)


def _fit_rows(args: argparse.Namespace, space, archs, y, train, test, sizes, modes, label):  # type: ignore[no-untyped-def]
    Xte, yte = [archs[i] for i in test], y[test]
    pos = {a: i for i, a in enumerate(archs)}
    rows = []
    for n in sizes:
        if n > len(train):
            continue
        for mode in modes if n <= args.active_max else ("random",):
            mets, kinds, secs = [], [], []
            for t in range(args.trials):
                rng = np.random.default_rng([args.seed, n, t])
                t0 = time.time()
                if mode == "random":
                    idx = list(rng.choice(train, size=n, replace=False))
                else:
                    idx = list(rng.choice(train, size=10, replace=False))
                    while len(idx) < n:
                        taken = set(idx)
                        pool = [archs[i] for i in train if i not in taken]
                        picks = suggest_archs(space, [archs[i] for i in idx], y[idx], min(10, n - len(idx)),
                                              rng=rng, candidates=pool)
                        idx += [pos[a] for a in picks]
                p = LatencyPredictor(space, random_state=t).fit([archs[i] for i in idx], y[idx])
                secs.append(time.time() - t0)
                mets.append(latency_metrics(yte, p.predict(Xte)))
                kinds.append(p.regressor_.model_)
            row = {
                "n": n, "mode": mode, "labels": label, "trials": args.trials,
                **{k: float(np.mean([mm[k] for mm in mets])) for k in mets[0]},
                "within_10pct_min": float(min(mm["within_10pct"] for mm in mets)),
                "kendall_tau_min": float(min(mm["kendall_tau"] for mm in mets)),
                "models": sorted(set(kinds)), "fit_s": float(np.mean(secs)),
            }
            rows.append(row)
            print(f"[{space.name}] {label} n={n} {mode}: within10={row['within_10pct']:.3f} "
                  f"tau={row['kendall_tau']:.3f} mape={row['mape']:.3f} {row['models']} {row['fit_s']:.0f}s",
                  file=sys.stderr, flush=True)
    return rows


def analyse(args: argparse.Namespace, space_name: str, runtime: str) -> dict:
    space = create_space(space_name)
    base = Path(args.workdir) / f"{space_name}_{runtime}"
    m = read_measurements(f"{base}.jsonl")
    archs = [space.canonical(a) for a in m.archs]
    y = m.latency_ms
    has_raw = all("latency_raw_ms" in r for r in m.records)
    y_raw = np.array([r["latency_raw_ms"] for r in m.records]) if has_raw else y
    train, test = split_pool(len(m), args.test, args.seed)
    rep = read_measurements(f"{base}_repeat.jsonl")
    index = {a: i for i, a in enumerate(archs)}
    first = np.array([index[space.canonical(a)] for a in rep.archs])
    noise = latency_metrics(y[first], rep.latency_ms)
    noise_raw = latency_metrics(y_raw[first], np.array([r.get("latency_raw_ms", r["latency_ms"]) for r in rep.records]))
    iqr = np.array([r.get("latency_iqr_ms", np.nan) for r in m.records]) / y_raw
    out: dict = {
        "space": space_name, "runtime": runtime, "n_measured": len(m), "n_test": len(test),
        "latency_ms_range": [float(y.min()), float(y.max())], "median_rel_iqr": float(np.nanmedian(iqr)),
        "noise_floor": {**noise, "n": len(rep)}, "noise_floor_raw": {**noise_raw, "n": len(rep)},
        "reference_baseline_ms": m.header.get("reference_baseline_ms"),
    }
    out["rows"] = _fit_rows(args, space, archs, y, train, test, SIZES, ("random", "active"), "corrected")
    if has_raw:
        out["rows"] += _fit_rows(args, space, archs, y_raw, train, test, (100, 400), ("random",), "raw")
    return out


def to_markdown(results: list[dict], info: dict, args: argparse.Namespace) -> str:
    lines = [
        "## Latency predictors (issue 5)",
        "",
        (
            f"Command: `python benchmarks/latency_predictors.py --pool {args.pool} --test {args.test} --repeat {args.repeat} "
            f"--trials {args.trials} --repeats {args.repeats} --warmup {args.warmup} --clock {args.clock}`"
        ),
        "",
        (
            f"Machine: {info['cpu']}, {info['cpu_count']} logical CPUs. torch {info['versions']['torch']}, "
            f"onnxruntime {info['versions'].get('onnxruntime')}; threads=1, batch 1, 32x32 input, "
            f"{args.warmup} warm-up + {args.repeats} timed runs per architecture, Tukey outlier rejection, median, "
            f"clock `{args.clock}` (`auto` = the thread's CPU time at threads=1)."
        ),
        "",
        (
            f"Held-out set: {args.test} architectures per (space, runtime), never used for fitting. Each row is the "
            f"mean over {args.trials} random training subsets of the measured pool (worst trial in brackets). "
            "`active`: active sampling from the same pool (10 random, then batches of 10 suggested). "
            "Noise floor: the held-out architectures measured a second time later in the same run, scored like a "
            "predictor (second measurement vs first). Both of its sides are single noisy measurements, while a "
            "predictor fitted on many measurements averages their noise, so a predictor can score above it. "
            "`corrected`: latencies corrected for machine-speed drift with the interleaved reference network "
            "(the default of `autogtkd latency measure`); `raw`: the same measurements without the correction."
        ),
        "",
        "| space | runtime | labels | n train | sampling | within ±10 % | Kendall τ | MAPE | model chosen |",
        "|---|---|---|---:|---|---:|---:|---:|---|",
    ]
    for r in results:
        for key, label in (("noise_floor", "corrected"), ("noise_floor_raw", "raw")):
            nf = r[key]
            lines.append(
                f"| {r['space']} | {r['runtime']} | {label} | noise floor (n={nf['n']}) | re-measure | "
                f"{100 * nf['within_10pct']:.1f} % | {nf['kendall_tau']:.3f} | {100 * nf['mape']:.1f} % | — |"
            )
        for row in r["rows"]:
            lines.append(
                f"| {r['space']} | {r['runtime']} | {row['labels']} | {row['n']} | {row['mode']} | "
                f"{100 * row['within_10pct']:.1f} % ({100 * row['within_10pct_min']:.0f}) | "
                f"{row['kendall_tau']:.3f} ({row['kendall_tau_min']:.3f}) | {100 * row['mape']:.1f} % | "
                f"{', '.join(row['models'])} |"
            )
    lines += ["", "Latency ranges (ms, median per architecture) and median relative IQR of one measurement:", ""]
    for r in results:
        lo, hi = r["latency_ms_range"]
        lines.append(f"- {r['space']} / {r['runtime']}: {lo:.2f}–{hi:.2f} ms, relative IQR {100 * r['median_rel_iqr']:.1f} %")
    return "\n".join(lines) + "\n"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--workdir", default="/tmp/autogtkd-latency-bench")
    ap.add_argument("--out", default=None, help="write the markdown table here")
    ap.add_argument("--json", default=None, help="write the raw results here")
    ap.add_argument("--phase", choices=("all", "measure", "analyse"), default="all")
    ap.add_argument("--spaces", nargs="+", default=list(SPACES))
    ap.add_argument("--runtimes", nargs="+", default=list(RUNTIMES))
    ap.add_argument("--pool", type=int, default=400, help="training pool size")
    ap.add_argument("--test", type=int, default=60, help="held-out architectures")
    ap.add_argument("--repeat", type=int, default=40, help="held-out architectures measured twice (noise floor)")
    ap.add_argument("--trials", type=int, default=3)
    ap.add_argument("--active-max", type=int, default=100)
    ap.add_argument("--repeats", type=int, default=20)
    ap.add_argument("--clock", choices=("auto", "wall", "cpu"), default="auto")
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--quiet", action="store_true")
    ap.add_argument("--no-reference", action="store_true", help="no drift-correcting reference network")
    ap.add_argument("--reuse", nargs="*", default=[], metavar="JSON",
                    help="results files of earlier analyse runs whose (space, runtime) entries are reused")
    args = ap.parse_args()
    torch.set_num_threads(1)
    Path(args.workdir).mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    if args.phase in ("all", "measure"):
        for s in args.spaces:
            for rt in args.runtimes:
                measure(args, s, rt)
    if args.phase in ("all", "analyse"):
        reused = {}
        for f in args.reuse:
            for r in json.loads(Path(f).read_text())["results"]:
                reused[(r["space"], r["runtime"])] = r
        results = [reused.get((s, rt)) or analyse(args, s, rt) for s in args.spaces for rt in args.runtimes]
        info = machine_info()
        if args.json:
            Path(args.json).write_text(json.dumps({"machine": info, "results": results}, indent=2))
        md = to_markdown(results, info, args)
        if args.out:
            Path(args.out).write_text(md, encoding="utf-8")
        print(md)
    print(f"total {time.time() - t0:.0f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
