"""Quality of the embedded default run's supernet, scored as ``autogtkd search`` scores it.

Trains ``default_run_config()`` (plus JSON overrides of ``TrainConfig`` fields) into ``--out``, then
scores the smallest subnet, the subnets nearest 50/100/200/300 MFLOPs (MACs) among 1,500 seeded
uniform samples, and the largest with :class:`autogtkd.evaluate.InheritScorer` (export, BatchNorm
recalibration on 2 batches of 128 calibration images, top-1 on the whole validation split).
Prints one JSON line (accuracies as fractions, training wall time in seconds).

Usage (the numbers in docs/training.md):

    python benchmarks/default_run_quality.py --out /tmp/dq/after
    python benchmarks/default_run_quality.py --out /tmp/dq/before \\
        --override '{"batch_size": 32, "supernet_init": "default"}'
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path

import numpy as np
import torch

from autogtkd._config import to_dict
from autogtkd.evaluate import InheritScorer
from autogtkd.train import default_run_config, load_run, top1, train, train_config_from_dict


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", required=True, help="run directory (replaced)")
    ap.add_argument("--override", default="{}", help="JSON object of TrainConfig fields (nested: gtn, optim)")
    ap.add_argument("--targets", type=float, nargs="*", default=[50, 100, 200, 300], help="MFLOPs (MACs)")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    dataset, space, teacher, cfg = default_run_config()
    data = to_dict(cfg)
    for k, v in json.loads(args.override).items():
        data[k] = {**data.get(k, {}), **v} if isinstance(v, dict) else v
    cfg = train_config_from_dict(data)
    out = Path(args.out)
    shutil.rmtree(out, ignore_errors=True)
    t0 = time.perf_counter()
    train(out, space=space, dataset=dataset, teacher=teacher, config=cfg, progress=False)
    train_s = time.perf_counter() - t0
    run = load_run(out)
    sp = run.space
    rng = np.random.default_rng(0)
    samples = [sp.sample(rng) for _ in range(1500)]
    mflops = np.array([sp.flops(a) for a in samples]) / 1e6
    archs = {"smallest": sp.smallest()}
    archs.update({f"~{t:g}": samples[int(np.argmin(abs(mflops - t)))] for t in args.targets})
    archs["largest"] = sp.largest()
    calib = run.data.loader("calib", batch_size=128, shuffle=False, augment=False)
    val = run.data.loader("val", batch_size=256, shuffle=False, augment=False)
    scorer = InheritScorer(run.supernet, calib, val, calib_batches=2)
    acc = {"teacher": top1(run.teacher, val, torch.device("cpu"))}
    for name, a in archs.items():
        acc[f"{name} ({sp.flops(a) / 1e6:.0f}M)"] = scorer.evaluate(a)["accuracy"]
    print(json.dumps({"override": json.loads(args.override), "train_s": round(train_s, 1),
                      "top1": {k: round(v, 4) for k, v in acc.items()}}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
