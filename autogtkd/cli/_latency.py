"""``autogtkd latency``: measure, fit, list, predict; export models and suggest archs for devices."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

from autogtkd.exceptions import DataError, PredictorError
from autogtkd.space import SearchSpace, load_space

__all__ = ["register"]


def register(sub: Any) -> None:
    """Add the ``latency`` command and its sub-commands."""
    p = sub.add_parser(
        "latency",
        help="measure latency, fit and register per-target latency predictors",
        description="Latency predictors per hardware target. Latency is the median in milliseconds of one "
        "forward pass at the measured batch size (batch 1 unless stated).",
    )
    lsub = p.add_subparsers(dest="latency_command", metavar="SUBCOMMAND")
    p.set_defaults(func=lambda args: (p.print_help(), 0)[1])
    for add in (_add_measure, _add_fit, _add_list_and_predict, _add_export_onnx, _add_suggest):
        add(lsub)


def _add_measure(lsub: Any) -> None:
    from autogtkd.hw.latency import CLOCKS, list_runtimes

    m = lsub.add_parser("measure", help="measure architectures of a space on this machine into a JSONL file",
                        description="Measure N distinct architectures (smallest, largest, then random) on this "
                        "machine. An existing --out file with the same settings is resumed.")
    m.add_argument("--space", required=True, metavar="NAME|FILE", help="search space name or .yaml/.py file")
    m.add_argument("--target", required=True, metavar="NAME", help="name of this hardware target, e.g. cpu-ort")
    m.add_argument("--n", type=int, default=300, help="architectures to measure in total (default 300)")
    m.add_argument("--out", required=True, metavar="FILE.jsonl", help="measurement file (appended/resumed)")
    m.add_argument("--runtime", choices=list_runtimes(), default="onnxruntime", help="a registered latency runtime")
    m.add_argument("--threads", type=int, default=1, help="intra-op threads (default 1)")
    m.add_argument("--batch-size", type=int, default=1)
    m.add_argument("--input-size", type=int, default=None, help="input height=width (default: the space's)")
    m.add_argument("--warmup", type=int, default=10, help="untimed runs per architecture (default 10)")
    m.add_argument("--repeats", type=int, default=50, help="timed runs per architecture (default 50)")
    m.add_argument("--clock", choices=CLOCKS, default="auto",
                   help="wall clock, or the thread's CPU time (robust on a shared machine; threads=1 only); "
                   "auto: cpu for --threads 1, else wall (default)")
    m.add_argument("--no-reference", dest="reference", action="store_false",
                   help="do not time the fixed reference network after every pass (by default it is, and "
                   "latencies are corrected for drift of the machine's speed; see docs/latency.md)")
    m.add_argument("--seed", type=int, default=0)
    m.add_argument("--active", action="store_true", help="choose architectures by active sampling after 20 random")
    m.add_argument("--no-progress", action="store_true", help="no progress bar")
    m.set_defaults(func=_measure)


def _add_fit(lsub: Any) -> None:
    from autogtkd.hw.latency import LOSSES, MODEL_KINDS

    f = lsub.add_parser("fit", help="fit a latency predictor on a measurement file",
                        description="Fit a latency predictor; report RMSE, MAPE, share within +-5 %% and +-10 %% "
                        "and Kendall tau on a held-out split, then refit on all measurements and save.")
    f.add_argument("file", metavar="FILE.jsonl", help="measurement file")
    f.add_argument("--out", metavar="DIR", help="predictor directory to write")
    f.add_argument("--space", metavar="NAME|FILE", help="search space (default: from the file's header)")
    f.add_argument(
        "--model", default="auto", help=f"auto (cross-validated choice) or one of {', '.join(MODEL_KINDS.list())}"
    )
    f.add_argument("--target", metavar="NAME", help="target name (default: the file's)")
    f.add_argument("--register", action="store_true", help="also register it as the target's predictor")
    f.add_argument("--test-size", type=float, default=0.2, help="held-out share (default 0.2)")
    f.add_argument("--seed", type=int, default=0)
    f.add_argument("--cv", type=int, default=5, help="cross-validation folds of the model choice (default 5)")
    f.add_argument("--loss", choices=LOSSES, default="squared",
                   help="squared (default) or huber: robust to outlying measurements (noisy phones)")
    f.add_argument("--no-refit", action="store_true", help="save the model fitted on the training split only")
    f.add_argument("--transfer-from", nargs="+", default=[], metavar="OTHER.jsonl",
                   help="measurement files of the same space on other targets: a new target needs ~10 measurements "
                        "of its own (model 'transfer': a non-negative combination of their linear models)")
    f.add_argument("--json", action="store_true", help="print the metrics as one JSON object")
    f.set_defaults(func=_fit)


def _add_list_and_predict(lsub: Any) -> None:
    ls = lsub.add_parser("list", help="list registered hardware targets")
    ls.add_argument("--json", action="store_true")
    ls.set_defaults(func=_list)

    pr = lsub.add_parser("predict", help="predict the latency of architectures")
    pr.add_argument("--predictor", required=True, metavar="TARGET|DIR", help="registered target or predictor dir")
    pr.add_argument("--space", required=True, metavar="NAME|FILE")
    pr.add_argument("--arch", required=True, metavar="FILE", help="architecture JSON, or a JSONL file of them")
    pr.add_argument("--json", action="store_true")
    pr.set_defaults(func=_predict)


def _add_export_onnx(lsub: Any) -> None:
    ex = lsub.add_parser("export-onnx", help="export architectures as ONNX models to measure on another device",
                         description="Write DIR/NNNN.onnx with DIR/NNNN.json (the architecture) and DIR/space.json "
                         "for tools/measure_latency_onnx.py, which needs neither torch nor autogtkd.")
    ex.add_argument("--space", required=True, metavar="NAME|FILE")
    ex.add_argument("--n", type=int, default=100)
    ex.add_argument("--out", required=True, metavar="DIR")
    ex.add_argument("--archs", metavar="FILE.jsonl", help="export these architectures instead of sampling")
    ex.add_argument("--batch-size", type=int, default=1)
    ex.add_argument("--input-size", type=int, default=None)
    ex.add_argument("--seed", type=int, default=0)
    ex.set_defaults(func=_export_onnx)


def _add_suggest(lsub: Any) -> None:
    sg = lsub.add_parser("suggest", help="active sampling: which architectures to measure next",
                         description="Suggest architectures to measure next from the measurements so far "
                         "(bootstrap-committee disagreement + look-up-table coverage); writes JSONL of {arch}.")
    sg.add_argument("file", metavar="FILE.jsonl", help="measurements so far")
    sg.add_argument("--n", type=int, default=20)
    sg.add_argument("--out", required=True, metavar="FILE.jsonl")
    sg.add_argument("--space", metavar="NAME|FILE")
    sg.add_argument("--seed", type=int, default=0)
    sg.set_defaults(func=_suggest)


def resolve_space(header: dict[str, Any], spec: str | None, where: str) -> SearchSpace:
    """The space of a measurement file: ``spec`` if given (checked against the header's hash), else
    the header's registered name or its embedded definition."""
    from autogtkd.space import space_from_dict, space_hash, space_hash_matches

    want = header.get("space_hash")
    if spec:
        space = load_space(spec)
        if want and not space_hash_matches(want, space):
            raise DataError(f"{where} was measured on space {header.get('space')!r} (hash {want}), "
                            f"not on {space.name!r} (hash {space_hash(space)})")
        return space
    name = header.get("space")
    if not name:
        raise DataError(f"{where} has no header naming its space; pass --space")
    from autogtkd.exceptions import AutoGTKDError

    try:
        named: SearchSpace | None = load_space(str(name))
    except AutoGTKDError:  # not a registered name: fall back to the embedded definition
        named = None
    if named is not None and (not want or space_hash_matches(want, named)):
        return named
    if isinstance(header.get("space_def"), dict) and "family" in header["space_def"]:
        space = space_from_dict(header["space_def"], where=f"{where} header")
        if not want or space_hash_matches(want, space):
            return space
    raise DataError(f"cannot rebuild space {name!r} of {where}; pass --space NAME|FILE")


def _measure(args: argparse.Namespace) -> int:
    from autogtkd.hw.latency import MeasureConfig, measure_space

    if args.n < 1:
        raise DataError(f"--n must be >= 1, got {args.n}")
    space = load_space(args.space)
    cfg = MeasureConfig(runtime=args.runtime, threads=args.threads, batch_size=args.batch_size,
                        input_size=args.input_size, warmup=args.warmup, repeats=args.repeats, clock=args.clock)
    m = measure_space(space, args.out, n=args.n, target=args.target, config=cfg, seed=args.seed,
                      active=args.active, progress=not args.no_progress, reference=args.reference)
    y = m.latency_ms
    print(f"{args.out}: {len(m)} architectures of {space.name} on {args.target} ({args.runtime}, "
          f"{args.threads} thread(s), batch {args.batch_size}, {cfg.resolved_clock} clock): "
          f"{y.min():.3f}-{y.max():.3f} ms")
    return 0


def _fit(args: argparse.Namespace) -> int:
    from autogtkd.hw.latency import fit_predictor, read_measurements, register_target

    meas = read_measurements(args.file)
    space = resolve_space(meas.header, args.space, args.file)
    sources = [read_measurements(f) for f in args.transfer_from]
    pred, metrics = fit_predictor(meas, space, model=args.model, target=args.target, test_size=args.test_size,
                                  seed=args.seed, refit=not args.no_refit, cv=args.cv, sources=sources,
                                  loss=args.loss)
    saved = []
    if args.out:
        saved.append(str(pred.save(args.out)))
    if args.register:
        saved.append(str(register_target(pred)))
    if args.json:
        keys = ("rmse_ms", "mape", "within_5pct", "within_10pct", "kendall_tau", "n_train", "n_test")
        print(json.dumps({**{k: metrics[k] for k in keys}, "model": metrics["model"], "target": pred.target,
                          "saved": saved}))
        return 0
    print(f"latency predictor for {space.name} on {pred.target}: model {metrics['model']} "
          f"(held-out: {metrics['n_test']}, trained on {metrics['n_train']})")
    print(f"  RMSE {metrics['rmse_ms']:.4f} ms   MAPE {100 * metrics['mape']:.2f} %   "
          f"within +-5 % {100 * metrics['within_5pct']:.1f} %   within +-10 % {100 * metrics['within_10pct']:.1f} %   "
          f"Kendall tau {metrics['kendall_tau']:.3f}")
    for s in saved:
        print(f"  saved {s}")
    if not saved:
        print("  (not saved: pass --out DIR and/or --register)")
    return 0


def _list(args: argparse.Namespace) -> int:
    from autogtkd.hw.latency import list_targets, targets_dir

    rows = list_targets()
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    if not rows:
        print(f"no registered targets in {targets_dir()}")
        return 0
    print(f"{'target':<20} {'space':<16} {'runtime':<12} {'thr':>3} {'model':<12} {'n':>5} {'±10%':>6} {'tau':>6}  cpu")
    for r in rows:
        met = r.get("metrics") or {}
        w10 = met.get("within_10pct")
        tau = met.get("kendall_tau")
        print(f"{r['name']:<20} {r.get('space')!s:<16} {r.get('runtime')!s:<12} {r.get('threads')!s:>3} "
              f"{r.get('model')!s:<12} {r.get('n_train')!s:>5} "
              f"{(f'{100 * w10:.0f}%' if w10 is not None else '-'):>6} {(f'{tau:.3f}' if tau is not None else '-'):>6}  "
              f"{r.get('cpu') or ''}")
    return 0


def _read_archs(path: str) -> list[dict[str, Any]]:
    from autogtkd.cli._spaces import read_arch_file

    p = Path(path)
    if p.suffix == ".jsonl":
        out = []
        for i, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1):
            if line.strip():
                try:
                    obj = json.loads(line)
                except json.JSONDecodeError:
                    raise DataError(f"{p}:{i}: not valid JSON") from None
                if isinstance(obj, dict) and obj.get("type") == "header":
                    continue
                out.append(obj["arch"] if isinstance(obj, dict) and isinstance(obj.get("arch"), dict) else obj)
        return out
    return [read_arch_file(path)]


def _predict(args: argparse.Namespace) -> int:
    from autogtkd.hw.latency import load_predictor

    space = load_space(args.space)
    pred = load_predictor(args.predictor, space)
    archs = [space.canonical(a) for a in _read_archs(args.arch)]
    ms = pred.predict_archs(archs)
    if args.json:
        print(json.dumps([{"arch": a.to_dict(), "latency_ms": float(v), "target": pred.target} for a, v in zip(archs, ms)]))
    else:
        for v in ms:
            print(f"{v:.4f} ms @ {pred.target}")
    return 0


def _export_onnx(args: argparse.Namespace) -> int:
    from autogtkd.hw.latency import sample_archs, save_onnx
    from autogtkd.space import space_hash

    space = load_space(args.space)
    archs = ([space.canonical(a) for a in _read_archs(args.archs)] if args.archs
             else sample_archs(space, args.n, np.random.default_rng(args.seed)))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    size = args.input_size or space.input_size
    shape = (args.batch_size, space.in_channels, size, size)
    h = space_hash(space)
    (out / "space.json").write_text(json.dumps({"space": space.name, "space_hash": h, "space_def": space.to_dict()}),
                                    encoding="utf-8")
    supernet = space.build_supernet() if space.has_supernet else None
    from tqdm import tqdm

    for i, arch in enumerate(tqdm(archs, desc="export", unit="model", file=sys.stderr)):
        model = supernet.export(arch) if supernet is not None else space.build_model(arch)
        save_onnx(model, shape, out / f"{i:04d}.onnx")
        (out / f"{i:04d}.json").write_text(
            json.dumps({"space": space.name, "space_hash": h, "arch": arch.to_dict(), "input_shape": list(shape)}),
            encoding="utf-8")
    print(f"wrote {len(archs)} ONNX models to {out}; measure them on the device with "
          f"`python measure_latency_onnx.py {out} --out measurements.jsonl --target NAME`")
    return 0


def _suggest(args: argparse.Namespace) -> int:
    from autogtkd.hw.latency import read_measurements, suggest_archs

    meas = read_measurements(args.file)
    space = resolve_space(meas.header, args.space, args.file)
    picks = suggest_archs(space, meas.archs, meas.latency_ms, args.n, rng=np.random.default_rng(args.seed))
    if not picks:
        raise PredictorError("no unmeasured architectures left to suggest")
    with open(args.out, "w", encoding="utf-8") as f:
        f.writelines(json.dumps({"arch": a.to_dict()}) + "\n" for a in picks)
    print(f"wrote {len(picks)} suggested architectures to {args.out}")
    return 0
