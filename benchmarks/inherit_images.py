"""How many calibration and validation images does the ``inherit`` score need for a stable ranking?
(issue 12 §3; docs/benchmarks.md, "Main job")

On the embedded default run (``AUTOGTKD_HOME`` or ``--home``), ``--students`` seeded uniform
architectures under ``--budget`` (the candidates the default search compares) are scored as
:class:`autogtkd.evaluate.InheritScorer` scores them, with BatchNorm recalibrated on 1, 2 or 4 batches
of 128 calibration images (4 = all 500), keeping every validation image's correctness. The reference
ranking is the score with all calibration and all validation images; for each calibration size and
each number of validation images (seeded random subsets, ``--subsets`` of them) the script prints
Kendall τ-b against the reference (mean and worst over the subsets). Scores are cached in ``--cache``
(resumable). A reduction is only worth taking where τ >= 0.9.

Usage::

    python benchmarks/inherit_images.py --cache /tmp/inherit_images.json
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

from autogtkd._io import atomic_write_json
from autogtkd.budget import parse_budget
from autogtkd.nn import recalibrate_bn

CALIB_BATCHES = (1, 2, 4)


def correctness(model: torch.nn.Module, loader: object) -> list[int]:
    """1/0 per validation image (in loader order): is the top-1 prediction right?"""
    out: list[int] = []
    model.eval()
    with torch.inference_mode():
        for x, y in loader:  # type: ignore[attr-defined]
            out += (model(x).argmax(1) == y).int().tolist()
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--home", help="AUTOGTKD_HOME holding (or to hold) the default run")
    ap.add_argument("--run", help="a trained run directory instead of the default run")
    ap.add_argument("--students", type=int, default=24)
    ap.add_argument("--budget", default="300MFLOPs")
    ap.add_argument("--subsets", type=int, default=20, help="random validation subsets per size")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--cache", required=True, help="JSON cache of per-image correctness (resumable)")
    args = ap.parse_args(argv)
    if args.home:
        os.environ["AUTOGTKD_HOME"] = args.home
    from scipy.stats import kendalltau

    from autogtkd.train import default_run, load_run

    torch.set_num_threads(args.threads)
    run = load_run(args.run or default_run(progress=True))
    space, supernet, data = run.space, run.supernet, run.data
    assert supernet is not None
    budget = parse_budget(args.budget)
    rng = np.random.default_rng(args.seed)
    students: list = []
    while len(students) < args.students:
        a = space.sample(rng)
        if a not in students and budget.allows(space.flops(a)):
            students.append(a)
    calib = data.loader("calib", batch_size=128, shuffle=False, augment=False)
    val = data.loader("val", batch_size=256, shuffle=False, augment=False)
    cache_path = Path(args.cache)
    cache = json.loads(cache_path.read_text()) if cache_path.is_file() else {}
    t_start = time.perf_counter()
    for i, a in enumerate(students):
        for cb in CALIB_BATCHES:
            key = f"{a.key} cb{cb}"
            if key in cache:
                continue
            with torch.random.fork_rng():
                torch.manual_seed(0)
                model = supernet.export(a)
                recalibrate_bn(model, calib, num_batches=cb)
                cache[key] = correctness(model, val)
            atomic_write_json(cache_path, cache)
        print(f"student {i + 1}/{len(students)} ({space.flops(a) / 1e6:.0f} MFLOPs): top-1 "
              + ", ".join(f"cb{cb} {100 * np.mean(cache[f'{a.key} cb{cb}']):.1f}" for cb in CALIB_BATCHES)
              + f"  [{time.perf_counter() - t_start:.0f} s]", flush=True)  # fmt: skip

    n_val = len(cache[f"{students[0].key} cb{CALIB_BATCHES[0]}"])
    corr = {cb: np.array([cache[f"{a.key} cb{cb}"] for a in students], dtype=float) for cb in CALIB_BATCHES}
    ref = corr[max(CALIB_BATCHES)].mean(1)
    sub_rng = np.random.default_rng(args.seed + 1)
    sizes = sorted({n_val // 4, n_val // 2, (3 * n_val) // 4, n_val})
    table: dict[str, dict[str, dict[str, float]]] = {}
    print(f"\n{len(students)} students under {budget}; top-1 % (all images): mean {100 * ref.mean():.2f}, "
          f"min {100 * ref.min():.2f}, max {100 * ref.max():.2f}, stdev {100 * ref.std(ddof=1):.2f}")  # fmt: skip
    print(f"Kendall tau against calibration {max(CALIB_BATCHES)}x128 + all {n_val} validation images "
          f"(mean / worst over {args.subsets} random validation subsets):")  # fmt: skip
    print(f"{'calib images':>12} " + " ".join(f"{m:>14}" for m in sizes))
    for cb in CALIB_BATCHES:
        row = {}
        for m in sizes:
            taus = []
            for _ in range(1 if m == n_val else args.subsets):
                idx = sub_rng.choice(n_val, m, replace=False) if m < n_val else np.arange(n_val)
                taus.append(float(kendalltau(corr[cb][:, idx].mean(1), ref).statistic))
            row[str(m)] = {"mean": float(np.mean(taus)), "worst": float(np.min(taus))}
        table[str(cb * 128)] = row
        print(f"{min(cb * 128, len(data.calib)):>12} "
              + " ".join(f"{r['mean']:>+7.3f}/{r['worst']:>+6.3f}" for r in row.values()))  # fmt: skip
    summary = {
        "students": len(students),
        "budget": str(budget),
        "val_images": n_val,
        "reference": f"calib {max(CALIB_BATCHES)}x128, all validation images",
        "top1": {"mean": float(ref.mean()), "min": float(ref.min()), "max": float(ref.max())},
        "kendall_tau": table,
        "threads": args.threads,
        "load_average": os.getloadavg()[0],
    }
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
