"""Does the search score rank students as their accuracy after distillation does? (docs/search.md)

1. A GTN run: the generic teacher and supernet of ``benchmarks/gtn_vs_vanilla.py`` (``--bench DIR``:
   its ``runs/gtn-k0`` and its data protocol: 4,000 training images, a 2,000-image selection split the
   search scores on, a 10,000-image evaluation split), or the embedded default run on digits
   (``--dataset digits``: scores and distilled accuracy both on digits' 360-image validation split, the
   only held-out images it has).
2. ``--students`` architectures stratified over the pool's FLOPs: one seeded uniform draw per equal-width
   bin of log-FLOPs (the range of 2,000 uniform samples), so small, middle and large students all count.
3. Every student is scored as ``autogtkd search`` scores it: ``inherit`` (supernet weights, BatchNorm
   re-estimated on ``--calib-batches`` batches of 128 calibration images, top-1 on the scoring split),
   ``finetune`` (50 KD steps from the generic teacher, the search's default) and the accuracy predictor
   (fitted on the inherit scores of ``--predictor-train`` other uniform architectures, as prescreening).
4. Every student is then distilled as ``autogtkd distill`` does (init inherit, Hinton KD from the run's
   teacher, one fixed recipe: ``--kd-epochs``) and evaluated on the evaluation split.
5. Kendall τ and Spearman ρ of each score against the distilled top-1, with bootstrap 95 % intervals
   (students resampled 2,000 times); the regret of the pick under 3 FLOPs budgets (best distilled top-1
   under the budget minus the distilled top-1 of the best-scored student under it); τ(inherit,
   distilled) against the number of calibration batches and of scoring images; the predictor's τ
   against the inherit score it predicts; scoring cost per student beside its forward-pass floor.

Every distilled student is a student directory (``OUT/students/s<i>``) and resumes; scores are cached in
``--scores`` (default ``OUT/scores.json``; a committed file lets the run continue on another machine:
a finished student needs only its cached scores). Usage::

    python benchmarks/scorer_fidelity.py --bench bench/gtn --out bench/fidelity --results benchmarks/results/scorer_fidelity.json
    python benchmarks/scorer_fidelity.py --dataset digits --out bench/fidelity-digits --results-key digits \\
        --results benchmarks/results/scorer_fidelity.json
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from autogtkd._io import atomic_write_json
from autogtkd.data import ImageTensorDataset
from autogtkd.evaluate import AccuracyPredictor, FinetuneScorer, InheritScorer
from autogtkd.nn import top1
from autogtkd.space import Arch, SearchSpace
from autogtkd.train import KDConfig, OptimConfig, distill, load_run

BUDGET_QUANTILES = (0.25, 0.5, 0.75)  # FLOPs budgets: these quantiles of the measured students' FLOPs
RESCORE_TOPS = (1, 2, 4)  # --rescore-top K compared (K = 1: the inherit pick itself)


def stratified_students(space: SearchSpace, n: int, seed: int) -> list[Arch]:
    """One seeded uniform draw per equal-width log-FLOPs bin (``n`` bins over the range of 2,000 uniform
    samples); an empty bin takes the unused sample nearest its centre."""
    rng = np.random.default_rng(seed)
    pool = list(dict.fromkeys(space.sample(rng) for _ in range(2000)))  # ordered: reruns pick the same
    logf = np.log(np.array([space.flops(a) for a in pool], dtype=float))
    edges = np.linspace(logf.min(), logf.max() + 1e-9, n + 1)
    chosen: list[Arch] = []
    for b in range(n):
        inside = [i for i in np.flatnonzero((logf >= edges[b]) & (logf < edges[b + 1])) if pool[i] not in chosen]
        if not inside:
            centre = (edges[b] + edges[b + 1]) / 2
            inside = [next(i for i in np.argsort(np.abs(logf - centre)) if pool[i] not in chosen)]
        chosen.append(pool[int(rng.choice(inside))])
    return chosen


def rank_stats(
    score: Sequence[float], truth: Sequence[float], *, resamples: int = 2000, seed: int = 0
) -> dict[str, Any]:
    """Kendall τ-b and Spearman ρ of ``score`` against ``truth`` with percentile-bootstrap 95 % intervals
    (pairs resampled with replacement; resamples with a constant side are skipped)."""
    from scipy.stats import kendalltau, spearmanr

    s, t = np.asarray(score, dtype=float), np.asarray(truth, dtype=float)
    rng = np.random.default_rng(seed)
    taus, rhos = [], []
    for _ in range(resamples):
        idx = rng.integers(0, len(s), len(s))
        if np.ptp(s[idx]) == 0 or np.ptp(t[idx]) == 0:
            continue
        taus.append(kendalltau(s[idx], t[idx]).statistic)
        rhos.append(spearmanr(s[idx], t[idx]).statistic)
    return {
        "kendall_tau": float(kendalltau(s, t).statistic),
        "ci95": [float(np.percentile(taus, 2.5)), float(np.percentile(taus, 97.5))],
        "spearman": float(spearmanr(s, t).statistic),
        "spearman_ci95": [float(np.percentile(rhos, 2.5)), float(np.percentile(rhos, 97.5))],
    }


def regrets(
    flops: Sequence[float],
    score: Sequence[float],
    truth: Sequence[float],
    *,
    rescore: Sequence[float] | None = None,
    top: int = 1,
) -> list[dict[str, float]]:
    """Per FLOPs budget (quantiles of ``flops``): the best true value under it minus the true value of the
    best-scored student under it (points when ``truth`` is in points; 0 = the pick is the best). With
    ``rescore``, the ``top`` best-scored students under the budget are scored again and the best of
    those by ``rescore`` is the pick (what ``autogtkd search --rescore-top`` does)."""
    f, s, t = (np.asarray(v, dtype=float) for v in (flops, score, truth))
    out = []
    for q in BUDGET_QUANTILES:
        budget = float(np.quantile(f, q))
        ok = np.flatnonzero(f <= budget)
        best = ok[np.argsort(-s[ok], kind="stable")[:top]]
        pick = best[0] if rescore is None else best[int(np.argmax(np.asarray(rescore, dtype=float)[best]))]
        out.append({"budget_mflops": budget / 1e6, "students": len(ok), "regret": float(t[ok].max() - t[pick])})
    return out


def _inherit_cost(
    args: argparse.Namespace,
    inherit: InheritScorer,
    students: Sequence[Arch],
    scoring: ImageTensorDataset,
    calib: Any,
    data: Any,
) -> dict[str, float]:
    """One inherit score against its forward-pass floor (the same images through the scorer's own
    recalibrated subnet, same memory format), in seconds."""
    a0 = students[len(students) // 2]
    _, t_score = _timed(lambda: float(inherit.evaluate(a0)["accuracy"]))
    sub = inherit.model(a0).eval()
    n_floor = args.calib_batches * 128 + len(scoring)

    def floor() -> float:
        with torch.inference_mode():
            for x, _ in _loader(ImageTensorDataset(scoring.images, scoring.labels, mean=data.mean, std=data.std), 256):
                sub(x.to(inherit.device))
            for b, (x, _) in enumerate(calib):
                if b >= args.calib_batches:
                    break
                sub(x.to(inherit.device))
        return 0.0

    _, t_floor = _timed(floor)
    return {"seconds": t_score, "forward_floor_seconds": t_floor, "ratio": t_score / max(t_floor, 1e-9), "images": n_floor}


def _json(path: Path) -> Any:
    return json.loads(path.read_text()) if path.is_file() else None


def _loader(ds: ImageTensorDataset, batch: int) -> Any:
    """Unshuffled, unaugmented batches of ``ds`` (re-iterable)."""

    class _Batches:
        def __iter__(self):  # type: ignore[no-untyped-def]
            for i in range(0, len(ds), batch):
                yield ds.batch(torch.arange(i, min(i + batch, len(ds))))

        def __len__(self) -> int:
            return math.ceil(len(ds) / batch)

    return _Batches()


def _context(args: argparse.Namespace) -> tuple[Any, Any, ImageTensorDataset, ImageTensorDataset, dict[str, Any]]:
    """``(run, training data, scoring split, evaluation split, data description)``."""
    if args.dataset == "digits":
        from autogtkd.train import default_run

        run = load_run(default_run(progress=False), device=args.device)
        val = run.data.val
        return (
            run,
            run.data,
            val,
            val,
            {"dataset": "digits", "scoring": "validation split", "evaluation": "validation split"},
        )
    sys.path.insert(0, str(Path(__file__).parent))
    import gtn_vs_vanilla as gvv

    bench = Path(args.bench)
    s = gvv.Settings(**json.loads((bench / "settings.json").read_text()))
    s = replace(s, data_dir=args.data_dir or s.data_dir)
    data, selection, evaluation = gvv.load_splits(s)
    run = load_run(bench / "runs" / "gtn-k0", load_data=False, device=args.device)
    return (
        run,
        data,
        selection,
        evaluation,
        {
            "dataset": "cifar10",
            "image_size": s.image_size,
            "scoring": f"selection split ({len(selection)} held-out training-batch images)",
            "evaluation": f"evaluation split ({len(evaluation)} held-out training-batch images; not the test set)",
        },
    )


def _timed(fn: Callable[[], float]) -> tuple[float, float]:
    t0 = time.perf_counter()
    v = fn()
    return v, time.perf_counter() - t0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dataset", choices=("cifar10", "digits"), default="cifar10")
    ap.add_argument("--bench", help="output folder of benchmarks/gtn_vs_vanilla.py (cifar10)")
    ap.add_argument("--data-dir", help="where cifar-10-batches-py lies (default: as the GTN benchmark recorded)")
    ap.add_argument("--out", required=True)
    ap.add_argument("--scores", help="score cache (JSON; default OUT/scores.json)")
    ap.add_argument("--students", type=int, default=16)
    ap.add_argument("--kd-epochs", type=int, default=2)
    ap.add_argument("--calib-batches", type=int, default=2, help="the search's default")
    ap.add_argument("--finetune-steps", type=int, default=50, help="the search's default")
    ap.add_argument("--predictor-train", type=int, default=100)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--device", default="cpu", help="torch device of the scorers and the KD runs (e.g. cuda)")
    ap.add_argument(
        "--repeat-kd",
        type=int,
        default=0,
        help="distil every student N more times (KD seeds seed+1..seed+N): the noise ceiling of tau, "
        "i.e. how well one KD run's accuracy ranks the students of another",
    )
    ap.add_argument("--no-sensitivity", action="store_true", help="skip tau against calibration batches / images")
    ap.add_argument("--no-cost", action="store_true",
                    help="skip timing inherit against its floor (keep the --results file's earlier timing): for runs "
                         "beside other work, where a timing would not be a result")  # fmt: skip
    ap.add_argument("--max-steps-per-epoch", type=int, help="cut KD epochs short (tests)")
    ap.add_argument("--results", help="merge the summary into this JSON file under --results-key")
    ap.add_argument("--results-key", default="cifar10")
    args = ap.parse_args(argv)
    if args.dataset == "cifar10" and not args.bench:
        print(
            "error: --dataset cifar10 needs --bench DIR (an output folder of benchmarks/gtn_vs_vanilla.py)",
            file=sys.stderr,
        )
        return 2
    torch.set_num_threads(args.threads)
    out = Path(args.out)
    (out / "students").mkdir(parents=True, exist_ok=True)
    run, data, scoring, evaluation, where = _context(args)
    space, supernet, teacher = run.space, run.supernet, run.teacher
    assert supernet is not None and teacher is not None
    students = stratified_students(space, args.students, args.seed)
    calib = data.loader("calib", batch_size=128, shuffle=False, augment=False)
    scores_path = Path(args.scores) if args.scores else out / "scores.json"
    cache = _json(scores_path) or {}

    def scored(key: str, fn: Callable[[], float]) -> float:
        if key not in cache:
            v, sec = _timed(fn)
            cache[key] = {"value": v, "seconds": sec}
            atomic_write_json(scores_path, cache)
        return float(cache[key]["value"])

    inherit = InheritScorer(supernet, calib, _loader(scoring, 256), calib_batches=args.calib_batches, device=args.device)
    finetune = FinetuneScorer(
        supernet, teacher, data.loader("train", batch_size=64, shuffle=True, augment=True, seed=args.seed),
        _loader(scoring, 256), steps=args.finetune_steps, calib_loader=calib, calib_batches=args.calib_batches,
        seed=args.seed, device=args.device,
    )  # fmt: skip
    def distilled(a: Arch, i: int, repeat: int = 0) -> float:
        """Top-1 on the evaluation split after ``autogtkd distill`` (KD seed ``seed + repeat``)."""
        kd = KDConfig(epochs=args.kd_epochs, optim=OptimConfig(lr=0.05), seed=args.seed + repeat, device=args.device,
                      threads=args.threads, channels_last=True, max_steps_per_epoch=args.max_steps_per_epoch)  # fmt: skip
        where = out / "students" / (f"s{i}" if not repeat else f"s{i}-r{repeat}")
        model, _ = distill(teacher, a, space=space, data=data, config=kd, init="inherit", supernet=supernet,
                           out_dir=where, progress=False)  # fmt: skip
        return top1(model, _loader(evaluation, 500), torch.device(args.device))

    rows = []
    for i, a in enumerate(students):

        rows.append({
            "index": i,
            "arch": a.to_dict(),
            "mflops": space.flops(a) / 1e6,
            "inherit": scored(f"inherit s{i}", lambda a=a: float(inherit.evaluate(a)["accuracy"])),
            # "v2": every student sees the same batches (before, a score depended on the students scored before it)
            "finetune": scored(f"finetune v2 s{i}", lambda a=a: float(finetune.evaluate(a)["accuracy"])),
            "distilled": scored(f"distilled s{i}", lambda a=a, i=i: distilled(a, i)),
        })  # fmt: skip
        print(f"student {i} ({rows[-1]['mflops']:.1f} MFLOPs): inherit {rows[-1]['inherit']:.4f}, finetune "
              f"{rows[-1]['finetune']:.4f}, distilled {rows[-1]['distilled']:.4f}", flush=True)  # fmt: skip

    # the noise ceiling: the same students distilled again with other KD seeds
    for r in range(1, args.repeat_kd + 1):
        for i, (row, a) in enumerate(zip(rows, students, strict=True)):
            row[f"distilled_r{r}"] = scored(f"distilled r{r} s{i}", lambda a=a, i=i, r=r: distilled(a, i, r))
            print(f"student {i}: distilled again (KD seed {args.seed + r}) {row[f'distilled_r{r}']:.4f}", flush=True)
    repeats = [[100 * row[f"distilled_r{r}"] for row in rows] for r in range(1, args.repeat_kd + 1)]
    noise = None
    if repeats:
        first = [100 * row["distilled"] for row in rows]
        runs = np.array([first, *repeats])
        noise = {
            "kd_runs": len(runs),
            "kendall_tau_between_runs": rank_stats(repeats[0], first),
            "student_sd_points": float(np.mean(np.std(runs, axis=0, ddof=1))),
            "spread_points": float(np.std(runs.mean(axis=0), ddof=1)),
        }

    # the predictor: fitted on the inherit scores of other uniform architectures, as prescreening
    rng = np.random.default_rng(args.seed + 1)
    others = [a for a in dict.fromkeys(space.sample(rng) for _ in range(4 * args.predictor_train)) if a not in students]
    others = others[: args.predictor_train]
    y_train = [
        scored(f"inherit other {a.to_json()}", lambda a=a: float(inherit.evaluate(a)["accuracy"])) for a in others
    ]
    enc = np.array([space.encode(a) for a in others], dtype=float)
    predictor = AccuracyPredictor().fit(enc, y_train)
    pred = predictor.predict(np.array([space.encode(a) for a in students], dtype=float))
    for r, p in zip(rows, pred, strict=True):
        r["predictor"] = float(p)

    truth = [100 * r["distilled"] for r in rows]
    flops = [1e6 * r["mflops"] for r in rows]
    scorers = {}
    for name in ("inherit", "finetune", "predictor"):
        score = [r[name] for r in rows]
        scorers[name] = {**rank_stats(score, truth), "regrets": regrets(flops, score, truth)}
    scorers["predictor"]["vs_inherit"] = rank_stats(pred, [r["inherit"] for r in rows])

    # re-scoring the top K of inherit with finetune (--rescore-top K), judged against every KD run's mean
    mean_truth = [100 * float(np.mean([r["distilled"], *(r[f"distilled_r{k}"] for k in range(1, args.repeat_kd + 1))]))
                  for r in rows]  # fmt: skip
    inherit_score, finetune_score = [r["inherit"] for r in rows], [r["finetune"] for r in rows]
    rescore = {
        "truth": f"mean top-1 of {args.repeat_kd + 1} KD runs",
        **{f"top{k}": regrets(flops, inherit_score, mean_truth, rescore=finetune_score, top=k) for k in RESCORE_TOPS},
        "finetune": regrets(flops, finetune_score, mean_truth),
    }

    # sensitivity of the inherit ranking to calibration batches and scoring images
    sens: dict[str, Any] = {"calib_batches": {}, "scoring_images": {}}
    for cb in () if args.no_sensitivity else (1, 2, 4, 8):
        sc = InheritScorer(supernet, calib, _loader(scoring, 256), calib_batches=cb, device=args.device)
        v = [
            scored(f"inherit cb{cb} s{i}", lambda a=a, sc=sc: float(sc.evaluate(a)["accuracy"]))
            for i, a in enumerate(students)
        ]
        sens["calib_batches"][str(cb)] = rank_stats(v, truth)["kendall_tau"]
    for n_img in () if args.no_sensitivity else (256, 512, 1024, len(scoring)):
        n_img = min(n_img, len(scoring))
        sub = ImageTensorDataset(scoring.images[:n_img], scoring.labels[:n_img], mean=data.mean, std=data.std)
        sc = InheritScorer(supernet, calib, _loader(sub, 256), calib_batches=args.calib_batches, device=args.device)
        v = [
            scored(f"inherit img{n_img} s{i}", lambda a=a, sc=sc: float(sc.evaluate(a)["accuracy"]))
            for i, a in enumerate(students)
        ]
        sens["scoring_images"][str(n_img)] = rank_stats(v, truth)["kendall_tau"]

    earlier = (_json(Path(args.results)) or {}).get(args.results_key, {}) if args.results else {}
    cost = earlier.get("inherit_cost") if args.no_cost else _inherit_cost(args, inherit, students, scoring, calib, data)
    summary = {
        "n_students": len(rows),
        "eval_images": len(evaluation),
        "scoring_images": len(scoring),
        "data": where,
        "kd_recipe": {"init": "inherit", "epochs": args.kd_epochs, "gamma": 0.1, "alpha": 0.9, "T": 4, "lr": 0.05},
        "calib_batches": args.calib_batches,
        "finetune_steps": args.finetune_steps,
        "predictor_train": len(others),
        "scorers": scorers,
        "sensitivity_kendall_tau": sens,
        "noise_ceiling": noise,
        "rescore_regrets": rescore,
        "inherit_cost": cost,
        "rows": rows,
        "torch": torch.__version__,
        "load_average": os.getloadavg()[0],
    }
    atomic_write_json(out / "results.json", summary)
    if args.results:
        path = Path(args.results)
        merged = _json(path) or {}
        merged[args.results_key] = summary
        atomic_write_json(path, merged)
    for name, st in scorers.items():
        lo, hi = st["ci95"]
        regs = ", ".join(f"{r['budget_mflops']:.0f}M: {r['regret']:.2f}" for r in st["regrets"])
        print(
            f"{name:9s} tau {st['kendall_tau']:+.2f} [{lo:+.2f}, {hi:+.2f}]  rho {st['spearman']:+.2f}  regret (points) {regs}"
        )
    for name, regs in rescore.items():
        if name != "truth":
            print(f"pick regret vs the mean KD run, {name:8s}: " + ", ".join(f"{r['regret']:.2f}" for r in regs))
    if noise is not None:
        nt = noise["kendall_tau_between_runs"]
        print(
            f"noise ceiling: tau between KD runs {nt['kendall_tau']:+.2f} [{nt['ci95'][0]:+.2f}, {nt['ci95'][1]:+.2f}]; "
            f"student sd {noise['student_sd_points']:.2f} points, spread of students {noise['spread_points']:.2f} points"
        )
    print(f"inherit tau vs calibration batches {sens['calib_batches']}; vs scoring images {sens['scoring_images']}")
    if cost is not None:
        print(f"inherit: {cost['seconds']:.2f} s per student, forward floor {cost['forward_floor_seconds']:.2f} s "
              f"({cost['ratio']:.2f}x){' (an earlier run: --no-cost)' if args.no_cost else ''}")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
