"""Search benchmark: strategies (hypervolume vs evaluations), scorer throughput, rank correlations.

One problem for everything: a GTN run (teacher + supernet) on the embedded ``digits`` data at 16x16
pixels with ``mbv3-cifar`` at width {0.35, 0.5} ("mbv3-cifar16-narrow", 4.6-49 MFLOPs), trained here
with a small CPU budget (or pass ``--run``). Objectives: ``inherit`` top-1 (maximised) and FLOPs
(minimised) under a FLOPs budget.

* strategies: nsga2, tpe, evolution, random x ``--seeds`` seeds, ``--evals`` scored architectures
  each; hypervolume (normalised: 1 - accuracy, FLOPs / budget; reference (1, 1)) after every
  evaluation. Scores are cached by canonical architecture across strategies and seeds (the same
  architecture always gets the same inherit score), so only new architectures cost time.
* scorers: candidates per minute of ``inherit`` and ``finetune`` (``--finetune-steps`` KD steps) on
  the same ``--scorer-archs`` feasible architectures, and Kendall's tau between the two.
* predictor: Kendall's tau between the accuracy predictor (random forest on ``space.encode``,
  fitted on ``--predictor-train`` inherit scores) and held-out inherit scores, and between the
  predictor fitted on finetune scores and held-out finetune scores.

Writes ``--out``/results.json and report.md (the Markdown pasted into docs/benchmarks_search.md).

Run:  python benchmarks/search_strategies.py --out /tmp/bench_search            (~30-60 min, 2 cores)
      python benchmarks/search_strategies.py --quick --out /tmp/bench_search_q  (a few minutes)
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from autogtkd.budget import parse_budget
from autogtkd.evaluate import AccuracyPredictor, CachedEvaluator, FinetuneScorer, InheritScorer, kendall_tau
from autogtkd.search import SearchProblem, SearchResult, list_strategies, search
from autogtkd.space import MobileNetV3Space, create_space


def narrow_space() -> MobileNetV3Space:
    """``mbv3-cifar`` at 16x16 pixels with width multipliers {0.35, 0.5}: 4.6-49 MFLOPs (MACs)."""
    base = create_space("mbv3-cifar", num_classes=10)
    assert isinstance(base, MobileNetV3Space)
    return MobileNetV3Space(replace(base.config, name="mbv3-cifar16-narrow", input_size=16, width=(0.35, 0.5)))


def get_run(args: argparse.Namespace) -> Any:
    from autogtkd.gtn import GTNConfig
    from autogtkd.train import DatasetSpec, TrainConfig, load_run, train

    if args.run:
        return load_run(args.run)
    out = Path(args.out) / "run"
    cfg = TrainConfig(method="gtn", epochs=args.train_epochs, batch_size=64, threads=1, seed=0, eval_batches=2,
                      gtn=GTNConfig(paths=1))
    t0 = time.perf_counter()
    train(out, space=narrow_space(), dataset=DatasetSpec(name="digits", image_size=16), teacher="resnet8",
          config=cfg, progress=not args.quiet)
    print(f"run ready in {time.perf_counter() - t0:.0f} s: {out}")
    return load_run(out)


def hv_curve(problem: SearchProblem, result: SearchResult) -> list[float]:
    """Hypervolume after each of the scored trials (in trial order)."""
    trials = sorted(result.trials, key=lambda c: c.trial)
    ref = problem.reference_costs()
    return [
        SearchResult(trials[: k + 1], objectives=problem.objectives, budgets=problem.budgets, reference=ref).hypervolume
        for k in range(len(trials))
    ]


def feasible_archs(problem: SearchProblem, n: int, seed: int) -> list[Any]:
    rng = np.random.default_rng(seed)
    out: list[Any] = []
    for _ in range(100 * n):
        a = problem.sample(rng)
        if a not in out:
            out.append(a)
        if len(out) == n:
            break
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", required=True)
    p.add_argument("--run", help="a trained run directory (default: train the small run described above)")
    p.add_argument("--budget", default="20MFLOPs")
    p.add_argument("--evals", type=int, default=40)
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--train-epochs", type=int, default=4)
    p.add_argument("--scorer-archs", type=int, default=12)
    p.add_argument("--finetune-steps", type=int, default=30)
    p.add_argument("--predictor-train", type=int, default=40)
    p.add_argument("--predictor-test", type=int, default=30)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--quick", action="store_true", help="tiny sizes: a smoke test of the script")
    p.add_argument("--quiet", action="store_true")
    args = p.parse_args()
    if args.quick:
        args.evals, args.seeds, args.train_epochs, args.scorer_archs = 12, 3, 1, 4
        args.finetune_steps, args.predictor_train, args.predictor_test = 5, 12, 8
    torch.set_num_threads(args.threads)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    t_start = time.perf_counter()
    run = get_run(args)
    calib = run.data.loader("calib", batch_size=128, shuffle=False, augment=False)
    val = run.data.loader("val", batch_size=256, shuffle=False, augment=False)
    train_loader = run.data.loader("train", batch_size=64, shuffle=True, augment=True, seed=0)
    inherit = CachedEvaluator(InheritScorer(run.supernet, calib, val, calib_batches=2), path=out / "scores.json")
    finetune = CachedEvaluator(
        FinetuneScorer(run.supernet, run.teacher, train_loader, val, steps=args.finetune_steps, calib_loader=calib,
                       calib_batches=2),
        path=out / "scores.json",
    )
    budget = parse_budget(args.budget)
    problem = SearchProblem(run.space, inherit, objectives=("accuracy", "flops"), budgets=[budget])
    res: dict[str, Any] = {"settings": vars(args), "space": run.space.name, "run": str(run.path)}

    # --- strategies: hypervolume against the number of evaluations
    curves: dict[str, list[list[float]]] = {}
    for strategy in list_strategies():
        for seed in range(args.seeds):
            t0 = time.perf_counter()
            result = search(problem, strategy=strategy, n_trials=args.evals, seed=seed)
            curve = hv_curve(problem, result)
            curves.setdefault(strategy, []).append(curve)
            print(f"{strategy:9s} seed {seed}: hv {curve[-1]:.4f} after {len(curve)} evals "
                  f"({time.perf_counter() - t0:.0f} s, cache {len(inherit._cache)} archs)")
    res["hv_curves"] = curves

    # --- scorers: throughput and agreement
    archs = feasible_archs(problem, args.scorer_archs, seed=123)
    times: dict[str, float] = {}
    scores: dict[str, list[float]] = {}
    for name, cached in (("inherit", inherit), ("finetune", finetune)):
        scorer = cached.evaluator
        t0 = time.perf_counter()
        scores[name] = [scorer(a)["accuracy"] for a in archs]  # timed without the cache
        times[name] = time.perf_counter() - t0
    res["scorers"] = {
        name: {"seconds": times[name], "candidates_per_min": 60 * len(archs) / times[name], "scores": scores[name]}
        for name in times
    }
    res["tau_inherit_finetune"] = kendall_tau(scores["inherit"], scores["finetune"])

    # --- predictor: out-of-sample rank correlation
    pool = feasible_archs(problem, args.predictor_train + args.predictor_test, seed=7)
    y_inh = np.array([inherit(a)["accuracy"] for a in pool])
    x = run.space.encode_many(pool)
    n = args.predictor_train
    pred = AccuracyPredictor(random_state=0).fit(x[:n], y_inh[:n]).predict(x[n:])
    res["tau_predictor_inherit"] = kendall_tau(pred, y_inh[n:])
    x_ft = run.space.encode_many(archs)
    y_ft = np.array(scores["finetune"])
    half = max(3, len(archs) // 2)
    pred_ft = AccuracyPredictor(random_state=0).fit(x_ft[:half], y_ft[:half]).predict(x_ft[half:])
    res["tau_predictor_finetune"] = kendall_tau(pred_ft, y_ft[half:]) if len(archs) - half >= 2 else math.nan
    res["inherit_range"] = [float(y_inh.min()), float(y_inh.max())]

    # --- predictor learning curve on every inherit score cached so far (no new evaluations)
    cached = [(k, v["accuracy"]) for k, v in inherit._cache.items()]
    xs = run.space.encode_many([json.loads(k) for k, _ in cached])
    ys = np.array([v for _, v in cached])
    curve: dict[str, dict[int, list[float]]] = {}
    for kind in ("rf", "gbr", "ridge"):
        for n_train in (20, 50, 100, 200, 300):
            if n_train + 20 > len(ys):
                continue
            for rep in range(3):
                order = np.random.default_rng(rep).permutation(len(ys))
                tr, te = order[:n_train], order[n_train:]
                fit = AccuracyPredictor(kind=kind, random_state=rep).fit(xs[tr], ys[tr])
                curve.setdefault(kind, {}).setdefault(n_train, []).append(kendall_tau(fit.predict(xs[te]), ys[te]))
    res["predictor_curve"] = {"n_archs": len(ys), "tau": curve}
    res["total_s"] = time.perf_counter() - t_start
    res["env"] = {"torch": torch.__version__, "threads": args.threads, "python": platform.python_version(),
                  "machine": platform.machine(), "cpus": torch.get_num_threads()}
    (out / "results.json").write_text(json.dumps(res, indent=2))
    (out / "report.md").write_text(report(res, args))
    print(report(res, args))


def report(res: dict[str, Any], args: argparse.Namespace) -> str:
    lines = [
        f"### Search strategies ({res['space']}, inherit scorer, budget {args.budget}, objectives top-1 and FLOPs)",
        "",
        (
            f"Hypervolume (normalised: 1 - top-1 and FLOPs / {args.budget}; reference point (1, 1); higher is "
            f"better), mean ± std over {args.seeds} seeds, after k scored architectures:"
        ),
        "",
    ]
    ks = sorted({k for k in (5, 10, 20, 30, 40, 60, 80, 100, args.evals) if k <= args.evals})
    lines.append("| strategy | " + " | ".join(f"k={k}" for k in ks) + " |")
    lines.append("|---|" + "---|" * len(ks))
    for strategy, curves in res["hv_curves"].items():
        cells = []
        for k in ks:
            vals = [c[k - 1] if len(c) >= k else c[-1] for c in curves]
            cells.append(f"{np.mean(vals):.4f} ± {np.std(vals):.4f}")
        lines.append(f"| {strategy} | " + " | ".join(cells) + " |")
    sc = res["scorers"]
    lines += [
        "",
        f"Scorers on the same {args.scorer_archs} feasible architectures (1 thread):",
        "",
        "| scorer | seconds | candidates / min |",
        "|---|---|---|",
        f"| inherit (BN recalibration on 2 x 128 images + val top-1) | {sc['inherit']['seconds']:.1f} | {sc['inherit']['candidates_per_min']:.1f} |",
        f"| finetune ({args.finetune_steps} KD steps of batch 64 + val top-1) | {sc['finetune']['seconds']:.1f} | {sc['finetune']['candidates_per_min']:.2f} |",
        "",
        f"Kendall tau, inherit vs finetune: {res['tau_inherit_finetune']:.3f} ({args.scorer_archs} architectures).",
        (
            f"Kendall tau, accuracy predictor (random forest, {args.predictor_train} training archs) vs held-out "
            f"inherit scores: {res['tau_predictor_inherit']:.3f} ({args.predictor_test} archs; inherit top-1 range "
            f"{100 * res['inherit_range'][0]:.1f}-{100 * res['inherit_range'][1]:.1f} %)."
        ),
        f"Kendall tau, predictor fitted on half of the finetune scores vs the other half: {res['tau_predictor_finetune']:.3f}.",
        "",
        (
            f"Accuracy predictor learning curve on all {res['predictor_curve']['n_archs']} inherit scores cached by "
            "the run (train on n random archs, Kendall tau on the rest; mean ± std over 3 splits):"
        ),
        "",
        "| predictor | " + " | ".join(f"n={n}" for n in next(iter(res["predictor_curve"]["tau"].values()))) + " |",
        "|---|" + "---|" * len(next(iter(res["predictor_curve"]["tau"].values()))),
        *[
            f"| {kind} | " + " | ".join(f"{np.mean(v):.3f} ± {np.std(v):.3f}" for v in by_n.values()) + " |"
            for kind, by_n in res["predictor_curve"]["tau"].items()
        ],
        "",
        f"Run: {res['run']}; total {res['total_s'] / 60:.1f} min; torch {res['env']['torch']}.",
    ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
