"""Scale in numbers: training throughput (teacher / supernet / GTN steps) and search throughput vs workers.

Two sub-commands, each printing a Markdown table and writing JSON (``--out``):

``train``
    Images per second of one optimisation step (forward, backward, SGD update) of the three training
    steps of :mod:`autogtkd.train` on a search space (default ``mbv3-cifar`` at its 32 px input) with
    random inputs: the vanilla **teacher** step (CE), the **supernet** step (in-place distillation:
    largest + smallest + ``--inplace-paths`` random subnets) and the **GTN** step (teacher + ``n``
    student paths through the branches). The step functions are those :func:`autogtkd.train.train`
    runs (``build_models`` + ``build_phases``). A grid over ``--threads`` and ``--batch-sizes`` for
    the three steps, then GTN at ``--paths`` (1, 2, 4) with the first thread count and batch size.
    Paths are sampled, so a GTN step's cost varies with the sampled architectures: ``--steps`` timed
    steps after one warm-up step, the median step time is reported.

``search``
    Trials per minute of :func:`autogtkd.search.search` with ``--workers`` (1, 2, 4) processes on one
    study, for each ``--storage`` (``sqlite``: a file in a temporary folder; ``journal``: an Optuna
    journal file; or a ``postgresql+psycopg2://`` URL), with a cheap user evaluator that sleeps
    ``--eval-ms`` per architecture on a 1,000-architecture ``ChoiceSpace``. Rate = scored trials /
    (last completion - first start) of the study, so interpreter start-up is not counted; the wall
    time of the whole launch is reported beside it. Every run also checks that the study holds exactly
    ``--trials`` scored trials with distinct architectures and that the evaluator ran exactly that
    many times (no duplicates, no losses).

Usage (the commands of docs/scaling.md)::

    python benchmarks/scaling.py train --threads 1 2 --batch-sizes 32 64 --paths 1 2 4 --steps 3 \\
        --out bench/scaling_train.json
    python benchmarks/scaling.py search --storage sqlite journal --workers 1 2 4 --trials 40 --eval-ms 200 \\
        --out bench/scaling_search.json
    python benchmarks/scaling.py search --storage postgresql+psycopg2://postgres@127.0.0.1:PORT/DB \\
        --workers 1 2 4 --trials 40 --eval-ms 200 --out bench/scaling_search_pg.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np


# ---------------------------------------------------------------------------------------------- train
def _step_time(kind: str, space_name: str, teacher_name: str, batch: int, threads: int, paths: int,
               inplace_paths: int, steps: int, seed: int) -> dict[str, Any]:
    """Median seconds of one optimisation step of ``kind`` (teacher | supernet | gtn), inputs
    ``(batch, C, H, W)`` random, on the CPU with ``threads`` intra-op threads."""
    import torch

    from autogtkd.gtn import GTNConfig
    from autogtkd.space import create_space
    from autogtkd.teachers import create_teacher
    from autogtkd.train import TrainConfig, TrainState
    from autogtkd.train._methods import build_models, build_phases

    torch.set_num_threads(threads)
    space = create_space(space_name)
    method = {"teacher": "vanilla", "supernet": "inplace", "gtn": "gtn"}[kind]
    cfg = TrainConfig(method=method, batch_size=batch, seed=seed, device="cpu", inplace_paths=inplace_paths,
                      gtn=GTNConfig(paths=paths))
    teacher = None if method == "inplace" else create_teacher(teacher_name, num_classes=space.num_classes,
                                                              in_channels=space.in_channels)
    models = build_models(space, teacher, cfg, num_classes=space.num_classes)
    phase = build_phases(models, cfg, TrainState(rng=np.random.default_rng(seed)), torch.device("cpu"), lambda: None)[-1]
    for m in phase.train_modules:
        m.train()
    params = [p for m in phase.train_modules for p in m.parameters() if p.requires_grad]
    sgd = torch.optim.SGD(params, lr=0.01, momentum=0.9)
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, space.in_channels, space.input_size, space.input_size, generator=gen)
    y = torch.randint(0, space.num_classes, (batch,), generator=gen)
    times = []
    for i in range(steps + 1):  # the first step warms up allocators and is not counted
        t0 = time.perf_counter()
        sgd.zero_grad(set_to_none=True)
        loss, _ = phase.step(x, y)
        loss.backward()
        sgd.step()
        if i:
            times.append(time.perf_counter() - t0)
    med = statistics.median(times)
    return {"step": kind, "paths": paths if kind == "gtn" else None, "batch": batch, "threads": threads,
            "step_s": med, "img_per_s": batch / med, "steps": steps}


def bench_train(args: argparse.Namespace) -> list[dict[str, Any]]:
    rows = []
    for threads in args.threads if args.grid else []:
        for batch in args.batch_sizes:
            for kind in ("teacher", "supernet", "gtn"):
                rows.append(_step_time(kind, args.space, args.teacher, batch, threads, args.gtn_paths,
                                       args.inplace_paths, args.steps, args.seed))
                _print_row(rows[-1])
    for p in args.paths:
        rows.append(_step_time("gtn", args.space, args.teacher, args.batch_sizes[0], args.threads[0], p,
                               args.inplace_paths, args.steps, args.seed))
        _print_row(rows[-1])
    return rows


def _print_row(r: dict[str, Any]) -> None:
    print(f"{r['step']:<9} paths={r['paths']!s:<4} batch={r['batch']:<4} threads={r['threads']} "
          f"{r['step_s']:.3f} s/step  {r['img_per_s']:.1f} img/s", flush=True)


# ---------------------------------------------------------------------------------------------- search
_WORKER = "_search_worker"


def _open(storage: str) -> Any:
    """The storage argument for :func:`search`: a URL, or an Optuna journal-file storage for ``journal:PATH``."""
    if storage.startswith("journal:"):
        import optuna

        return optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(storage[len("journal:"):]))
    return storage


def _search_worker(argv: list[str]) -> None:
    """One worker process: ``storage study n_trials seed eval_ms log``."""
    from autogtkd.search import SearchProblem, search
    from autogtkd.space import ChoiceSpace

    storage, study, n_trials, seed, eval_ms, log = argv[0], argv[1], int(argv[2]), int(argv[3]), float(argv[4]), argv[5]
    space = ChoiceSpace("scale", {"a": list(range(10)), "b": list(range(10)), "c": list(range(10))})

    def cheap(arch: Any) -> dict[str, float]:
        time.sleep(eval_ms / 1000)
        with open(log, "a", encoding="utf-8") as f:
            f.write(arch.key + "\n")
        return {"accuracy": (arch["a"] + arch["b"] + arch["c"]) / 27}

    problem = SearchProblem(space, cheap, costs=lambda a: {"flops": 1.0 + a["a"] * a["b"] * a["c"]})
    search(problem, strategy="random", n_trials=n_trials, seed=seed, storage=_open(storage), study_name=study,
           heartbeat_interval=5, poll_s=0.1)


def _one_search(storage: str, workers: int, trials: int, eval_ms: float, tmp: Path) -> dict[str, Any]:
    import optuna

    study = f"scale-{uuid.uuid4().hex[:8]}"
    label = storage.split(":")[0]
    if storage == "sqlite":
        storage = f"sqlite:///{tmp / (study + '.db')}"
    elif storage == "journal":
        storage = f"journal:{tmp / (study + '.log')}"
    log = tmp / f"{study}.calls"
    t0 = time.perf_counter()
    procs = [
        subprocess.Popen([sys.executable, __file__, _WORKER, storage, study, str(trials), str(seed), str(eval_ms), str(log)])
        for seed in range(workers)
    ]
    codes = [p.wait() for p in procs]
    wall = time.perf_counter() - t0
    if any(codes):
        raise SystemExit(f"a worker failed: exit codes {codes}")
    st = _open(storage)
    done = [t for t in optuna.load_study(study_name=study, storage=st).get_trials()
            if t.state.name == "COMPLETE" and t.user_attrs.get("status") == "evaluated"]
    keys = [t.user_attrs["arch_key"] for t in done]
    calls = log.read_text().splitlines()
    ok = len(done) == trials and len(set(keys)) == trials and len(calls) == len(set(calls)) == trials
    span = (max(t.datetime_complete for t in done) - min(t.datetime_start for t in done)).total_seconds()
    return {"storage": label, "workers": workers, "trials": trials, "eval_ms": eval_ms, "span_s": span,
            "trials_per_min": 60 * trials / span, "wall_s": wall, "no_duplicates_no_losses": ok}


def bench_search(args: argparse.Namespace) -> list[dict[str, Any]]:
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for storage in args.storage:
            for w in args.workers:
                r = _one_search(storage, w, args.trials, args.eval_ms, Path(tmp))
                rows.append(r)
                print(f"{r['storage']:<10} workers={w} {r['trials']} trials in {r['span_s']:.1f} s: "
                      f"{r['trials_per_min']:.0f} trials/min (wall {r['wall_s']:.1f} s; "
                      f"no duplicates/losses: {r['no_duplicates_no_losses']})", flush=True)
                if not r["no_duplicates_no_losses"]:
                    raise SystemExit("duplicate or lost trials")
    return rows


# ---------------------------------------------------------------------------------------------- main
def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == _WORKER:
        _search_worker(argv[1:])
        return 0
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="what", required=True)
    t = sub.add_parser("train", help="training-step throughput")
    t.add_argument("--space", default="mbv3-cifar")
    t.add_argument("--teacher", default="resnet20")
    t.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    t.add_argument("--batch-sizes", type=int, nargs="+", default=[32, 64])
    t.add_argument("--gtn-paths", type=int, default=4, help="GTN paths in the threads x batch grid (default 4)")
    t.add_argument("--paths", type=int, nargs="*", default=[1, 2, 4], help="GTN paths of the cost sweep (none: no sweep)")
    t.add_argument("--no-grid", dest="grid", action="store_false", help="only the paths sweep")
    t.add_argument("--inplace-paths", type=int, default=2, help="random subnets of the supernet step (default 2)")
    t.add_argument("--steps", type=int, default=3)
    t.add_argument("--seed", type=int, default=0)
    s = sub.add_parser("search", help="search throughput vs workers on one study")
    s.add_argument("--storage", nargs="+", default=["sqlite", "journal"],
                   help="sqlite | journal | a postgresql+psycopg2:// URL (several allowed)")
    s.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    s.add_argument("--trials", type=int, default=40)
    s.add_argument("--eval-ms", type=float, default=200.0)
    for q in (t, s):
        q.add_argument("--out", type=Path, help="JSON file for the rows")
    args = p.parse_args(argv)
    import torch

    rows = bench_train(args) if args.what == "train" else bench_search(args)
    env = {"python": platform.python_version(), "torch": torch.__version__, "cpu_count": os.cpu_count(),
           "machine": platform.machine(), "load_avg_1m": os.getloadavg()[0], "argv": argv}
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps({"env": env, "rows": rows}, indent=2, default=str) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
