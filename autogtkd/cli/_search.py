"""``autogtkd search``: multi-objective search over a trained supernet (or the embedded default run)."""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

from autogtkd._config import key_values
from autogtkd.budget import ACCEPTED_FORMS, Budget, parse_budget
from autogtkd.exceptions import BudgetError, CheckpointError, RunError
from autogtkd.space import Arch, SearchSpace

__all__ = ["parse_options", "register", "remeasure_report", "rescore_top_for", "search_threads"]

DEFAULT_OUT = "autogtkd-search"
#: Students re-scored with ``finetune`` at the end of a search of a user's run (``--run``): the rule
#: registered in docs/benchmarks.md ("Re-scoring protocol") chose it. The embedded demo re-scores
#: none unless asked: ~35 s per student of its front on 2 CPU cores would break its 5-minute goal.
DEFAULT_RESCORE_TOP = 2


def register(sub: Any) -> None:
    """Add the ``search`` sub-command."""
    from autogtkd.evaluate import ScorerOptions, list_scorers
    from autogtkd.search import OBJECTIVES, list_strategies

    p = sub.add_parser(
        "search",
        help="search Pareto-optimal students (accuracy vs FLOPs/params/latency) under budgets",
        description=(
            "Search the students of a trained supernet for the Pareto front of accuracy (after distillation "
            "from the generic teacher) against costs, under hard budgets. FLOPs are multiply-accumulates "
            "(MACs): 300MFLOPs = 300MMACs. Without --run, the embedded default run (digits, mbv3-cifar, a small "
            "GTN budget) is trained once and cached. Every search is an Optuna study: rerunning the same "
            "command resumes it, and several processes can share one --storage."
        ),
    )
    p.add_argument("--budget", action="append", default=[], metavar="BUDGET",
                   help=f"hard budget, repeatable ({ACCEPTED_FORMS}); latency needs @TARGET")
    p.add_argument("--run", metavar="RUN_DIR", help="trained run directory (default: the embedded default run)")
    p.add_argument("--out", default=DEFAULT_OUT, metavar="DIR", help=f"output directory (default: {DEFAULT_OUT})")
    p.add_argument("--strategy", default="surrogate", choices=list_strategies(), help="search strategy (default: surrogate)")
    p.add_argument("--strategy-option", action="append", default=[], metavar="KEY=VALUE",
                   help="an option of the strategy, repeatable (e.g. budget_exploit=0.5, when_exhausted=random; "
                        "docs/search.md, Strategies)")
    p.add_argument("--trials", type=int, default=20, metavar="N",
                   help="scored architectures wanted in the study, resumed ones included (default: 20)")
    p.add_argument("--storage", metavar="URL",
                   help="Optuna storage URL shared by workers (default: sqlite:///DIR/study.db; "
                        "postgresql://USER:PASS@HOST/DB for many machines)")
    p.add_argument("--study", default="autogtkd-search", metavar="NAME", help="study name in the storage")
    p.add_argument("--seed", type=int, default=0, help="strategy seed (default: 0)")
    p.add_argument("--objective", action="append", choices=list(OBJECTIVES), metavar="NAME",
                   help="objective, repeatable: accuracy, flops, params, latency_ms "
                        "(default: accuracy + the metric of each budget, flops when none)")
    p.add_argument("--scorer", default="inherit", choices=list_scorers(), help=_scorer_help())
    p.add_argument("--finetune-steps", type=int, default=50, metavar="N", help="steps of the finetune scorer")
    p.add_argument("--calib-batches", type=int, default=ScorerOptions.calib_batches, metavar="N",
                   help=f"calibration batches (of 128) for BN (default: {ScorerOptions.calib_batches})")  # fmt: skip
    p.add_argument("--val-batches", type=int, default=None, metavar="N", help="validation batches (of 256; default: all)")
    p.add_argument("--rescore-top", type=int, default=None, metavar="K",
                   help="when the search ends, score its best K students again with --rescore-scorer and report "
                        f"the front of those (0: off; default: {DEFAULT_RESCORE_TOP} with --run, 0 for the embedded "
                        "demo; docs/search.md)")
    p.add_argument("--rescore-scorer", default="finetune", choices=list_scorers(),
                   help="the more faithful scorer of --rescore-top (default: finetune)")
    p.add_argument("--prescreen", action="store_true",
                   help="pre-screen proposals with an accuracy predictor (its Kendall tau is reported)")
    p.add_argument("--device", default="cpu", help="torch device of the scorer (default: cpu)")
    p.add_argument("--threads", type=int, default=None, metavar="N",
                   help="torch intra-op CPU threads while training the default run and scoring (default: torch's, "
                        "i.e. every core or $OMP_NUM_THREADS; 1 is fastest on a CPU other jobs keep busy)")  # fmt: skip
    p.add_argument("--cache-dir", metavar="DIR", help="cache of the default run (default: $AUTOGTKD_HOME or ~/.cache/autogtkd)")
    p.add_argument("--remeasure", action="store_true",
                   help="re-measure the front's latency on this machine (the latency target's settings) and "
                        "report it beside the prediction (remeasured.json)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=_search)


def parse_options(items: list[str]) -> dict[str, Any]:
    """``--strategy-option KEY=VALUE`` strings as keyword options (:func:`autogtkd._config.key_values`):
    ``["budget_exploit=0.5", "when_exhausted=deepen"]`` -> ``{"budget_exploit": 0.5, "when_exhausted": "deepen"}``."""
    return key_values(items, what="--strategy-option")


def _objectives(args: argparse.Namespace, budgets: list[Budget]) -> tuple[str, ...]:
    if args.objective:
        objs = list(dict.fromkeys(args.objective))
        return tuple(objs if "accuracy" in objs else ["accuracy", *objs])
    costs = [b.metric for b in budgets] or ["flops"]
    return tuple(dict.fromkeys(["accuracy", *costs]))


def _latency(space: SearchSpace, budgets: list[Budget], objectives: tuple[str, ...]) -> Any:
    latency_budgets = [b for b in budgets if b.metric == "latency_ms"]
    if not latency_budgets and "latency_ms" not in objectives:
        return None
    targets = sorted({b.target for b in latency_budgets if b.target is not None})
    if not targets or len(targets) < len({b.target for b in latency_budgets}):
        raise BudgetError("a latency budget or objective needs a target: --budget 15ms@TARGET")
    if len(targets) > 1:
        raise BudgetError(f"latency budgets for several targets {targets}; search one target at a time")
    from autogtkd.hw.latency import load_predictor

    return load_predictor(targets[0], space)


def _not_loaded(arch: Arch) -> dict[str, float]:
    raise RunError("internal: scorer used before the run was loaded")


def _search(args: argparse.Namespace) -> int:
    import torch

    from autogtkd.evaluate import ScorerOptions, create_scorer
    from autogtkd.search import Prescreen, Rescore, SearchProblem, search

    t0 = time.perf_counter()
    budgets = [parse_budget(b) for b in args.budget]
    objectives = _objectives(args, budgets)
    if args.trials < 1:
        raise BudgetError(f"--trials must be >= 1, got {args.trials}")
    rescore_top = rescore_top_for(args.rescore_top, embedded=args.run is None)
    strategy_options = parse_options(args.strategy_option)
    from autogtkd.train import default_run, load_run

    threads = search_threads(args.threads)
    if args.run is None:
        from autogtkd.space import load_space
        from autogtkd.train import default_run_config

        space = load_space(default_run_config()[1])
        # budgets are checked against the space before anything is trained
        SearchProblem(space, _not_loaded, objectives=objectives, budgets=budgets, latency=_latency(space, budgets, objectives))
        run_dir = default_run(args.cache_dir, progress=not args.quiet, threads=threads)
    else:
        run_dir = Path(args.run)
    run = load_run(run_dir, device=args.device)
    if run.supernet is None:
        raise CheckpointError(f"run {run_dir} has no supernet (method {run.config.method!r}); search needs a GTN or supernet run")
    latency = _latency(run.space, budgets, objectives)
    options = ScorerOptions(
        calib_batches=args.calib_batches,
        val_batches=args.val_batches,
        steps=args.finetune_steps,
        seed=args.seed,
        device=args.device,
    )
    scorer = create_scorer(args.scorer, run, options)
    problem = SearchProblem(run.space, scorer, objectives=objectives, budgets=budgets, latency=latency)
    torch.set_num_threads(threads)
    prescreen = None
    if args.prescreen:
        from autogtkd.evaluate import AccuracyPredictor

        prescreen = Prescreen(AccuracyPredictor(random_state=args.seed))
    rescore = None
    if rescore_top and args.rescore_scorer != args.scorer:
        if args.rescore_scorer == "finetune" and run.teacher is None:
            print(f"note: run {run_dir} has no teacher to fine-tune from; the front is not re-scored")
        else:
            rescore = Rescore(create_scorer(args.rescore_scorer, run, options), top=rescore_top)
    result = search(
        problem, strategy=args.strategy, n_trials=args.trials, seed=args.seed, storage=args.storage,
        strategy_options=strategy_options,
        study_name=args.study, out=args.out, prescreen=prescreen, rescore=rescore, progress=not args.quiet,
        info={"run": str(Path(run_dir).resolve())},
    )
    out = Path(args.out)
    _print_front(result, problem.scorer, run, run_dir)
    if "predictor" in result.info:
        tau = result.info["predictor"]["kendall_tau"]
        print(f"accuracy predictor: Kendall tau {tau if tau is None else round(tau, 3)} on "
              f"{result.info['predictor']['n_pairs']} scored proposals, {result.info['predictor']['n_screened']} screened out")
    if "stopped" in result.info:
        print(f"note: {result.info['stopped']}")
    if args.run is None and args.rescore_top is None and args.rescore_scorer != args.scorer:
        print(f"note: the demo's front is scored by {args.scorer} alone; --rescore-top {DEFAULT_RESCORE_TOP} re-scores "
              f"its best {DEFAULT_RESCORE_TOP} with {args.rescore_scorer} (a search of your own run does by default)")
    if args.remeasure:
        if latency is None:
            raise BudgetError("--remeasure needs a latency budget or objective (--budget 15ms@TARGET)")
        remeasure_report(latency, result.candidates, run.space, out / "remeasured.json")
    print("wrote:")
    for name in ("pareto.json", "pareto.csv", "trials.csv", "pareto.png", "pareto.html", "remeasured.json", "study.json"):
        if (out / name).exists():
            print(f"  {out / name}")
    print(f"  study: {args.storage or 'sqlite:///' + str((out / 'study.db').resolve())} (study {args.study!r})")
    print(f"done in {time.perf_counter() - t0:.0f} s")
    return 0


def rescore_top_for(requested: int | None, *, embedded: bool) -> int:
    """How many of the best students a search re-scores: ``requested`` (``--rescore-top``) when
    given, else :data:`DEFAULT_RESCORE_TOP`, or 0 for the embedded demo. A negative one raises
    :class:`BudgetError`."""
    if requested is None:
        return 0 if embedded else DEFAULT_RESCORE_TOP
    if requested < 0:
        raise BudgetError(f"--rescore-top must be >= 0, got {requested}")
    return requested


def _print_front(result: Any, scorer: str, run: Any, run_dir: Path) -> None:
    """The front as a table, with what scored it, a note on untrained sizes, and its hypervolume."""
    scored = f"{len(result.trials)} scored students (top-1 in %, scorer {scorer}"
    if result.rescored:
        scored = (f"the {len(result.rescored)} best of {len(result.trials)} students scored by {scorer}, "
                  f"re-scored by {result.rescored[0].scorer} (top-1 in %; 'search %': the {scorer} score")
    print(f"Pareto front of {scored}; FLOPs = MACs; budgets: {', '.join(map(str, result.budgets)) or 'none'}):")
    print(result.table())
    if (note := _untrained_sizes(run, result.candidates)) is not None:
        print(f"note: {note}")
    print(f"hypervolume {result.hypervolume:.4f} (normalised); run {run_dir}")


def _untrained_sizes(run: Any, front: Any) -> str | None:
    """A note when front members are larger than any path the run's supernet trained (GTN runs with
    ``max_path_mflops``, as the embedded default): their scores rest on weights no path of their size
    updated. ``None`` otherwise."""
    cap = run.config.gtn.max_path_mflops if run.config.method == "gtn" else None
    above = [c for c in front if cap is not None and c.flops is not None and c.flops > cap * 1e6]
    if not above:
        return None
    return (f"{len(above)} of the front's {len(front)} students exceed {cap:g} MFLOPs, the largest path the supernet "
            f"trained (GTNConfig.max_path_mflops): no step trained a path of their size, so their scores are less "
            f"reliable; distil them (autogtkd distill) before trusting the ranking, or train a run with a larger cap")


def remeasure_report(predictor: Any, candidates: Any, space: SearchSpace, path: Path) -> list[dict[str, Any]]:
    """Measure the candidates' latency on this machine with the predictor's own settings, print it
    beside the prediction, and write the rows to ``path`` (JSON). Returns the rows."""
    from autogtkd._io import atomic_write_json
    from autogtkd.hw.latency import remeasure_archs

    archs = [c.arch for c in candidates]
    predicted = predictor.predict_archs(archs)
    measured = remeasure_archs(predictor, archs, space=space)
    rows = [
        {"arch": a.to_dict(), "predicted_ms": float(p), "measured_ms": float(m), "error": float(p / m - 1.0)}
        for a, p, m in zip(archs, predicted, measured, strict=True)
    ]
    print(f"latency on this machine (target {predictor.target}): predicted vs measured, ms")
    print(f"{'#':>3} {'predicted':>10} {'measured':>10} {'error':>8}")
    for i, r in enumerate(rows):
        print(f"{i:>3} {r['predicted_ms']:>10.3f} {r['measured_ms']:>10.3f} {100 * r['error']:>7.1f}%")
    atomic_write_json(path, {"target": predictor.target, "rows": rows})
    return rows


def _scorer_help() -> str:
    """``--scorer`` help: each registered scorer with its factory's first docstring line."""
    from autogtkd.evaluate import SCORERS, list_scorers

    return "; ".join(f"{n}: {(SCORERS.get(n).__doc__ or n).strip().splitlines()[0]}" for n in list_scorers())


def search_threads(requested: int | None = None) -> int:
    """Torch intra-op CPU threads of ``autogtkd search`` (training the default run, then scoring):
    ``requested`` (``--threads``, at least 1) when given, else torch's default, i.e. every core this
    process may use, or ``$OMP_NUM_THREADS`` when set. On an idle CPU more threads are faster; on one
    that other jobs keep busy, 1 is (docs/benchmarks.md, "Main job")."""
    import torch

    return max(1, requested) if requested is not None else torch.get_num_threads()
