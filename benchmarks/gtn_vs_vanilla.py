"""GTN vs vanilla teacher on CIFAR-10: does a generic teacher distil better into a pool of students?

Protocol (one script, same code path on CPU and GPU; presets only change sizes):

1. Load CIFAR-10 (official python format, e.g. ``../shared/data``), take a stratified ``--subset``,
   hold out ``--val-fraction`` of it (seeded, stratified) as the validation split on which every
   number is reported. The CIFAR-10 test set is not used.
2. Train a **vanilla** teacher (CE only) and a **GTN** teacher (teacher + student supernet, docs/training.md)
   with the same teacher architecture, data, epochs, batch size, optimiser (1 warm-up epoch) and
   seed; ``--variant NAME:FIELD=VALUE,...`` adds more GTN teachers (other ``GTNConfig`` options)
   compared with the same vanilla teacher.
3. Pick ``--students`` architectures spread evenly in log-FLOPs across the pool (nearest members of
   2,000 seeded uniform samples), and distil each from **every** teacher with the same Hinton KD
   recipe (γ=0.1, α=0.9, T=4, from scratch) and the same seeds; with ``--inherit`` also from each
   GTN teacher starting from its supernet's weights (the full autogtkd pipeline).
4. Report per-student and mean top-1 (validation split), the paired difference to vanilla with a
   95 % t-interval over (student, seed) pairs, the teachers' training wall time and its ratio, and
   the training throughput (images/s) of the teacher step, the supernet step and the GTN step.

``--jobs N`` runs N trainings at once (one process and ``--threads`` threads each); teachers that
train at the same time share the machine alike, so their wall-time ratio stays fair. Every training
resumes from its checkpoint, so a killed benchmark rerun with the same arguments continues.

Usage::

    python benchmarks/gtn_vs_vanilla.py --preset quick --data-dir ../shared/data --out bench/quick
    python benchmarks/gtn_vs_vanilla.py --preset full --jobs 2 --inherit --variant lc025:cond_weight=0.25 \\
        --data-dir ../shared/data --out bench/full
    # a full-size GPU run: same script, larger sizes
    python benchmarks/gtn_vs_vanilla.py --preset full --space mbv3-cifar --image-size 32 --subset 0 \\
        --teacher resnet32x4 --epochs 240 --kd-epochs 240 --batch-size 64 --seeds 3 --device cuda --out bench/gpu
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing
import sys
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from autogtkd.data import load_data
from autogtkd.gtn import ArchDistribution, GTNConfig, StudentBranches, gtn_losses, sample_paths, teacher_geometry
from autogtkd.space import MobileNetV3Space, SearchSpace, create_space, load_space
from autogtkd.teachers import create_teacher
from autogtkd.train import DatasetSpec, KDConfig, OptimConfig, TrainConfig, distill, load_run, train
from autogtkd.train._loops import teacher_step, to_device

PRESETS: dict[str, dict[str, Any]] = {
    # An end-to-end check of the script, not evidence (a few minutes).
    "quick": {
        "space": "mbv3-cifar16-narrow",
        "image_size": 16,
        "subset": 1500,
        "teacher": "resnet32x4",
        "epochs": 3,
        "kd_epochs": 2,
        "students": 8,
        "seeds": 1,
        "batch_size": 64,
        "paths": 1,
        "throughput_steps": 3,
    },
    # ~30 min with --jobs 2 on the 2-core CPU.
    "medium": {
        "space": "mbv3-cifar16-narrow",
        "image_size": 16,
        "subset": 3000,
        "teacher": "resnet32x4",
        "epochs": 8,
        "kd_epochs": 3,
        "students": 8,
        "seeds": 1,
        "batch_size": 64,
        "paths": 1,
        "throughput_steps": 5,
    },
    # The CPU benchmark of docs/benchmarks_gtn.md (with --jobs 2 --inherit and one extra variant: ~2 h
    # on the 2-core CPU).
    "full": {
        "space": "mbv3-cifar16-narrow",
        "image_size": 16,
        "subset": 5000,
        "teacher": "resnet32x4",
        "epochs": 15,
        "kd_epochs": 3,
        "students": 8,
        "seeds": 1,
        "batch_size": 64,
        "paths": 1,
        "throughput_steps": 10,
    },
}


def narrow_space(num_classes: int = 10) -> MobileNetV3Space:
    """``mbv3-cifar`` at 16x16 pixels with width multipliers {0.35, 0.5}: 4.6-49 MFLOPs (MACs)."""
    base = create_space("mbv3-cifar", num_classes=num_classes)
    assert isinstance(base, MobileNetV3Space)
    return MobileNetV3Space(replace(base.config, name="mbv3-cifar16-narrow", input_size=16, width=(0.35, 0.5)))


def resolve_space(name: str, num_classes: int) -> SearchSpace:
    return narrow_space(num_classes) if name == "mbv3-cifar16-narrow" else load_space(name, num_classes=num_classes)


def pick_students(space: SearchSpace, n: int, seed: int) -> list[Any]:
    """``n`` architectures evenly spaced in log-FLOPs between the smallest and largest of 2,000 seeded
    uniform samples (nearest sample to each target, no repeats)."""
    rng = np.random.default_rng(seed)
    pool = list({space.sample(rng) for _ in range(2000)})
    logf = np.log(np.array([space.flops(a) for a in pool], dtype=float))
    targets = np.linspace(logf.min(), logf.max(), n)
    chosen: list[Any] = []
    for t in targets:
        order = np.argsort(np.abs(logf - t))
        chosen.append(next(pool[i] for i in order if pool[i] not in chosen))
    return chosen


def t_interval(values: list[float], level: float = 0.95) -> tuple[float, float, float]:
    """Mean and two-sided ``level`` Student-t interval (NaN half-width for fewer than 2 values)."""
    from scipy import stats

    x = np.asarray(values, dtype=float)
    m = float(x.mean())
    if len(x) < 2:
        return m, math.nan, math.nan
    half = float(stats.t.ppf(0.5 + level / 2, len(x) - 1) * x.std(ddof=1) / math.sqrt(len(x)))
    return m, m - half, m + half


def throughput(
    space: SearchSpace,
    teacher_name: str,
    image_size: int,
    batch: int,
    steps: int,
    gtn: GTNConfig,
    num_classes: int,
    device: torch.device,
    channels_last: bool = False,
) -> dict[str, float]:
    """Training images/s of one optimiser step (forward + backward + SGD) of the teacher (CE), the
    supernet (one uniformly sampled path, CE) and GTN (``gtn`` options), on random tensors."""
    torch.manual_seed(0)
    x = torch.randn(batch, 3, image_size, image_size, device=device)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, num_classes, (batch,), device=device)
    teacher = to_device(create_teacher(teacher_name, num_classes=num_classes), device, channels_last=channels_last)
    supernet = space.build_supernet(num_classes=num_classes)
    to_device(supernet, device, channels_last=channels_last)
    branches = to_device(StudentBranches(*teacher_geometry(teacher), supernet), device, channels_last=channels_last)
    dist = ArchDistribution(space)
    rng = np.random.default_rng(0)

    def sn_step(xb: torch.Tensor, yb: torch.Tensor) -> torch.Tensor:
        with supernet.activated(space.sample(rng)):
            return torch.nn.functional.cross_entropy(supernet(xb), yb)

    def gtn_step(xb: torch.Tensor, yb: torch.Tensor) -> torch.Tensor:
        return gtn_losses(xb, yb, teacher, supernet, branches, sample_paths(dist, gtn, rng), gtn)[0]

    steps_fns = {
        "teacher": (lambda xb, yb: teacher_step(teacher)(xb, yb)[0], [teacher]),
        "supernet": (sn_step, [supernet]),
        "gtn": (gtn_step, [teacher, supernet, branches]),
    }
    out = {}
    for name, (fn, mods) in steps_fns.items():
        params = [p for m in mods for p in m.parameters()]
        opt = torch.optim.SGD(params, lr=0.01, momentum=0.9)
        for m in mods:
            m.train()
        times = []
        for i in range(steps + 1):
            t0 = time.perf_counter()
            loss = fn(x, y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            if device.type == "cuda":
                torch.cuda.synchronize()
            if i > 0:  # first step is warm-up
                times.append(time.perf_counter() - t0)
        out[f"{name}_images_per_s"] = batch / float(np.median(times))
    return out


@dataclass
class Settings:
    preset: str
    space: str
    image_size: int
    subset: int
    teacher: str
    epochs: int
    kd_epochs: int
    students: int
    seeds: int
    batch_size: int
    paths: int
    throughput_steps: int
    val_fraction: float
    lr: float
    threads: int | None
    device: str
    data_dir: str
    max_steps_per_epoch: int | None
    warmup_epochs: float = 1.0
    channels_last: bool = True
    jobs: int = 1
    inherit: bool = False
    variants: dict[str, dict[str, Any]] = field(default_factory=dict)


def parse_variant(text: str) -> tuple[str, dict[str, Any]]:
    """``NAME:key=value,key=value`` (GTNConfig fields; values parsed as JSON, else kept as strings)."""
    name, _, body = text.partition(":")
    if not name or name == "vanilla":
        raise SystemExit(f"error: --variant {text!r}: give a name other than 'vanilla', e.g. lc05:cond_weight=0.5")
    fields: dict[str, Any] = {}
    for item in filter(None, body.split(",")):
        k, eq, v = item.partition("=")
        if not eq or k not in GTNConfig.__dataclass_fields__:
            raise SystemExit(f"error: --variant {text!r}: {item!r} is not FIELD=VALUE of GTNConfig")
        try:
            fields[k] = json.loads(v)
        except json.JSONDecodeError:
            fields[k] = v
    return name, fields


def _data(s: Settings) -> Any:
    return load_data(
        "cifar10",
        data_dir=s.data_dir,
        image_size=s.image_size,
        val_fraction=s.val_fraction,
        seed=0,
        subset=s.subset or None,
    )


def _train_task(out: str, s: Settings, name: str) -> dict[str, Any]:
    """Train the teacher ``name`` (``vanilla`` or a GTN variant) into ``out/runs/name``; resumes."""
    if s.threads:
        torch.set_num_threads(s.threads)
    data = _data(s)
    spec = DatasetSpec(
        name="cifar10",
        data_dir=s.data_dir,
        image_size=s.image_size,
        val_fraction=s.val_fraction,
        seed=0,
        subset=s.subset or None,
    )
    cfg = TrainConfig(
        method="vanilla" if name == "vanilla" else "gtn",
        gtn=GTNConfig(**s.variants.get(name, {})),
        epochs=s.epochs,
        batch_size=s.batch_size,
        optim=OptimConfig(lr=s.lr, warmup_epochs=s.warmup_epochs),
        seed=0,
        device=s.device,  # type: ignore[arg-type]
        max_steps_per_epoch=s.max_steps_per_epoch,
        threads=s.threads,
        channels_last=s.channels_last,
    )
    run_dir = train(
        Path(out) / "runs" / name,
        space=resolve_space(s.space, data.num_classes),
        dataset=spec,
        teacher=s.teacher,
        config=cfg,
        data=data,
        progress=False,
    )
    done = json.loads((run_dir / "done.json").read_text())
    return {
        "dir": str(run_dir),
        "wall_time_s": done["wall_time_s"],
        "teacher_val_top1": done["final"].get("val_top1_teacher"),
    }


def _kd_task(
    out: str, s: Settings, teacher: str, init: str, arch: dict[str, Any], student: int, seed: int
) -> dict[str, Any]:
    """Distil ``arch`` from the teacher of ``out/runs/teacher`` (``init`` scratch|inherit); resumes."""
    if s.threads:
        torch.set_num_threads(s.threads)
    data = _data(s)
    run = load_run(Path(out) / "runs" / teacher, load_data=False)
    assert run.teacher is not None
    kd = KDConfig(
        epochs=s.kd_epochs,
        batch_size=s.batch_size,
        optim=OptimConfig(lr=s.lr),
        device=s.device,  # type: ignore[arg-type]
        max_steps_per_epoch=s.max_steps_per_epoch,
        threads=s.threads,
        channels_last=s.channels_last,
        seed=seed,
    )
    arm = teacher if init == "scratch" else f"{teacher}+inherit"
    _, met = distill(
        run.teacher,
        arch,
        space=run.space,
        data=data,
        config=kd,
        init=init,
        supernet=run.supernet,
        checkpoint_path=Path(out) / "students" / f"s{student}-seed{seed}-{arm}.pt",
        progress=False,
    )
    return {"arm": arm, "student": student, "seed": seed, "top1": met["val_top1"], "kd_s": met["wall_time_s"]}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--preset", choices=sorted(PRESETS), default="quick")
    ap.add_argument("--data-dir", default="../shared/data", help="folder holding cifar-10-batches-py")
    ap.add_argument("--out", required=True, help="output folder (runs, students, results.json, report.md)")
    for k in ("space", "teacher"):
        ap.add_argument(f"--{k}")
    for k in (
        "image-size",
        "subset",
        "epochs",
        "kd-epochs",
        "students",
        "seeds",
        "batch-size",
        "paths",
        "throughput-steps",
        "max-steps-per-epoch",
    ):
        ap.add_argument(f"--{k}", type=int)
    ap.add_argument("--val-fraction", type=float, default=0.2)
    ap.add_argument("--lr", type=float, default=0.05)
    ap.add_argument("--warmup-epochs", type=float, default=1.0, help="linear LR warm-up of the teachers' training")
    ap.add_argument(
        "--threads", type=int, default=1, help="torch CPU threads per job (1 avoids oversubscription on CPUs)"
    )
    ap.add_argument("--jobs", type=int, default=1, help="trainings run at once, one process each (e.g. CPU cores)")
    ap.add_argument("--device", default="cpu", choices=("cpu", "cuda", "auto"))
    ap.add_argument(
        "--channels-last",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="NHWC tensors (about 2x faster MobileNetV3 training on CPU)",
    )
    ap.add_argument(
        "--inherit",
        action="store_true",
        help="also distil each student from each GTN teacher starting from the GTN supernet's weights",
    )
    # The base GTN variant (GTNConfig fields; defaults are GTNConfig's) ...
    ap.add_argument("--cond-weight", type=float, default=1.0, help="GTN λ_c")
    ap.add_argument("--kl-weight", type=float, default=1.0, help="GTN λ_kl")
    ap.add_argument("--arch-loss", default="uniform", choices=("uniform", "reinforce-hard", "gumbel", "pool-prior"))
    ap.add_argument("--max-path-mflops", type=float, default=None, help="sample GTN paths up to this many MFLOPs")
    # ... and further variants trained and distilled in the same run, compared with the same vanilla teacher.
    ap.add_argument(
        "--variant",
        action="append",
        default=[],
        metavar="NAME:FIELD=VALUE,...",
        help="an extra GTN teacher, e.g. lc05:cond_weight=0.5 (repeatable)",
    )
    args = ap.parse_args(argv)

    p = dict(PRESETS[args.preset])
    for k in list(p):
        v = getattr(args, k, None)
        if v is not None:
            p[k] = v
    base = {
        "paths": p["paths"],
        "cond_weight": args.cond_weight,
        "kl_weight": args.kl_weight,
        "arch_loss": args.arch_loss,
        "max_path_mflops": args.max_path_mflops,
    }
    variants = {"gtn": base}
    for text in args.variant:
        name, fields = parse_variant(text)
        variants[name] = {**base, **fields}
    s = Settings(
        preset=args.preset,
        val_fraction=args.val_fraction,
        lr=args.lr,
        warmup_epochs=args.warmup_epochs,
        threads=args.threads,
        device=args.device,
        data_dir=str(args.data_dir),
        max_steps_per_epoch=args.max_steps_per_epoch,
        channels_last=args.channels_last,
        jobs=args.jobs,
        inherit=args.inherit,
        variants=variants,
        **p,
    )
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    t_all = time.perf_counter()
    if s.threads:
        torch.set_num_threads(s.threads)  # benchmark process: its own setting
    device = torch.device("cuda" if s.device in ("cuda", "auto") and torch.cuda.is_available() else "cpu")
    data = _data(s)
    space = resolve_space(s.space, data.num_classes)
    print(
        f"data: {len(data.train)} train / {len(data.val)} val images at {s.image_size}px; space {space.name}; "
        f"teacher {s.teacher}; GTN variants {variants}; {s.jobs} job(s)",
        flush=True,
    )
    students = pick_students(space, s.students, seed=0)
    teachers = ["vanilla", *variants]
    arms = [*teachers, *(f"{v}+inherit" for v in variants if s.inherit)]
    runs: dict[str, dict[str, Any]] = {}
    kd: list[dict[str, Any]] = []
    ctx = multiprocessing.get_context("spawn")  # fork after torch's thread pools start can deadlock
    with ProcessPoolExecutor(max_workers=s.jobs, mp_context=ctx) as pool:
        pending = {pool.submit(_train_task, str(out), s, t): ("train", t) for t in teachers}
        while pending:
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for fut in done:
                kind, name = pending.pop(fut)
                res = fut.result()
                if kind == "train":
                    runs[name] = res
                    print(
                        f"{name} teacher: {res['wall_time_s']:.0f} s, val top-1 {res['teacher_val_top1']}", flush=True
                    )
                    inits = ["scratch", "inherit"] if (s.inherit and name != "vanilla") else ["scratch"]
                    for init in inits:
                        for i, arch in enumerate(students):
                            for seed in range(s.seeds):
                                f = pool.submit(_kd_task, str(out), s, name, init, arch.to_dict(), i, seed)
                                pending[f] = ("kd", name)
                else:
                    kd.append(res)
                    print(
                        f"student {res['student']} seed {res['seed']} from {res['arm']}: {res['top1']:.4f} "
                        f"({len(kd)}/{len(students) * s.seeds * len(arms)})",
                        flush=True,
                    )

    rows = []
    for i, arch in enumerate(students):
        for seed in range(s.seeds):
            row: dict[str, Any] = {
                "student": i,
                "seed": seed,
                "flops": space.flops(arch),
                "params": space.params(arch),
                "arch": arch.to_dict(),
            }
            for r in kd:
                if r["student"] == i and r["seed"] == seed:
                    row[f"{r['arm']}_top1"], row[f"{r['arm']}_kd_s"] = r["top1"], r["kd_s"]
            rows.append(row)
    compared = [a for a in arms if a != "vanilla"]
    per_student = []
    for i in range(len(students)):
        rs = [r for r in rows if r["student"] == i]
        entry: dict[str, Any] = {"student": i, "flops": rs[0]["flops"], "arch": rs[0]["arch"]}
        for m in arms:
            entry[m] = t_interval([r[f"{m}_top1"] for r in rs])
        for m in compared:
            entry[f"{m}-vanilla"] = t_interval([r[f"{m}_top1"] - r["vanilla_top1"] for r in rs])
        per_student.append(entry)
    tp = {
        v: throughput(
            space,
            s.teacher,
            s.image_size,
            s.batch_size,
            s.throughput_steps,
            GTNConfig(**variants[v]),
            data.num_classes,
            device,
            channels_last=s.channels_last,
        )
        for v in variants
    }
    results = {
        "settings": asdict(s),
        "validation": f"stratified {s.val_fraction:.0%} hold-out of a {len(data.train) + len(data.val)}-image "
        "stratified subset of the CIFAR-10 training set (seed 0); the test set is not used",
        "arms": arms,
        "teachers": runs,
        "teacher_time_ratio_over_vanilla": {
            v: runs[v]["wall_time_s"] / runs["vanilla"]["wall_time_s"] for v in variants
        },
        "rows": rows,
        "per_student": per_student,
        "mean_top1": {
            m: t_interval(
                [float(np.mean([r[f"{m}_top1"] for r in rows if r["student"] == i])) for i in range(len(students))]
            )
            for m in arms
        },
        "gain_over_vanilla": {m: t_interval([r[f"{m}_top1"] - r["vanilla_top1"] for r in rows]) for m in compared},
        "throughput": tp,
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "device": str(device),
        "total_wall_time_s": time.perf_counter() - t_all,
    }
    (out / "results.json").write_text(json.dumps(results, indent=2))
    report = render(results)
    (out / "report.md").write_text(report)
    print(report)
    return 0


def _pct(ci: tuple[float, float, float]) -> str:
    m, lo, hi = ci
    return f"{100 * m:.2f}" if math.isnan(lo) else f"{100 * m:.2f} [{100 * lo:.2f}, {100 * hi:.2f}]"


def render(r: dict[str, Any]) -> str:
    s = r["settings"]
    arms: list[str] = r["arms"]
    compared = [a for a in arms if a != "vanilla"]
    lines = [
        f"### GTN vs vanilla teacher ({s['preset']} preset)",
        "",
        (
            f"Top-1 in %, on the validation split ({r['validation']}); brackets: 95 % t-interval "
            f"({s['seeds']} seed(s) per student; over students for means; over (student, seed) pairs for the gains). "
            "`X+inherit`: the student starts from the GTN supernet's weights instead of from scratch."
        ),
        "",
        "| student | MFLOPs (MACs) | "
        + " | ".join(arms)
        + " | "
        + " | ".join(f"{a} − vanilla" for a in compared)
        + " |",
        "|---|---|" + "---|" * (len(arms) + len(compared)),
    ]
    for e in r["per_student"]:
        lines.append(
            f"| {e['student']} | {e['flops'] / 1e6:.1f} | "
            + " | ".join(_pct(e[a]) for a in arms)
            + " | "
            + " | ".join(_pct(e[f"{a}-vanilla"]) for a in compared)
            + " |"
        )
    lines += [
        "| **mean** | | "
        + " | ".join(_pct(r["mean_top1"][a]) for a in arms)
        + " | "
        + " | ".join(f"**{_pct(r['gain_over_vanilla'][a])}**" for a in compared)
        + " |",
        "",
        f"Teachers ({s['teacher']}, {s['epochs']} epochs, wall time with {s['jobs']} job(s) sharing the machine): "
        + "; ".join(
            f"{t} {v['wall_time_s']:.0f} s (val top-1 {100 * (v['teacher_val_top1'] or 0):.1f} %)"
            for t, v in r["teachers"].items()
        )
        + ". Cost ratio over vanilla: "
        + ", ".join(f"{v} {x:.2f}" for v, x in r["teacher_time_ratio_over_vanilla"].items())
        + ".",
        "",
        f"Training throughput alone on the machine (images/s, batch {s['batch_size']}, median of "
        f"{s['throughput_steps']} steps, channels_last={s['channels_last']}): "
        + "; ".join(
            f"{v}: teacher step {t['teacher_images_per_s']:.0f}, supernet step (one random path) "
            f"{t['supernet_images_per_s']:.0f}, GTN step {t['gtn_images_per_s']:.0f} "
            f"(step ratio {t['teacher_images_per_s'] / t['gtn_images_per_s']:.2f})"
            for v, t in r["throughput"].items()
        )
        + ".",
        "",
        (
            f"Settings: {json.dumps(s)}; torch {r['torch']}, {r['threads']} thread(s) per job, {r['device']}; "
            f"total {r['total_wall_time_s'] / 60:.1f} min."
        ),
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
