"""``autogtkd evaluate DIR``: top-1 and per-class accuracy of a student, teacher or run directory on a
validation or official test split (:func:`autogtkd.evaluate.evaluate_dir`)."""

from __future__ import annotations

import argparse
import json
from typing import Any

__all__ = ["register"]


def register(sub: Any) -> None:
    """Add the ``evaluate`` sub-command."""
    p = sub.add_parser(
        "evaluate",
        help="top-1 and per-class accuracy of a student or teacher on the val or test split",
        description=(
            "Evaluate the model in DIR: a student directory (`autogtkd distill`: student.pt, arch.json) or a "
            "training run directory (`autogtkd train`: config.json; its teacher is evaluated -- for a vanilla "
            "run the run is the teacher). --split val (default) rebuilds the validation split DIR records, so "
            "the result matches the training-time validation top-1; --dataset, --image-size, --val-fraction, "
            "--seed, --subset and --data-dir override the recorded values (--dataset is required when DIR "
            "records none). --split test reads the dataset's official test split: CIFAR-10 test_batch, "
            "CIFAR-100 test, an image folder's test/<class>/ (val/ is its validation split); digits has none. "
            "Accuracy is a percentage in the table, a fraction in [0, 1] with --json."
        ),
    )
    p.add_argument("dir", metavar="DIR", help="student directory or training run directory")
    p.add_argument("--split", choices=("val", "test"), default="val", help="which split (default: val)")
    p.add_argument("--dataset", metavar="NAME", help="dataset (default: the one DIR records)")
    p.add_argument("--data-dir", metavar="PATH", help="dataset folder (default: the one DIR records)")
    p.add_argument("--image-size", type=int, metavar="PX", help="image side in pixels (default: the training size)")
    p.add_argument("--val-fraction", type=float, metavar="F", help="val split: share held out (default: recorded)")
    p.add_argument("--seed", type=int, help="val split: seed of the subset and split (default: recorded)")
    p.add_argument("--subset", type=int, metavar="N", help="val split: images before splitting (default: recorded)")
    p.add_argument("--batch-size", type=int, default=256, metavar="N", help="images per forward pass (default: 256)")
    p.add_argument("--device", choices=("auto", "cpu", "cuda", "mps"), default="cpu", help="device (default: cpu)")
    p.add_argument("--threads", type=int, metavar="N", help="torch CPU threads (default: torch's)")
    p.add_argument("--space", metavar="NAME|FILE", help="a student's search space, when arch.json's cannot be rebuilt")
    p.add_argument("--json", action="store_true", help="print the result as JSON (fractions in [0, 1])")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_evaluate)


def _evaluate(args: argparse.Namespace) -> int:
    from autogtkd.evaluate import evaluate_dir

    ev = evaluate_dir(
        args.dir,
        split=args.split,
        dataset=args.dataset,
        data_dir=args.data_dir,
        image_size=args.image_size,
        val_fraction=args.val_fraction,
        seed=args.seed,
        subset=args.subset,
        batch_size=args.batch_size,
        device=args.device,
        threads=args.threads,
        progress=not args.quiet,
        space=args.space,
    )
    if args.json:
        print(json.dumps(ev.to_dict(), indent=2))
        return 0
    label = f"{ev.model} of the run" if ev.kind == "run" else ev.model
    print(f"{ev.dir} ({label}) on the {ev.describe_split()}: {ev.n_images} images")
    recorded = "" if ev.recorded_top1 is None else f"  (training-time validation: {100 * ev.recorded_top1:.2f} %)"
    print(f"top-1 {100 * ev.top1:.2f} %{recorded}")
    width = max(len("class"), *(len(n) for n in ev.class_names))
    print(f"{'class':<{width}}  {'images':>6}  {'top-1 %':>7}")
    for name, n, acc in zip(ev.class_names, ev.accuracy.total, ev.accuracy.per_class):
        print(f"{name:<{width}}  {n:>6}  {'-' if acc is None else f'{100 * acc:.2f}':>7}")
    return 0
