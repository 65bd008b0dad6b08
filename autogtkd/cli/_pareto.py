"""``autogtkd pareto show|plot``: inspect a search output directory."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

__all__ = ["register"]


def register(sub: Any) -> None:
    """Add the ``pareto`` sub-command with ``show`` and ``plot``."""
    p = sub.add_parser(
        "pareto",
        help="show or plot the Pareto front of a search output directory",
        description="Read DIR/pareto.json and DIR/trials.csv written by `autogtkd search --out DIR`.",
    )
    actions = p.add_subparsers(dest="pareto_action", metavar="ACTION", required=True)
    show = actions.add_parser("show", help="print the front as a table (or JSON)")
    show.add_argument("dir", metavar="DIR", help="search output directory")
    show.add_argument("--json", action="store_true", help="print pareto.json's candidates as JSON")
    show.add_argument("--best-under", metavar="BUDGET", help="print only the most accurate candidate within BUDGET")
    show.set_defaults(func=_show)
    plot = actions.add_parser("plot", help="(re)draw the front: PNG, and HTML when plotly is installed")
    plot.add_argument("dir", metavar="DIR", help="search output directory")
    plot.add_argument("--out", metavar="STEM", help="output path without suffix (default: DIR/pareto)")
    plot.set_defaults(func=_plot)


def _show(args: argparse.Namespace) -> int:
    from autogtkd.search import load_result

    result = load_result(args.dir)
    if args.best_under:
        best = result.best_under(args.best_under)
        if best is None:
            print(f"no candidate within {args.best_under}")
            return 1
        print(json.dumps(best.to_dict(), indent=2))
        return 0
    if args.json:
        print(json.dumps([c.to_dict() for c in result.candidates], indent=2))
        return 0
    print(f"{len(result.candidates)} Pareto-optimal of {len(result.trials)} scored (top-1 in %, FLOPs = MACs; "
          f"budgets: {', '.join(map(str, result.budgets)) or 'none'}; hypervolume {result.hypervolume:.4f})")
    print(result.table())
    return 0


def _plot(args: argparse.Namespace) -> int:
    from autogtkd.search import load_result, plot_front

    result = load_result(args.dir)
    for path in plot_front(result, Path(args.out) if args.out else Path(args.dir) / "pareto"):
        print(path)
    return 0
