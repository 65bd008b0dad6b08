"""GTN vs vanilla teacher on CIFAR-10: does a generic teacher distil better into a pool of students?

Protocol (one script, same code path on CPU and GPU; presets only change sizes):

1. Load CIFAR-10 (official python format, e.g. ``../shared/data``), take a stratified ``--subset``,
   hold out ``--val-fraction`` of it (seeded, stratified) as the validation split on which every
   number is reported. The CIFAR-10 test set is not used.
2. Train a **vanilla** teacher (CE only) and a **GTN** teacher (teacher + student supernet, DESIGN §1)
   with the same teacher architecture, data, epochs, batch size, optimiser and seed.
3. Pick ``--students`` architectures spread evenly in log-FLOPs across the pool (nearest members of
   2,000 seeded uniform samples), and distil each from **both** teachers with the same Hinton KD
   recipe (γ=0.1, α=0.9, T=4, from scratch) and the same seeds.
4. Report per-student and mean top-1 (validation split), the paired difference GTN − vanilla with a
   95 % t-interval over (student, seed) pairs, the teachers' training wall time and its ratio, and
   the training throughput (images/s) of the teacher step, the supernet step and the GTN step.

Usage::

    python benchmarks/gtn_vs_vanilla.py --preset quick --data-dir ../shared/data --out bench/quick
    python benchmarks/gtn_vs_vanilla.py --preset full  --data-dir ../shared/data --out bench/full
    # a full-size GPU run: same script, larger sizes
    python benchmarks/gtn_vs_vanilla.py --preset full --space mbv3-cifar --image-size 32 --subset 0 \\
        --teacher resnet32x4 --epochs 240 --kd-epochs 240 --batch-size 64 --seeds 3 --device cuda --out bench/gpu
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from autogtkd.data import load_data
from autogtkd.distill import ArchDistribution, GTNConfig, StudentBranches, gtn_losses, sample_paths, teacher_geometry
from autogtkd.space import MobileNetV3Space, SearchSpace, create_space, load_space
from autogtkd.teachers import create_teacher
from autogtkd.train import DatasetSpec, KDConfig, OptimConfig, TrainConfig, distill, load_run, train
from autogtkd.train._loops import teacher_step

PRESETS: dict[str, dict[str, Any]] = {
    # An end-to-end check, not evidence: 22 min measured on the shared 2-core CPU (1 thread).
    "quick": {
        "space": "mbv3-cifar16-narrow",
        "image_size": 16,
        "subset": 1500,
        "teacher": "wrn-16-2",
        "epochs": 3,
        "kd_epochs": 3,
        "students": 8,
        "seeds": 1,
        "batch_size": 64,
        "paths": 1,
        "throughput_steps": 3,
    },
    # Sized for ~35 min on the shared 2-core CPU from the quick run's measured rates (NOT run yet; see
    # docs/benchmarks_gtn.md): enough steps for teachers and students to leave chance.
    "medium": {
        "space": "mbv3-cifar16-narrow",
        "image_size": 16,
        "subset": 3000,
        "teacher": "wrn-16-2",
        "epochs": 6,
        "kd_epochs": 3,
        "students": 6,
        "seeds": 1,
        "batch_size": 64,
        "paths": 1,
        "throughput_steps": 3,
    },
    # Estimated ~1.8 h on an idle 2-core CPU (1 thread), ~3.5 h when shared; see docs/benchmarks_gtn.md.
    "full": {
        "space": "mbv3-cifar16-narrow",
        "image_size": 16,
        "subset": 6000,
        "teacher": "wrn-16-2",
        "epochs": 15,
        "kd_epochs": 4,
        "students": 8,
        "seeds": 2,
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
) -> dict[str, float]:
    """Training images/s of one optimiser step (forward + backward + SGD) of the teacher (CE), the
    supernet (one uniformly sampled path, CE) and GTN (``gtn`` options), on random tensors."""
    torch.manual_seed(0)
    x = torch.randn(batch, 3, image_size, image_size, device=device)
    y = torch.randint(0, num_classes, (batch,), device=device)
    teacher = create_teacher(teacher_name, num_classes=num_classes).to(device)
    supernet = space.build_supernet(num_classes=num_classes)
    torch.nn.Module._apply(supernet, lambda t: t.to(device))
    branches = StudentBranches(*teacher_geometry(teacher), supernet).to(device)
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
    cond_weight: float = 1.0
    kl_weight: float = 1.0
    arch_loss: str = "uniform"
    max_path_mflops: float | None = None


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
    ap.add_argument(
        "--threads", type=int, default=1, help="torch CPU threads (1 avoids oversubscription on shared CPUs)"
    )
    ap.add_argument("--device", default="cpu", choices=("cpu", "cuda", "auto"))
    # GTN variants (GTNConfig fields; defaults are GTNConfig's)
    ap.add_argument("--cond-weight", type=float, default=1.0, help="GTN λ_c")
    ap.add_argument("--kl-weight", type=float, default=1.0, help="GTN λ_kl")
    ap.add_argument("--arch-loss", default="uniform", choices=("uniform", "reinforce-hard", "gumbel", "pool-prior"))
    ap.add_argument("--max-path-mflops", type=float, default=None, help="sample GTN paths up to this many MFLOPs")
    args = ap.parse_args(argv)

    p = dict(PRESETS[args.preset])
    for k in list(p):
        v = getattr(args, k, None)
        if v is not None:
            p[k] = v
    s = Settings(
        preset=args.preset,
        val_fraction=args.val_fraction,
        lr=args.lr,
        threads=args.threads,
        device=args.device,
        data_dir=str(args.data_dir),
        max_steps_per_epoch=args.max_steps_per_epoch,
        cond_weight=args.cond_weight,
        kl_weight=args.kl_weight,
        arch_loss=args.arch_loss,
        max_path_mflops=args.max_path_mflops,
        **p,
    )
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    t_all = time.perf_counter()
    if s.threads:
        torch.set_num_threads(s.threads)  # benchmark process: its own setting
    device = torch.device("cuda" if s.device in ("cuda", "auto") and torch.cuda.is_available() else "cpu")

    spec = DatasetSpec(
        name="cifar10",
        data_dir=s.data_dir,
        image_size=s.image_size,
        val_fraction=s.val_fraction,
        seed=0,
        subset=s.subset or None,
    )
    data = load_data(
        spec.name,
        data_dir=spec.data_dir,
        image_size=spec.image_size,
        val_fraction=spec.val_fraction,
        seed=spec.seed,
        subset=spec.subset,
    )
    space = resolve_space(s.space, data.num_classes)
    print(
        f"data: {len(data.train)} train / {len(data.val)} val images at {s.image_size}px; space {space.name}; "
        f"teacher {s.teacher}",
        flush=True,
    )

    optim = OptimConfig(lr=s.lr)
    gtn = GTNConfig(
        paths=s.paths,
        cond_weight=s.cond_weight,
        kl_weight=s.kl_weight,
        arch_loss=s.arch_loss,  # type: ignore[arg-type]
        max_path_mflops=s.max_path_mflops,
    )
    common = {
        "epochs": s.epochs,
        "batch_size": s.batch_size,
        "optim": optim,
        "seed": 0,
        "device": s.device,
        "max_steps_per_epoch": s.max_steps_per_epoch,
        "threads": s.threads,
    }
    runs = {}
    for method in ("vanilla", "gtn"):
        cfg = TrainConfig(method=method, gtn=gtn, **common)  # type: ignore[arg-type]
        run_dir = train(
            out / "runs" / method,
            space=space,
            dataset=spec,
            teacher=s.teacher,
            config=cfg,
            data=data,
            progress=sys.stderr.isatty(),
        )
        done = json.loads((run_dir / "done.json").read_text())
        runs[method] = {
            "dir": str(run_dir),
            "wall_time_s": done["wall_time_s"],
            "teacher_val_top1": done["final"].get("val_top1_teacher"),
        }
        print(
            f"{method} teacher: {done['wall_time_s']:.0f} s, val top-1 {done['final'].get('val_top1_teacher')}",
            flush=True,
        )
    teachers = {m: load_run(runs[m]["dir"], load_data=False).teacher for m in runs}

    students = pick_students(space, s.students, seed=0)
    kd = KDConfig(
        epochs=s.kd_epochs,
        batch_size=s.batch_size,
        optim=optim,
        device=s.device,
        max_steps_per_epoch=s.max_steps_per_epoch,
        threads=s.threads,
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
            for m, teacher in teachers.items():
                assert teacher is not None
                ck = out / "students" / f"s{i}-seed{seed}-{m}.pt"
                _, met = distill(
                    teacher,
                    arch,
                    space=space,
                    data=data,
                    config=replace(kd, seed=seed),
                    checkpoint_path=ck,
                    progress=False,
                )
                row[f"{m}_top1"] = met["val_top1"]
                row[f"{m}_kd_s"] = met["wall_time_s"]
            rows.append(row)
            print(
                f"student {i} ({row['flops'] / 1e6:.1f} MFLOPs) seed {seed}: vanilla {row['vanilla_top1']:.4f} "
                f"gtn {row['gtn_top1']:.4f}",
                flush=True,
            )

    diffs = [r["gtn_top1"] - r["vanilla_top1"] for r in rows]
    per_student = []
    for i in range(len(students)):
        rs = [r for r in rows if r["student"] == i]
        entry = {"student": i, "flops": rs[0]["flops"], "arch": rs[0]["arch"]}
        for m in ("vanilla", "gtn"):
            entry[m] = t_interval([r[f"{m}_top1"] for r in rs])
        entry["diff"] = t_interval([r["gtn_top1"] - r["vanilla_top1"] for r in rs])
        per_student.append(entry)
    tp = throughput(space, s.teacher, s.image_size, s.batch_size, s.throughput_steps, gtn, data.num_classes, device)
    results = {
        "settings": asdict(s),
        "validation": f"stratified {s.val_fraction:.0%} hold-out of a {len(data.train) + len(data.val)}-image "
        "stratified subset of the CIFAR-10 training set (seed 0); the test set is not used",
        "teachers": runs,
        "teacher_time_ratio_gtn_over_vanilla": runs["gtn"]["wall_time_s"] / runs["vanilla"]["wall_time_s"],
        "rows": rows,
        "per_student": per_student,
        "mean_top1": {
            m: t_interval(
                [float(np.mean([r[f"{m}_top1"] for r in rows if r["student"] == i])) for i in range(len(students))]
            )
            for m in ("vanilla", "gtn")
        },
        "gain_gtn_minus_vanilla": t_interval(diffs),
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
    lines = [
        f"### GTN vs vanilla teacher ({s['preset']} preset)",
        "",
        (f"Top-1 in %, on the validation split ({r['validation']}); brackets: 95 % t-interval "
        f"({s['seeds']} seed(s) per student; over students for means; over (student, seed) pairs for the gain)."),
        "",
        "| student | MFLOPs (MACs) | vanilla teacher | GTN teacher | GTN − vanilla |",
        "|---|---|---|---|---|",
    ]
    for e in r["per_student"]:
        lines.append(
            f"| {e['student']} | {e['flops'] / 1e6:.1f} | {_pct(e['vanilla'])} | {_pct(e['gtn'])} | {_pct(e['diff'])} |"
        )
    lines += [
        (f"| **mean** | | {_pct(r['mean_top1']['vanilla'])} | {_pct(r['mean_top1']['gtn'])} | "
        f"**{_pct(r['gain_gtn_minus_vanilla'])}** |"),
        "",
        (f"Teachers ({s['teacher']}, {s['epochs']} epochs): vanilla {r['teachers']['vanilla']['wall_time_s']:.0f} s "
        f"(val top-1 {100 * (r['teachers']['vanilla']['teacher_val_top1'] or 0):.1f} %), "
        f"GTN {r['teachers']['gtn']['wall_time_s']:.0f} s "
        f"(val top-1 {100 * (r['teachers']['gtn']['teacher_val_top1'] or 0):.1f} %); "
        f"ratio GTN/vanilla = {r['teacher_time_ratio_gtn_over_vanilla']:.2f}."),
        "",
        "Training throughput (images/s, batch {}, median of {} steps): teacher step {:.0f}, supernet step "
        "(one random path) {:.0f}, GTN step ({} path(s)) {:.0f}.".format(
            s["batch_size"],
            s["throughput_steps"],
            r["throughput"]["teacher_images_per_s"],
            r["throughput"]["supernet_images_per_s"],
            s["paths"],
            r["throughput"]["gtn_images_per_s"],
        ),
        "",
        (f"Settings: {json.dumps(s)}; torch {r['torch']}, {r['threads']} thread(s), {r['device']}; "
        f"total {r['total_wall_time_s'] / 60:.1f} min."),
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
