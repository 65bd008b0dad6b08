"""``autogtkd pareto show|plot``: inspect one or several searches, finished or still running."""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from autogtkd.exceptions import ConfigError

if TYPE_CHECKING:
    from autogtkd.search import SearchResult

__all__ = ["register"]

_SOURCES = (
    "DIR is a directory written by `autogtkd search --out DIR`. While its search runs (or when its workers "
    "share a PostgreSQL study) the front is read from the study itself, so it shows every architecture "
    "scored so far; --storage URL [--study NAME] reads a study that has no directory here."
)


def register(sub: Any) -> None:
    """Add the ``pareto`` sub-command with ``show`` and ``plot``."""
    p = sub.add_parser(
        "pareto",
        help="show or plot the Pareto fronts of one or several searches",
        description="Show or plot Pareto fronts. " + _SOURCES,
    )
    actions = p.add_subparsers(dest="pareto_action", metavar="ACTION", required=True)
    show = actions.add_parser("show", help="print each front as a table (or JSON)", description=_SOURCES)
    _sources(show)
    show.add_argument("--json", action="store_true", help="print the fronts' candidates as JSON")
    show.add_argument("--best-under", metavar="BUDGET", help="print only the most accurate candidate within BUDGET")
    show.set_defaults(func=_show)
    plot = actions.add_parser(
        "plot",
        help="draw the fronts: PNG, and interactive HTML when plotly is installed",
        description=_SOURCES + " Two --axes give a 3-D plot (e.g. flops,latency_ms against top-1).",
    )
    _sources(plot)
    plot.add_argument(
        "--axes",
        metavar="COST[,COST]",
        help="one cost (2-D, against top-1) or two (3-D) of flops, params, latency_ms "
        "(default: the first search's first cost objective)",
    )
    plot.add_argument("--grid", action="store_true", help="one panel per search instead of one shared panel")
    plot.add_argument(
        "--out",
        metavar="STEM",
        help="output path without suffix (default: DIR/pareto for one search, ./pareto-compare for several)",
    )
    plot.set_defaults(func=_plot)


def _sources(p: argparse.ArgumentParser) -> None:
    p.add_argument("dirs", metavar="DIR", nargs="*", help="search output directories (several: side by side)")
    p.add_argument(
        "--storage", metavar="URL", help="also read the study in this storage (sqlite:///..., postgresql://...)"
    )
    p.add_argument("--study", metavar="NAME", help="study name in --storage (default: its only study)")
    p.add_argument("--labels", metavar="A,B,...", help="names for the searches, in order (default: directory names)")
    p.add_argument("--snapshot", action="store_true", help="read pareto.json/trials.csv only, not the live study")


def _load(args: argparse.Namespace) -> dict[str, SearchResult]:
    """label → result for every DIR and ``--storage``, in order."""
    from autogtkd.search import load_result, study_result

    if args.study and not args.storage:
        raise ConfigError("--study names a study in --storage; give --storage URL too")
    if not args.dirs and not args.storage:
        raise ConfigError("give at least one search directory DIR or --storage URL")
    results = [(str(d), load_result(d, live=not args.snapshot)) for d in args.dirs]
    if args.storage:
        r = study_result(args.storage, args.study)
        results.append((str(r.info.get("study", "study")), r))
    return dict(zip(_labels(args, [name for name, _ in results]), (r for _, r in results), strict=True))


def _labels(args: argparse.Namespace, names: Sequence[str]) -> list[str]:
    if args.labels:
        labels = [s.strip() for s in args.labels.split(",")]
        if len(labels) != len(names) or len(set(labels)) != len(labels):
            raise ConfigError(f"--labels needs {len(names)} distinct names, got {args.labels!r}")
        return labels
    short = [Path(n).name or n for n in names]
    return short if len(set(short)) == len(short) else list(names)


def _show(args: argparse.Namespace) -> int:
    results = _load(args)
    if args.best_under:
        status = 0
        picks = {}
        for label, r in results.items():
            best = r.best_under(args.best_under)
            picks[label] = None if best is None else best.to_dict()
            status = status or int(best is None)
        if len(picks) == 1:
            (only,) = picks.values()
            print(json.dumps(only, indent=2) if only else f"no candidate within {args.best_under}")
        else:
            print(json.dumps(picks, indent=2))
        return status
    if args.json:
        docs = {label: [c.to_dict() for c in r.candidates] for label, r in results.items()}
        print(json.dumps(next(iter(docs.values())) if len(docs) == 1 else docs, indent=2))
        return 0
    for k, (label, r) in enumerate(results.items()):
        if k:
            print()
        running = r.info.get("n_running", 0)
        state = f"; {running} being scored now" if running else ""
        head = f"{label}: " if len(results) > 1 else ""
        print(
            f"{head}{len(r.candidates)} Pareto-optimal of {len(r.trials)} scored{state} (top-1 in %, FLOPs = MACs; "
            f"budgets: {', '.join(map(str, r.budgets)) or 'none'}; hypervolume {r.hypervolume:.4f})"
        )
        print(r.table())
    return 0


def _plot(args: argparse.Namespace) -> int:
    from autogtkd.search import plot_fronts

    results = _load(args)
    if args.out:
        stem = Path(args.out)
    elif len(results) == 1 and args.dirs:
        stem = Path(args.dirs[0]) / "pareto"
    else:
        stem = Path("pareto-compare")
    axes = [a.strip() for a in args.axes.split(",")] if args.axes else None
    for path in plot_fronts(results, stem, axes=axes, grid=args.grid):
        print(path)
    return 0
