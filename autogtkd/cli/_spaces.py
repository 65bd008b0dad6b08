"""``autogtkd spaces`` and ``autogtkd flops``: inspect search spaces and count costs."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from autogtkd.budget import format_count
from autogtkd.exceptions import ArchError, SpaceError
from autogtkd.space import SearchSpace, list_spaces, load_space

__all__ = ["read_arch_file", "register", "space_summary"]


def register(sub: Any) -> None:
    """Add the ``spaces`` and ``flops`` sub-commands."""
    p = sub.add_parser(
        "spaces",
        help="list search spaces with their size and FLOPs/params ranges",
        description="List the built-in search spaces (or the given ones) with their number of distinct "
        "networks and the FLOPs (multiply-accumulates) and parameters of their smallest and largest members.",
    )
    p.add_argument("--space", action="append", metavar="NAME|FILE", help="a space name or .yaml/.py file (repeatable)")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(func=_spaces)

    f = sub.add_parser(
        "flops",
        help="FLOPs (MACs) and parameters of one architecture",
        description="Print the FLOPs (multiply-accumulates, batch 1) and parameters of an architecture.",
    )
    f.add_argument("--space", required=True, metavar="NAME|FILE", help="search space name or .yaml/.py file")
    f.add_argument("--arch", required=True, metavar="ARCH.json", help="architecture JSON file (or '-' for stdin)")
    f.add_argument("--json", action="store_true", help="print JSON")
    f.set_defaults(func=_flops)


def space_summary(space: SearchSpace) -> dict[str, Any]:
    """Size and min/max FLOPs (MACs) and params of a space (at its smallest and largest members;
    ``None`` for spaces that can build no model)."""
    small, large = space.smallest(), space.largest()
    row: dict[str, Any] = {
        "name": space.name,
        "size": space.size(),
        "decisions": len(space.choices),
        "input_size": space.input_size,
    }
    costs: dict[str, Any]
    try:
        costs = {
            "flops_min": space.flops(small),
            "flops_max": space.flops(large),
            "params_min": space.params(small),
            "params_max": space.params(large),
        }
    except SpaceError:  # a plain space without build_model(): costs unknown
        costs = dict.fromkeys(("flops_min", "flops_max", "params_min", "params_max"))
    return {**row, **costs}


def _mega(value: int | None, digits: int) -> str:
    return "-" if value is None else f"{value / 1e6:.{digits}f}"


def _spaces(args: argparse.Namespace) -> int:
    rows = [space_summary(load_space(s)) for s in (args.space or list_spaces())]
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    print("FLOPs are multiply-accumulates (MACs) at batch 1.")
    header = f"{'space':<18} {'input':>5} {'size':>10} {'MFLOPs min':>11} {'MFLOPs max':>11} {'Mparams min':>12} {'Mparams max':>12}"
    print(header)
    print("-" * len(header))
    for r in rows:
        print(
            f"{r['name']:<18} {r['input_size']:>5} {r['size']:>10.3g} {_mega(r['flops_min'], 1):>11} "
            f"{_mega(r['flops_max'], 1):>11} {_mega(r['params_min'], 2):>12} {_mega(r['params_max'], 2):>12}"
        )
    return 0


def _flops(args: argparse.Namespace) -> int:
    space = load_space(args.space)
    arch = space.canonical(read_arch_file(args.arch))
    flops, params = space.flops(arch), space.params(arch)
    if args.json:
        print(json.dumps({"space": space.name, "flops": flops, "params": params, "arch": arch.to_dict()}))
    else:
        print(f"space {space.name}: {format_count(flops)}FLOPs (MACs), {format_count(params)} params")
    return 0


def read_arch_file(path: str) -> dict[str, Any]:
    """Read an architecture JSON file (``-``: stdin): a bare object or ``{"arch": {...}}``."""
    import sys

    try:
        text = sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
        data = json.loads(text)
    except OSError as exc:
        raise ArchError(f"cannot read architecture file {path}: {exc.strerror or exc}") from None
    except json.JSONDecodeError as exc:
        raise ArchError(f"{path} is not valid JSON: {exc}") from None
    if isinstance(data, dict) and isinstance(data.get("arch"), dict):
        data = data["arch"]
    if not isinstance(data, dict):
        raise ArchError(f"{path} must hold a JSON object of decision -> value")
    return data
