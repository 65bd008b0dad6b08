"""``autogtkd distill``: train one student of a search's Pareto front with KD from the generic teacher.

``--run`` is a search output directory (``autogtkd search --out DIR``: ``pareto.json``,
``trials.csv``) or a training run directory (``config.json``; then ``--pick`` must be an
``ARCH.json``). The trained run whose teacher and supernet are used is, in order: ``--train-run RUN``
(``default`` = the embedded default run), the ``run`` entry of ``pareto.json``, or ``--run`` itself
when it is a training run.
"""

from __future__ import annotations

import argparse
import json
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from autogtkd.exceptions import ArchError, ConfigError, RunError

__all__ = ["PICK_FORMS", "Pick", "register", "resolve_pick"]

PICK_FORMS = "an index into the front (0 = first row of `autogtkd pareto show`), knee, best-under:BUDGET, or ARCH.json"
_INDEX = re.compile(r"^-?\d+$")


def register(sub: Any) -> None:
    """Add the ``distill`` sub-command."""
    p = sub.add_parser(
        "distill",
        help="train a student picked from a Pareto front with KD from the generic teacher",
        description=(
            "Extract the picked student, train it with Hinton KD from the run's generic teacher (teacher frozen; "
            "full schedule, progress bar, a checkpoint per epoch) and write the student directory OUT "
            "(student.pt, arch.json, metrics.json, metrics.jsonl, distill.json) for `autogtkd export OUT`. "
            "Rerunning the same command resumes a killed distillation. RUN is a search output directory "
            "(pareto.json) or a training run directory (then --pick must be ARCH.json). The training run "
            "is --train-run, else the run recorded in pareto.json, else RUN itself."
        ),
    )
    p.add_argument("--run", required=True, metavar="RUN", help="search output directory (or training run directory)")
    p.add_argument("--pick", default="knee", metavar="PICK", help=f"which student: {PICK_FORMS} (default: knee)")
    p.add_argument("--train-run", metavar="RUN|default",
                   help="trained run (teacher + supernet) the search used, when pareto.json does not record it; "
                        "'default' = the embedded default run")
    p.add_argument("--out", required=True, metavar="DIR", help="student directory to write (or resume)")
    p.add_argument("--epochs", type=int, metavar="N", help="KD epochs (default: 30)")
    p.add_argument("--init", choices=("inherit", "scratch"), default="inherit",
                   help="inherit: start from the supernet's weights (default); scratch: random initialisation")
    p.add_argument("--batch-size", type=int, metavar="N", help="batch size (default: 64)")
    p.add_argument("--lr", type=float, help="peak SGD learning rate (default: 0.05)")
    p.add_argument("--max-steps-per-epoch", type=int, metavar="N", help="cut epochs short (quick runs)")
    p.add_argument("--seed", type=int, default=0, help="seed of initialisation and data order (default: 0)")
    p.add_argument("--device", choices=("auto", "cpu", "cuda", "mps"), default="auto", help="device (default: auto)")
    p.add_argument("--threads", type=int, metavar="N", help="torch CPU threads (1 is fastest on a shared CPU)")
    p.add_argument("--data-dir", metavar="PATH", help="dataset folder, when it moved since training")
    p.add_argument("--cache-dir", metavar="DIR", help="cache of the default run (default: $AUTOGTKD_HOME or ~/.cache/autogtkd)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=_distill)


@dataclass(frozen=True)
class Pick:
    """The student chosen by ``--pick``.

    Attributes:
        arch: the architecture (a plain mapping, validated later against the run's space).
        how: the ``--pick`` text as given.
        search_score: the accuracy (fraction) the search gave it, ``None`` when unknown.
        scorer: what produced :attr:`search_score` (``inherit``, ``finetune``, ...), ``None`` when unknown.
        trial: the search trial number, ``None`` when unknown.
    """

    arch: dict[str, Any]
    how: str
    search_score: float | None = None
    scorer: str | None = None
    trial: int | None = None


def _read_json(path: Path, what: str) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read {what} {path}: {exc.strerror or exc}") from None
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{what} {path} is not valid JSON: {exc.msg}") from None


def resolve_pick(pick: str, search_dir: Path | None) -> Pick:
    """Turn ``--pick`` into a :class:`Pick`.

    ``pick`` is an index into the front of ``search_dir`` (negative counts from the end), ``knee``,
    ``best-under:BUDGET`` (e.g. ``best-under:300MFLOPs``) or a JSON file holding an architecture (a
    plain object, or a candidate record ``{"arch": {...}, "accuracy": ..., "scorer": ...}`` as printed
    by ``autogtkd pareto show --best-under``). For an ``ARCH.json`` the search score is looked up in
    ``search_dir``'s trials when there is one.
    """
    from autogtkd.search import Candidate, load_result

    def from_candidate(c: Candidate) -> Pick:
        return Pick(c.arch.to_dict(), pick, c.accuracy, c.scorer, c.trial)

    text = pick.strip()
    if text == "knee" or text.startswith("best-under:") or _INDEX.match(text):
        if search_dir is None:
            raise ConfigError(f"--pick {pick!r} needs a search output directory as --run; give an ARCH.json")
        result = load_result(search_dir)
        if not result.candidates:
            raise RunError(f"the search in {search_dir} found no feasible candidate")
        if text == "knee":
            return from_candidate(result.knee())
        if text.startswith("best-under:"):
            budget = text.split(":", 1)[1]
            best = result.best_under(budget)
            if best is None:
                raise ConfigError(f"no candidate of the front in {search_dir} is within {budget}")
            return from_candidate(best)
        i = int(text)
        n = len(result.candidates)
        if not -n <= i < n:
            raise ConfigError(f"--pick {i} is outside the front of {n} candidates (0..{n - 1})")
        return from_candidate(result.candidates[i])
    path = Path(text)
    if not path.is_file():
        raise ConfigError(f"--pick {pick!r}: expected {PICK_FORMS} (no such file)")
    doc = _read_json(path, "architecture file")
    if isinstance(doc, dict) and isinstance(doc.get("arch"), dict):
        arch = doc["arch"]
        score = doc.get("accuracy")
        scorer = doc.get("scorer")
        trial = doc.get("trial")
    elif isinstance(doc, dict):
        arch, score, scorer, trial = doc, None, None, None
    else:
        raise ConfigError(f"architecture file {path} must hold a JSON object")
    if score is None and search_dir is not None:
        for c in load_result(search_dir).trials:
            if c.arch.to_dict() == arch:
                score, scorer, trial = c.accuracy, c.scorer, c.trial
                break
    return Pick(dict(arch), pick, None if score is None else float(score), scorer, trial)


def _train_run_dir(args: argparse.Namespace, search_dir: Path | None) -> Path:
    """The training run directory (see the module docstring for the order)."""
    from autogtkd.train import default_run

    recorded = None
    if search_dir is not None:
        recorded = _read_json(search_dir / "pareto.json", "search result").get("run")
    choice = args.train_run or recorded
    if choice is None:
        if search_dir is None:
            return Path(args.run)
        raise ConfigError(
            f"{search_dir / 'pareto.json'} does not record the trained run it searched; pass --train-run RUN "
            "(or --train-run default for the embedded default run)"
        )
    if choice == "default":
        return default_run(args.cache_dir, progress=not args.quiet)
    run_dir = Path(choice)
    if not run_dir.is_dir():
        where = "--train-run" if args.train_run else f"{search_dir}/pareto.json"
        raise ConfigError(f"trained run {run_dir} (from {where}) does not exist; pass --train-run RUN")
    return run_dir


def _distill(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from autogtkd._io import atomic_write_json
    from autogtkd.train import KDConfig, distill, load_run

    t0 = time.perf_counter()
    run_arg = Path(args.run)
    if not run_arg.is_dir():
        raise ConfigError(f"--run {run_arg} is not a directory (expected a search output or a training run)")
    search_dir = run_arg if (run_arg / "pareto.json").is_file() else None
    if search_dir is None and not (run_arg / "config.json").is_file():
        raise ConfigError(f"--run {run_arg} is neither a search output (pareto.json) nor a training run (config.json)")
    if args.epochs is not None and args.epochs < 1:
        raise ConfigError(f"--epochs must be >= 1, got {args.epochs}")
    pick = resolve_pick(args.pick, search_dir)
    run_dir = _train_run_dir(args, search_dir)
    run = load_run(run_dir, data_dir=args.data_dir)
    if search_dir is not None:
        searched = _read_json(search_dir / "pareto.json", "search result").get("space")
        if searched is not None and searched != run.space.name:
            raise ConfigError(f"the search in {search_dir} used space {searched!r}; run {run_dir} has {run.space.name!r}")
    try:
        arch = run.space.canonical(pick.arch)
    except ArchError as exc:
        raise ArchError(f"--pick {args.pick!r} is not a student of run {run_dir}: {exc}") from None
    if run.teacher is None:
        raise RunError(f"run {run_dir} has no teacher (method {run.method!r}); distillation needs one")
    if args.init == "inherit" and run.supernet is None:
        raise RunError(f"run {run_dir} has no supernet (method {run.method!r}); use --init scratch")

    cfg = KDConfig(seed=args.seed, device=args.device, threads=args.threads)
    overrides: dict[str, Any] = {
        k: v
        for k, v in {"epochs": args.epochs, "batch_size": args.batch_size,
                     "max_steps_per_epoch": args.max_steps_per_epoch}.items()
        if v is not None
    }
    cfg = replace(cfg, **overrides)
    if args.lr is not None:
        cfg = replace(cfg, optim=replace(cfg.optim, lr=args.lr))
    out = Path(args.out)
    flops = run.space.flops(arch)
    print(f"distilling {args.pick} (trial {pick.trial if pick.trial is not None else '-'}, {flops / 1e6:.1f} MFLOPs = MMACs, "
          f"{run.space.params(arch) / 1e6:.2f} M params) from the {run.method} teacher of {run_dir}: "
          f"{cfg.epochs} epochs, init {args.init} -> {out}")
    _, metrics = distill(
        run.teacher, arch, space=run.space, data=run.data, config=cfg, init=args.init,
        supernet=run.supernet, out_dir=out, progress=not args.quiet,
    )
    atomic_write_json(out / "distill.json", {
        "pick": args.pick,
        "search": None if search_dir is None else str(search_dir.resolve()),
        "train_run": str(Path(run_dir).resolve()),
        "trial": pick.trial,
        "search_score": pick.search_score,
        "search_scorer": pick.scorer,
        "val_top1": metrics["val_top1"],
        "accuracy_unit": "fraction in [0, 1]",
        "init": args.init,
        "epochs": cfg.epochs,
        "seed": cfg.seed,
    })
    score = "n/a" if pick.search_score is None else f"{100 * pick.search_score:.2f}%"
    print(f"validation top-1 {100 * metrics['val_top1']:.2f}% (search score {score}, scorer {pick.scorer or 'n/a'})")
    print(f"wrote {out} (student.pt, arch.json, metrics.json, distill.json); next: autogtkd export {out} --format onnx")
    print(f"done in {time.perf_counter() - t0:.0f} s")
    return 0
