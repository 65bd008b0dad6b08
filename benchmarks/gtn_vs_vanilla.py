"""GTN vs vanilla teacher on CIFAR-10 (or CIFAR-100): the pre-registered experiment of docs/benchmarks_gtn.md.

Question: does a generic teacher (GTN), trained once with the student supernet, distil better into
students of the pool than a vanilla teacher (teacher-only effect, B − A), and does the autogtkd
pipeline beat an OFA-style supernet trained with a vanilla teacher (E − D)?

Arms (every student with the same initialisation and data order in every arm, for a given KD seed):

* **A** ``vanilla``: vanilla teacher (CE only) → student from scratch, Hinton KD;
* **B** ``gtn``: GTN teacher → student from scratch, the same KD;
* **C** ``nokd``: no teacher → student from scratch, plain cross-entropy, the same recipe (positive control);
* **D** ``ofa``: supernet distilled from A's vanilla teacher (``supernet-kd`` with ``teacher_init``,
  one random path per step) → inherited student → the same KD from the vanilla teacher;
* **E** ``pipeline``: the GTN supernet (trained with B's teacher) → inherited student → the same KD
  from the GTN teacher.

KD seed ``k`` uses the teachers (and supernets) of seed ``k mod teacher_seeds``: student ``i`` with KD
seed ``k`` is distilled in every arm from teachers of that seed, so the pairs carry teacher-to-teacher
variation too.
Data: a stratified subset of the CIFAR-10 training batches split (seeded, stratified) into training
images, a **selection** split (per-epoch logs; anything chosen, e.g. stage-2 variants, is chosen on
it) and an **evaluation** split (≥ 10,000 images) on which the reported numbers are computed and on
which nothing is chosen; ``--eval-split test`` evaluates on the official test batch instead (exit 2
when it is absent). Every teacher is a run directory (``autogtkd evaluate`` / ``export`` read it) and
every student a student directory (``students/<arm>/s<i>-k<k>``).

``--jobs N`` runs N trainings at once (one process, ``--threads`` threads each). Every task resumes
from its files, so a killed benchmark rerun with the same arguments continues where it stopped;
different settings in the same ``--out`` are refused.

Usage::

    python benchmarks/gtn_vs_vanilla.py --preset cpu --jobs 2 --data-dir ../shared/data --out bench/gtn
    python benchmarks/gtn_vs_vanilla.py --preset cpu --jobs 2 --data-dir ../shared/data --out bench/gtn \\
        --results benchmarks/results/gtn_vs_vanilla.json          # also write the committed summary
    # stage 2 (variants, teacher-only, chosen on the selection split)
    python benchmarks/gtn_vs_vanilla.py --preset cpu --jobs 2 --stage variants --variant fpoff:full_path=off \\
        --data-dir ../shared/data --out bench/gtn
    # GPU, 32 px, the whole training set (CIFAR-100: --dataset cifar100, DATA holding cifar-100-python)
    python benchmarks/gtn_vs_vanilla.py --preset gpu --device cuda --jobs 4 --data-dir DATA --out bench/gtn-gpu
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing
import os
import sys
import time
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from autogtkd._config import key_values
from autogtkd._io import atomic_write_json
from autogtkd.data import DataSplits, ImageTensorDataset, load_data, load_test_split
from autogtkd.data._splits import stratified_split
from autogtkd.exceptions import AutoGTKDError, ConfigError, DataError
from autogtkd.gtn import ArchDistribution, GTNConfig, StudentBranches, gtn_losses, sample_paths, teacher_geometry
from autogtkd.nn import to_device
from autogtkd.space import MobileNetV3Space, SearchSpace, create_space, load_space
from autogtkd.teachers import create_teacher
from autogtkd.train import DatasetSpec, KDConfig, OptimConfig, TrainConfig, distill, load_run, train
from autogtkd.train._run import CHECKPOINT_NAME
from autogtkd.train._steps import teacher_step

DATASET_NAMES = {"cifar10": "CIFAR-10", "cifar100": "CIFAR-100"}
NUM_CLASSES = {"cifar10": 10, "cifar100": 100}
ARMS: tuple[str, ...] = ("vanilla", "gtn", "nokd", "ofa", "pipeline")
ARM_LETTER = {"vanilla": "A", "gtn": "B", "nokd": "C", "ofa": "D", "pipeline": "E"}

PRESETS: dict[str, dict[str, Any]] = {
    # An end-to-end check of the script (tests), not evidence.
    "toy": {
        "space": "mbv3-cifar16-narrow",
        "teacher": "resnet8",
        "image_size": 16,
        "train_images": 96,
        "selection_images": 32,
        "eval_images": 64,
        "epochs": 1,
        "kd_epochs": 1,
        "students": 2,
        "seeds": 2,
        "teacher_seeds": 2,
        "batch_size": 16,
        "max_steps_per_epoch": 2,
    },
    # The registered CPU protocol (docs/benchmarks_gtn.md): about 2.2 h with --jobs 2 on 2 cores.
    "cpu": {
        "space": "mbv3-cifar16-narrow",
        "teacher": "resnet32x4",
        "image_size": 16,
        "train_images": 4000,
        "selection_images": 2000,
        "eval_images": 10000,
        "epochs": 10,
        "kd_epochs": 2,
        "students": 4,
        "seeds": 3,
        "teacher_seeds": 2,
        "batch_size": 64,
        "max_steps_per_epoch": None,
    },
    # The same protocol at 32 px on the whole training set (GPU).
    "gpu": {
        "space": "mbv3-cifar",
        "teacher": "resnet32x4",
        "image_size": 32,
        "train_images": 38000,
        "selection_images": 2000,
        "eval_images": 10000,
        "epochs": 240,
        "kd_epochs": 240,
        "students": 4,
        "seeds": 3,
        "teacher_seeds": 3,
        "batch_size": 64,
        "max_steps_per_epoch": None,
    },
}


@dataclass(frozen=True)
class Settings:
    """Everything that defines a benchmark's numbers (written to ``OUT/settings.json``; a rerun with
    other values in the same folder is refused). ``gtn`` holds the GTNConfig fields of arm B/E."""

    preset: str
    space: str
    teacher: str
    image_size: int
    train_images: int
    selection_images: int
    eval_images: int
    epochs: int
    kd_epochs: int
    students: int
    seeds: int
    teacher_seeds: int
    batch_size: int
    max_steps_per_epoch: int | None
    data_dir: str
    dataset: str = "cifar10"  # or "cifar100" (the official python archives under data_dir)
    eval_split: str = "val"
    eval_batches: int = 2  # per-epoch logs on the first 2 batches of 256 selection images (final numbers: whole splits)
    lr: float = 0.05
    warmup_epochs: float = 1.0
    kd_temperature: float = 4.0
    gtn: dict[str, Any] = field(default_factory=lambda: {"paths": 1})
    device: str = "cpu"
    threads: int | None = 1
    channels_last: bool = True

    def identity(self) -> dict[str, Any]:
        """The settings that change results (not where the data lie or how it runs)."""
        d = asdict(self)
        for k in ("data_dir", "device", "threads"):
            d.pop(k)
        return d


# ------------------------------------------------------------------------------------------- the pool
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


# ------------------------------------------------------------------------------------------- statistics
def t_interval(values: Sequence[float], level: float = 0.95) -> tuple[float, float, float]:
    """Mean and two-sided ``level`` Student-t interval (NaN bounds for fewer than 2 values)."""
    from scipy import stats

    x = np.asarray(values, dtype=float)
    m = float(x.mean())
    if len(x) < 2:
        return m, math.nan, math.nan
    half = float(stats.t.ppf(0.5 + level / 2, len(x) - 1) * x.std(ddof=1) / math.sqrt(len(x)))
    return m, m - half, m + half


def paired_stats(diffs: Sequence[float]) -> dict[str, Any]:
    """Paired comparison of per-pair differences (in points): mean, 95 % t-interval, two-sided
    one-sample t-test and Wilcoxon signed-rank p-values against 0, and the number of pairs."""
    from scipy import stats

    x = np.asarray(diffs, dtype=float)
    m, lo, hi = t_interval(x)
    p_t = float(stats.ttest_1samp(x, 0.0).pvalue) if len(x) > 1 else math.nan
    p_w = float(stats.wilcoxon(x).pvalue) if len(x) > 1 and np.any(x != 0) else math.nan
    return {"mean": m, "ci95": [lo, hi], "p_t": p_t, "p_wilcoxon": p_w, "pairs": len(x)}


# ------------------------------------------------------------------------------------------- data
_SPLITS: dict[str, tuple[DataSplits, ImageTensorDataset, ImageTensorDataset]] = {}  # per worker process


def load_splits(s: Settings) -> tuple[DataSplits, ImageTensorDataset, ImageTensorDataset]:
    """``(training data whose val is the selection split, selection split, evaluation split)``, read once
    per process (see :func:`_read_splits`)."""
    key = json.dumps([s.data_dir, s.image_size, s.train_images, s.selection_images, s.eval_images, s.eval_split])
    if key not in _SPLITS:
        _SPLITS[key] = _read_splits(s)
    return _SPLITS[key]


def _read_splits(s: Settings) -> tuple[DataSplits, ImageTensorDataset, ImageTensorDataset]:
    """``(training data whose val is the selection split, selection split, evaluation split)``.

    A stratified subset of ``train + selection + eval`` images of the dataset's training set is
    split (seed 0) into training and held-out images, and the held-out ones (seed 1) into the selection
    and evaluation splits. ``eval_split="test"`` replaces the evaluation split by the official test batch.
    """
    held = s.selection_images + s.eval_images
    total = s.train_images + held
    base = load_data(
        s.dataset, data_dir=s.data_dir, image_size=s.image_size, val_fraction=held / total, seed=0, subset=total
    )
    rest, sel_idx = stratified_split(base.val.labels.numpy(), s.selection_images / held, np.random.default_rng(1))

    def part(idx: np.ndarray) -> ImageTensorDataset:
        t = torch.as_tensor(idx)
        return ImageTensorDataset(base.val.images[t], base.val.labels[t], mean=base.mean, std=base.std)

    selection, evaluation = part(sel_idx), part(rest)
    if s.eval_split == "test":
        evaluation = load_test_split(s.dataset, s.data_dir, image_size=s.image_size).data
    return replace(base, val=selection), selection, evaluation


def dataset_spec(s: Settings) -> DatasetSpec:
    """What the teachers' run directories record (``autogtkd evaluate RUN --split val`` evaluates the
    held-out selection + evaluation images of this subset)."""
    held = s.selection_images + s.eval_images
    total = s.train_images + held
    return DatasetSpec(
        name=s.dataset, data_dir=s.data_dir, image_size=s.image_size, val_fraction=held / total, seed=0, subset=total
    )


@torch.no_grad()
def accuracy(model: torch.nn.Module, ds: ImageTensorDataset, *, batch: int = 500) -> float:
    """Top-1 (fraction) of ``model`` in eval mode on every image of ``ds``."""
    model.eval()
    correct = 0
    for i in range(0, len(ds), batch):
        x, y = ds.batch(torch.arange(i, min(i + batch, len(ds))))
        correct += int((model(x.contiguous(memory_format=torch.channels_last)).argmax(1) == y).sum())
    return correct / max(len(ds), 1)


@torch.no_grad()
def teacher_fit(
    model: torch.nn.Module, ds: ImageTensorDataset, temperature: float, *, batch: int = 500
) -> dict[str, float]:
    """Train top-1 (no augmentation) and mean softmax entropy (nats) at the KD temperature on ``ds``:
    an underfit teacher's soft targets are already soft (entropy near ln C, e.g. ln 10 = 2.30)."""
    model.eval()
    correct, entropy = 0, 0.0
    for i in range(0, len(ds), batch):
        x, y = ds.batch(torch.arange(i, min(i + batch, len(ds))))
        z = model(x.contiguous(memory_format=torch.channels_last)).float()
        correct += int((z.argmax(1) == y).sum())
        logp = torch.log_softmax(z / temperature, 1)
        entropy += float(-(logp.exp() * logp).sum(1).sum())
    return {"train_top1": correct / len(ds), f"entropy_T{temperature:g}": entropy / len(ds)}


# ------------------------------------------------------------------------------------------- tasks
def _json(path: Path) -> Any:
    return json.loads(path.read_text()) if path.is_file() else None


def _setup(s: Settings) -> None:
    if s.threads:
        torch.set_num_threads(s.threads)


MARKER = "benchmark.json"  # a task's result, written last: present = done


def teacher_run(out: Path, name: str, k: int) -> Path:
    return out / "runs" / f"{name}-k{k}"


def student_dir(out: Path, arm: str, student: int, k: int) -> Path:
    return out / "students" / arm / f"s{student}-k{k}"


def train_config(s: Settings, method: str, k: int, gtn: dict[str, Any], **kw: Any) -> TrainConfig:
    return TrainConfig(
        method=method,  # type: ignore[arg-type]
        gtn=GTNConfig(**gtn),
        epochs=s.epochs,
        batch_size=s.batch_size,
        optim=OptimConfig(lr=s.lr, warmup_epochs=s.warmup_epochs),
        seed=k,
        device=s.device,  # type: ignore[arg-type]
        max_steps_per_epoch=s.max_steps_per_epoch,
        eval_batches=s.eval_batches,
        threads=s.threads,
        channels_last=s.channels_last,
        kd_temperature=s.kd_temperature,
        **kw,
    )


def train_task(out: str, s: Settings, name: str, k: int, gtn: dict[str, Any]) -> dict[str, Any]:
    """Train teacher/supernet ``name`` (``vanilla``, ``ofa`` or a GTN variant) with seed ``k``; then its
    teacher's fit on the training images and top-1 on the evaluation split. Resumes; idempotent."""
    _setup(s)
    o = Path(out)
    run_dir = teacher_run(o, name, k)
    stats_path = run_dir / MARKER
    if (done := _json(stats_path)) is not None:
        return done
    data, _, evaluation = load_splits(s)
    if name == "vanilla":
        cfg = train_config(s, "vanilla", k, {})
    elif name == "ofa":  # OFA-style: supernet distilled from the vanilla teacher of the same seed
        cfg = train_config(
            s,
            "supernet-kd",
            k,
            {},
            teacher_init=str(teacher_run(o, "vanilla", k)),
            kd_sandwich=False,
            inplace_paths=int(gtn.get("paths", 1)),
        )
    else:
        cfg = train_config(s, "gtn", k, gtn)
    train(
        run_dir,
        space=resolve_space(s.space, data.num_classes),
        dataset=dataset_spec(s),
        teacher=s.teacher,
        config=cfg,
        data=data,
        progress=False,
    )
    run = load_run(run_dir, load_data=False)
    assert run.teacher is not None
    wall = json.loads((run_dir / "done.json").read_text())["wall_time_s"]
    res = {
        "name": name,
        "seed": k,
        "dir": str(run_dir),
        "wall_time_s": wall,
        "eval_top1": accuracy(to_device(run.teacher, torch.device("cpu"), channels_last=True), evaluation),
        **teacher_fit(run.teacher, data.train, s.kd_temperature),
    }
    atomic_write_json(stats_path, res)
    return res


def kd_task(
    out: str, s: Settings, arm: str, student: int, arch: dict[str, Any], k: int, teacher: str | None, init: str
) -> dict[str, Any]:
    """Distil student ``student`` with KD seed ``k`` for ``arm`` (teacher run ``teacher`` of seed
    ``k mod teacher_seeds``, or none; ``init`` scratch|inherit from that run's supernet) into
    ``students/<arm>/s<i>-k<k>``, then its top-1 on the selection and evaluation splits. Resumes."""
    _setup(s)
    sdir = student_dir(Path(out), arm, student, k)
    if (done := _json(sdir / MARKER)) is not None:
        return done
    data, _, evaluation = load_splits(s)
    space = resolve_space(s.space, data.num_classes)
    t_mod, supernet = None, None
    if teacher is not None:
        run = load_run(teacher_run(Path(out), teacher, k % s.teacher_seeds), load_data=False)
        t_mod, supernet = run.teacher, run.supernet
    kd = KDConfig(
        epochs=s.kd_epochs,
        batch_size=s.batch_size,
        optim=OptimConfig(lr=s.lr),
        temperature=s.kd_temperature,
        device=s.device,  # type: ignore[arg-type]
        max_steps_per_epoch=s.max_steps_per_epoch,
        eval_batches=s.eval_batches,
        threads=s.threads,
        channels_last=s.channels_last,
        seed=k,
    )
    model, met = distill(
        t_mod, arch, space=space, data=data, config=kd, init=init, supernet=supernet, out_dir=sdir, progress=False
    )
    res = {
        "arm": arm,
        "student": student,
        "seed": k,
        "flops": space.flops(arch),
        "selection_top1": met["val_top1"],  # distill's final top-1 on data.val = the selection split
        "eval_top1": accuracy(model, evaluation),
        "kd_wall_time_s": met["wall_time_s"],
    }
    atomic_write_json(sdir / MARKER, res)
    return res


# ------------------------------------------------------------------------------------------- plan
@dataclass(frozen=True)
class Task:
    """One unit of work: ``fn(*args)`` once every task in ``after`` has finished."""

    key: str
    fn: Callable[..., dict[str, Any]]
    args: tuple[Any, ...]
    after: tuple[str, ...] = ()
    marker: Path | None = None  # the task's result file (``benchmark.json``): present = done

    @property
    def done(self) -> bool:
        return self.marker is not None and self.marker.exists()


def plan(
    out: Path, s: Settings, students: Sequence[Any], variants: dict[str, dict[str, Any]], stage: str
) -> list[Task]:
    """The tasks of ``stage`` (``main``: arms A-E; ``variants``: each variant's teachers → scratch
    students, compared with arm A), in the order they are started (the teachers of a seed side by
    side, then that seed's students, so finished pairs accumulate seed by seed). KD seed ``k`` uses the
    teachers of seed ``k mod teacher_seeds``."""
    o = str(out)
    tasks: list[Task] = []
    if stage == "main":
        teachers = {"vanilla": {}, "gtn": s.gtn}
        arms: dict[str, tuple[str | None, str]] = {
            "vanilla": ("vanilla", "scratch"),
            "gtn": ("gtn", "scratch"),
            "nokd": (None, "scratch"),
            "ofa": ("ofa", "inherit"),
            "pipeline": ("gtn", "inherit"),
        }
    else:
        teachers, arms = dict(variants), {v: (v, "scratch") for v in variants}

    def train(name: str, k: int, cfg: dict[str, Any], after: tuple[str, ...] = ()) -> Task:
        return Task(f"train {name} k{k}", train_task, (o, s, name, k, cfg), after, teacher_run(out, name, k) / MARKER)

    def kd(arm: str, i: int, k: int) -> Task:
        teacher, init = arms[arm]
        after = () if teacher is None else (f"train {teacher} k{k % s.teacher_seeds}",)
        args = (o, s, arm, i, students[i].to_dict(), k, teacher, init)
        return Task(f"kd {arm} s{i} k{k}", kd_task, args, after, student_dir(out, arm, i, k) / MARKER)

    if stage != "main":  # teacher by teacher, so each teacher's students finish soon after it
        for name in arms:
            tasks += [train(name, k, teachers[name]) for k in range(s.teacher_seeds)]
            tasks += [kd(name, i, k) for k in range(s.seeds) for i in range(len(students))]
        return tasks
    for k in range(s.seeds):
        if k < s.teacher_seeds:
            tasks += [train(name, k, cfg) for name, cfg in teachers.items()]
            tasks.append(train("ofa", k, s.gtn, (f"train vanilla k{k}",)))
        tasks += [kd(arm, i, k) for i in range(len(students)) for arm in arms]
    return tasks


def restore(tasks: Sequence[Task], records: dict[str, dict[str, Any]]) -> list[str]:
    """Write the recorded result of every task whose result file is missing (``records``: task key →
    result, e.g. from an earlier machine), except a teacher whose checkpoint is gone while one of its
    students still has to be distilled: that teacher is trained again (same seed). Returns those keys."""
    for t in tasks:
        if t.marker is not None and not t.done and t.key in records:
            atomic_write_json(t.marker, records[t.key])
    retrain = []
    for t in tasks:
        needed = any(t.key in d.after and not d.done for d in tasks)
        if t.done and needed and t.marker is not None and not (t.marker.parent / CHECKPOINT_NAME).exists():
            t.marker.unlink()
            retrain.append(t.key)
    return retrain


def execute(
    tasks: Sequence[Task],
    jobs: int,
    log: Callable[[str], None],
    on_done: Callable[[dict[str, dict[str, Any]]], None] = lambda results: None,
) -> dict[str, dict[str, Any]]:
    """Run ``tasks`` in a pool of ``jobs`` processes (``jobs=0``: in this process), each once its
    dependencies are done, calling ``on_done(results so far)`` after each; returns ``key -> result``."""
    results: dict[str, dict[str, Any]] = {}
    todo = list(tasks)
    if jobs == 0:
        for t in todo:
            results[t.key] = t.fn(*t.args)
            log(f"{t.key}: done ({len(results)}/{len(tasks)})")
            on_done(results)
        return results
    ctx = multiprocessing.get_context("spawn")  # fork after torch's thread pools start can deadlock
    with ProcessPoolExecutor(max_workers=jobs, mp_context=ctx) as pool:
        running: dict[Future[dict[str, Any]], Task] = {}
        while todo or running:
            ready = [t for t in todo if all(d in results for d in t.after)]
            for t in ready[: max(0, jobs - len(running))]:
                todo.remove(t)
                running[pool.submit(t.fn, *t.args)] = t
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            for fut in done:
                t = running.pop(fut)
                results[t.key] = fut.result()
                log(f"{t.key}: done ({len(results)}/{len(tasks)}) {_brief(results[t.key])}")
                on_done(results)
    return results


def _brief(r: dict[str, Any]) -> str:
    keys = ("eval_top1", "train_top1", "wall_time_s", "kd_wall_time_s")
    return ", ".join(f"{k}={r[k]:.4g}" for k in keys if isinstance(r.get(k), float))


# ------------------------------------------------------------------------------------------- summary
def summarise(
    s: Settings,
    results: dict[str, dict[str, Any]],
    students: Sequence[Any],
    space: SearchSpace,
    stage: str,
    variants: dict[str, dict[str, Any]],
    eval_images: int,
) -> dict[str, Any]:
    """The results file: per-pair top-1, the registered comparisons and the teachers' fit and cost."""
    kd = [r for key, r in results.items() if key.startswith("kd ")]
    top1: dict[tuple[str, int, int], float] = {(r["arm"], r["student"], r["seed"]): 100 * r["eval_top1"] for r in kd}
    sel: dict[tuple[str, int, int], float] = {
        (r["arm"], r["student"], r["seed"]): 100 * r["selection_top1"] for r in kd
    }
    pairs = [(i, k) for i in range(len(students)) for k in range(s.seeds)]
    teachers = [r for key, r in results.items() if key.startswith("train ")]

    def diff(a: str, b: str, table: dict[tuple[str, int, int], float] = top1) -> list[float]:
        return [table[(a, i, k)] - table[(b, i, k)] for i, k in pairs if (a, i, k) in table and (b, i, k) in table]

    def wall(name: str) -> float:
        return float(np.mean([t["wall_time_s"] for t in teachers if t["name"] == name]))

    out: dict[str, Any] = {
        "stage": stage,
        "eval_images": eval_images,
        "eval_split": f"the official {DATASET_NAMES[s.dataset]} test set"
        if s.eval_split == "test"
        else f"{eval_images} held-out images of the {DATASET_NAMES[s.dataset]} training set (stratified; not the test set)",
        "pairs": len(pairs),
        "students": [{"index": i, "mflops": space.flops(a) / 1e6, "arch": a.to_dict()} for i, a in enumerate(students)],
        "teachers": sorted(teachers, key=lambda t: (t["name"], t["seed"])),
        "mean_top1": {
            a: float(np.mean([v for (arm, _, _), v in top1.items() if arm == a])) for a in sorted({k[0] for k in top1})
        },
        "settings": asdict(s),
        "torch": torch.__version__,
    }
    if stage == "main":
        out.update(
            {
                "teacher_only": paired_stats(diff("gtn", "vanilla")),
                "pipeline": paired_stats(diff("pipeline", "ofa")),
                "no_kd_minus_vanilla": paired_stats(diff("nokd", "vanilla")),
                "pipeline_minus_vanilla_scratch": paired_stats(diff("pipeline", "vanilla")),
                "teacher_cost_ratio": wall("gtn") / wall("vanilla"),
                "ofa_supernet_cost_ratio": wall("ofa") / wall("vanilla"),
            }
        )
    else:
        out["variants"] = {
            v: {
                "gtn_config": variants.get(v, s.gtn),
                "selection_minus_vanilla": paired_stats(diff(v, "vanilla", sel)),
                "eval_minus_vanilla": paired_stats(diff(v, "vanilla")),
                "teacher_cost_ratio": wall(v) / wall("vanilla")
                if any(t["name"] == "vanilla" for t in teachers) and any(t["name"] == v for t in teachers)
                else None,
            }
            for v in [*variants, "gtn"]
        }
        out["decision"] = decide(out["variants"])
    out["rows"] = [
        {"student": i, "seed": k, **{a: top1[(a, i, k)] for a in out["mean_top1"] if (a, i, k) in top1}}
        for i, k in pairs
    ]
    return out


def decide(stats: dict[str, dict[str, Any]], default: str = "gtn") -> dict[str, Any]:
    """The registered rule of stage 2: a variant replaces the shipped default (``default``) only if the
    low end of its selection-split 95 % interval (variant − vanilla) lies above the default's mean
    selection-split difference; among several, the highest mean. Incomplete comparisons decide nothing."""
    ref = stats[default]["selection_minus_vanilla"]
    full = ref.get("pairs", 0)
    complete = {v: st for v, st in stats.items() if st["selection_minus_vanilla"].get("pairs", 0) == full and full}
    if default not in complete or len(complete) < len(stats):
        return {"complete": False, "chosen": None, "reason": "not every variant has all its pairs yet"}
    ref_mean = ref["mean"]
    winners = {
        v: st["selection_minus_vanilla"]["mean"]
        for v, st in complete.items()
        if v != default and st["selection_minus_vanilla"]["ci95"][0] > ref_mean
    }
    chosen = max(winners, key=winners.__getitem__) if winners else None
    return {
        "complete": True,
        "default_selection_mean": ref_mean,
        "beat_the_default": sorted(winners),
        "chosen": chosen,
        "reason": f"{chosen}: its selection-split interval lies above the default's mean {ref_mean:+.2f}"
        if chosen
        else f"no variant's selection-split interval lies above the default's mean {ref_mean:+.2f}: defaults stay",
    }


def _ci(st: dict[str, Any]) -> str:
    lo, hi = st["ci95"]
    return f"{st['mean']:+.2f} [{lo:+.2f}, {hi:+.2f}] (t p={st['p_t']:.3g}, Wilcoxon p={st['p_wilcoxon']:.3g}, n={st['pairs']})"


def render(r: dict[str, Any]) -> str:
    """A markdown report of the results file."""
    s = r["settings"]
    lines = [
        f"### GTN vs vanilla teacher — {r['stage']} stage ({s['preset']} preset)",
        "",
        f"Top-1 in %, on {r['eval_split']}; {r['pairs']} (student, seed) pairs; KD seed k uses the teachers of seed k mod {s['teacher_seeds']}.",
        "",
        "| student | MFLOPs | " + " | ".join(f"{ARM_LETTER.get(a, '')} {a}" for a in r["mean_top1"]) + " |",
        "|---|---|" + "---|" * len(r["mean_top1"]),
    ]
    for st in r["students"]:
        cells = [
            float(np.mean([row[a] for row in r["rows"] if row["student"] == st["index"] and a in row]))
            for a in r["mean_top1"]
        ]
        lines.append(f"| {st['index']} | {st['mflops']:.1f} | " + " | ".join(f"{c:.2f}" for c in cells) + " |")
    lines.append("| **mean** | | " + " | ".join(f"**{v:.2f}**" for v in r["mean_top1"].values()) + " |")
    lines += ["", "| comparison | mean difference, points [95 % CI] |", "|---|---|"]
    if r["stage"] == "main":
        for key, what in (
            ("teacher_only", "B − A: GTN teacher vs vanilla teacher, students from scratch (teacher-only effect)"),
            ("pipeline", "E − D: autogtkd pipeline vs OFA-style supernet + vanilla teacher (inherited students)"),
            ("no_kd_minus_vanilla", "C − A: no KD vs vanilla KD (positive control: should be < 0)"),
            ("pipeline_minus_vanilla_scratch", "E − A: pipeline vs the classic recipe (not a teacher-only effect)"),
        ):
            lines.append(f"| {what} | {_ci(r[key])} |")
        cost = (
            f"Teacher cost ratio (GTN ÷ vanilla wall time, same run): **{r['teacher_cost_ratio']:.2f}**; "
            f"OFA supernet phase ÷ vanilla teacher: {r['ofa_supernet_cost_ratio']:.2f}."
        )
        lines += ["", cost]
    else:
        for v, st in r["variants"].items():
            name = f"{v} (shipped default)" if v == "gtn" else v
            lines.append(f"| {name} − vanilla, selection split | {_ci(st['selection_minus_vanilla'])} |")
            lines.append(f"| {name} − vanilla, evaluation split | {_ci(st['eval_minus_vanilla'])} |")
        lines += ["", f"Decision (registered rule, selection split): {r['decision']['reason']}."]
    lines += ["", "| teacher | seed | train top-1 | entropy at T | eval top-1 | wall s |", "|---|---|---|---|---|---|"]
    for t in r["teachers"]:
        ent = next(v for k, v in t.items() if k.startswith("entropy_T"))
        lines.append(
            f"| {t['name']} | {t['seed']} | {100 * t['train_top1']:.1f} | {ent:.3f} | "
            f"{100 * t['eval_top1']:.1f} | {t['wall_time_s']:.0f} |"
        )
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------------------------------- throughput
def throughput(s: Settings, steps: int = 5) -> dict[str, float]:
    """Training images/s of one optimiser step of the teacher (CE), the GTN step (``s.gtn``) and the OFA
    supernet step (one random path distilled from a frozen teacher), on random tensors, alone."""
    _setup(s)
    num_classes = NUM_CLASSES[s.dataset]
    torch.manual_seed(0)
    space = resolve_space(s.space, num_classes)
    dev = torch.device("cuda" if s.device == "cuda" else "cpu")
    x = torch.randn(s.batch_size, 3, s.image_size, s.image_size, device=dev).contiguous(
        memory_format=torch.channels_last
    )
    y = torch.randint(0, num_classes, (s.batch_size,), device=dev)
    teacher = to_device(create_teacher(s.teacher, num_classes=num_classes), dev, channels_last=True)
    supernet = to_device(space.build_supernet(num_classes=num_classes), dev, channels_last=True)
    branches = to_device(StudentBranches(*teacher_geometry(teacher), supernet), dev, channels_last=True)
    dist, rng, cfg = ArchDistribution(space), np.random.default_rng(0), GTNConfig(**s.gtn)

    def ofa() -> torch.Tensor:
        from autogtkd.gtn import kd_kl

        with torch.no_grad():
            z_t = teacher(x)
        with supernet.activated(space.sample(rng)):
            z = supernet(x)
        return torch.nn.functional.cross_entropy(z, y) + kd_kl(z, z_t, s.kd_temperature)

    fns: dict[str, tuple[Callable[[], torch.Tensor], list[torch.nn.Module]]] = {
        "teacher": (lambda: teacher_step(teacher)(x, y)[0], [teacher]),
        "gtn": (
            lambda: gtn_losses(x, y, teacher, supernet, branches, sample_paths(dist, cfg, rng), cfg)[0],
            [teacher, supernet, branches],
        ),
        "ofa": (ofa, [supernet]),
    }
    out = {}
    for name, (fn, mods) in fns.items():
        opt = torch.optim.SGD([p for m in mods for p in m.parameters()], lr=0.01, momentum=0.9)
        times = []
        for i in range(steps + 1):
            t0 = time.perf_counter()
            loss = fn()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            if dev.type == "cuda":
                torch.cuda.synchronize()
            if i:
                times.append(time.perf_counter() - t0)
        out[f"{name}_images_per_s"] = s.batch_size / float(np.median(times))
    return out


# ------------------------------------------------------------------------------------------- main
def parse_variant(text: str) -> tuple[str, dict[str, Any]]:
    """``NAME:key=value,key=value`` (GTNConfig fields; values read as :func:`autogtkd._config.key_values`
    reads them: JSON, else kept as strings)."""
    name, _, body = text.partition(":")
    if not name or name in ARMS:
        raise SystemExit(f"error: --variant {text!r}: give a name other than {', '.join(ARMS)}")
    items = [item for item in body.split(",") if item]
    names = {f.name for f in fields(GTNConfig)}
    for item in items:
        if item.partition("=")[0] not in names:
            raise SystemExit(f"error: --variant {text!r}: {item!r} is not FIELD=VALUE of GTNConfig")
    try:
        out = key_values(items, what=f"--variant {text!r}:")
    except ConfigError as exc:
        raise SystemExit(f"error: {exc}") from None
    GTNConfig(**out)  # validates
    return name, out


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--preset", choices=sorted(PRESETS), default="cpu")
    ap.add_argument("--dataset", choices=sorted(NUM_CLASSES), default="cifar10")
    ap.add_argument(
        "--data-dir", default="../shared/data", help="folder holding cifar-10-batches-py (cifar-100-python)"
    )
    ap.add_argument(
        "--out", required=True, help="work folder (runs/, students/, settings.json, results-*.json, report-*.md)"
    )
    ap.add_argument("--results", help="also write the summary JSON here (e.g. benchmarks/results/gtn_vs_vanilla.json)")
    ap.add_argument("--stage", choices=("main", "variants"), default="main")
    ap.add_argument(
        "--eval-split",
        choices=("val", "test"),
        default="val",
        help="val: the held-out evaluation split; test: the official test set (exit 2 if absent)",
    )
    ap.add_argument(
        "--variant",
        action="append",
        default=[],
        metavar="NAME:FIELD=VALUE,...",
        help="stage 'variants': a GTN teacher with these GTNConfig fields (repeatable)",
    )
    ap.add_argument(
        "--records",
        help="JSON file of every finished task's result (task key -> result), rewritten after each task and "
        "read at start: a run can continue on another machine from it (teachers whose students are "
        "unfinished are trained again there; e.g. benchmarks/results/gtn_variants_tasks.json)",
    )
    ap.add_argument("--jobs", type=int, default=1, help="trainings at once, one process each (0: in this process)")
    ap.add_argument("--threads", type=int, default=1, help="torch threads per job")
    ap.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    for k in ("students", "seeds", "epochs", "kd-epochs", "train-images", "eval-images", "max-steps-per-epoch"):
        ap.add_argument(f"--{k}", type=int, help="override the preset")
    ap.add_argument("--teacher", help="override the preset")
    ap.add_argument("--throughput-only", action="store_true", help="measure step throughput and exit")
    return ap


def settings_from_args(args: argparse.Namespace) -> Settings:
    p = dict(PRESETS[args.preset])
    for k in (
        "students",
        "seeds",
        "epochs",
        "kd_epochs",
        "train_images",
        "eval_images",
        "max_steps_per_epoch",
        "teacher",
    ):
        if getattr(args, k) is not None:
            p[k] = getattr(args, k)
    return Settings(
        preset=args.preset,
        data_dir=str(args.data_dir),
        dataset=args.dataset,
        eval_split=args.eval_split,
        device=args.device,
        threads=args.threads or None,
        **p,
    )


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    variants = dict(parse_variant(v) for v in args.variant)
    s = settings_from_args(args)
    if args.throughput_only:
        print(json.dumps(throughput(s), indent=2))
        return 0
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    known = _json(out / "settings.json")
    if known is not None and Settings(**known).identity() != s.identity():
        print(f"error: {out} holds a benchmark with other settings (settings.json); use another --out", file=sys.stderr)
        return 2
    atomic_write_json(out / "settings.json", asdict(s))
    if args.stage == "variants" and not variants:
        print("error: --stage variants needs at least one --variant", file=sys.stderr)
        return 2
    t0 = time.perf_counter()
    try:
        _, _, evaluation = load_splits(s)  # fails early (exit 2) on missing data or test batch
    except (AutoGTKDError, DataError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    space = resolve_space(s.space, NUM_CLASSES[s.dataset])
    students = pick_students(space, s.students, seed=0)
    tasks = plan(out, s, students, variants, args.stage)
    if args.stage == "variants":  # the references: arm A (the main stage's vanilla teachers and students)
        # and the shipped default (arm B, its ``gtn`` teachers and students), whose selection-split
        # difference the decision rule compares with; both are deterministic re-runs of stage 1
        main_tasks = plan(out, s, students, {}, "main")
        ref = [t for t in main_tasks if t.key.startswith(("train vanilla", "kd vanilla"))]
        tasks = ref + tasks + [t for t in main_tasks if t.key.startswith(("train gtn ", "kd gtn "))]
    log_path = out / "log.txt"

    def log(msg: str) -> None:
        line = f"{time.strftime('%H:%M:%S')} [{(time.perf_counter() - t0) / 60:.1f} min, load {os.getloadavg()[0]:.2f}] {msg}"
        print(line, flush=True)
        with log_path.open("a") as f:
            f.write(line + "\n")

    log(f"{len(tasks)} tasks, {args.jobs} job(s): {s}")
    records_path = Path(args.records) if args.records else None
    records: dict[str, dict[str, Any]] = (_json(records_path) or {}) if records_path else {}
    if retrain := restore(tasks, records):
        log(f"checkpoints missing, trained again for unfinished students: {', '.join(retrain)}")

    def keep(results: dict[str, dict[str, Any]]) -> None:
        if records_path is not None:
            atomic_write_json(records_path, {**records, **results})

    results = execute(tasks, args.jobs, log, keep)
    summary = summarise(s, results, students, space, args.stage, variants, len(evaluation))
    summary["wall_time_s_this_invocation"] = time.perf_counter() - t0
    summary["throughput_alone"] = throughput(s)
    atomic_write_json(out / f"results-{args.stage}.json", summary)
    report = render(summary)
    (out / f"report-{args.stage}.md").write_text(report)
    if args.results:
        atomic_write_json(Path(args.results), summary)
    print(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
