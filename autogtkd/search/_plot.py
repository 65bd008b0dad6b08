"""Plots of searches: accuracy against one cost (2-D) or two costs (3-D), one or several runs.

PNG through matplotlib; an interactive HTML page (zoom, rotate, hover for the architecture) through
plotly when it is installed (``autogtkd[plotly]``).
"""

from __future__ import annotations

import importlib.util
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from autogtkd.exceptions import ConfigError
from autogtkd.search._pareto import pareto_mask

if TYPE_CHECKING:
    from autogtkd.search._results import Candidate, SearchResult

__all__ = ["AXIS_METRICS", "plot_front", "plot_fronts"]

#: Cost metrics that can be put on an axis: label and the factor from stored units to the label's.
AXIS_METRICS: dict[str, tuple[str, float]] = {
    "flops": ("MFLOPs (MACs)", 1e-6),
    "params": ("M parameters", 1e-6),
    "latency_ms": ("latency (ms)", 1.0),
}


def plot_front(result: SearchResult, stem: str | Path) -> list[Path]:
    """Write ``<stem>.png`` (and ``<stem>.html`` with plotly) for one search: every scored candidate
    in grey, the feasible Pareto front in colour, the knee circled, budgets dashed. Returns the paths."""
    return plot_fronts({"": result}, stem)


def default_axis(result: SearchResult) -> str:
    """The search's first cost objective, else ``flops``."""
    return next((o for o in result.objectives if o != "accuracy"), "flops")


def plot_fronts(
    results: Mapping[str, SearchResult],
    stem: str | Path,
    *,
    axes: Sequence[str] | None = None,
    grid: bool = False,
) -> list[Path]:
    """Draw several searches (label → result) side by side.

    Args:
        results: the searches; labels name them in legends and titles ("" for a single unnamed run).
        stem: output path without suffix.
        axes: one cost metric (2-D: cost vs top-1) or two (3-D: cost, cost, top-1) from
            :data:`AXIS_METRICS`; default: the first result's first cost objective (2-D).
        grid: one panel per search in the PNG instead of one shared panel (the HTML always overlays;
            its legend toggles runs).

    Returns:
        the written paths (PNG, then HTML when plotly is installed).

    Raises:
        ConfigError: an unknown metric, more than two axes, or a search that lacks an axis metric.
    """
    if not results:
        raise ConfigError("nothing to plot: no search results given")
    axes = tuple(axes) if axes else (default_axis(next(iter(results.values()))),)
    if not 1 <= len(axes) <= 2 or any(a not in AXIS_METRICS for a in axes):
        raise ConfigError(f"axes must be one or two of {', '.join(AXIS_METRICS)}, got {','.join(axes) or 'none'}")
    for label, r in results.items():
        missing = [a for a in axes if r.trials and all(c.get(a) is None for c in r.trials)]
        if missing:
            raise ConfigError(
                f"search {label or 'result'} has no {missing[0]} values (search with a latency budget or objective "
                "to record latency_ms)"
            )
    stem = Path(stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    series = {label: _series(r, axes) for label, r in results.items()}
    paths = [_png(series, results, axes, stem.with_suffix(".png"), grid)]
    if importlib.util.find_spec("plotly") is not None:
        paths.append(_html(series, axes, stem.with_suffix(".html")))
    return paths


def _coords(cands: Sequence[Candidate], axes: Sequence[str]) -> tuple[list[Candidate], np.ndarray]:
    """Candidates with every axis metric, and their plotted coordinates ``(n, len(axes) + 1)``:
    costs in the labels' units, then top-1 in %."""
    keep = [c for c in cands if all(c.get(a) is not None for a in axes)]
    xs = [[float(c.get(a)) * AXIS_METRICS[a][1] for a in axes] + [100 * c.accuracy] for c in keep]  # type: ignore[arg-type]
    return keep, np.array(xs, dtype=np.float64).reshape(len(keep), len(axes) + 1)


def _series(result: SearchResult, axes: Sequence[str]) -> dict[str, Any]:
    scored, pts = _coords(result.trials, axes)
    front, fpts = _coords(result.candidates, axes)
    knee = result.knee().trial if result.candidates else None
    # The front is over the search's objectives; in 2-D its members not dominated in the plotted
    # plane are joined by a staircase.
    stair = np.zeros((0, 2))
    if len(axes) == 1 and len(front):
        mask = pareto_mask(np.column_stack([fpts[:, 0], -fpts[:, 1]]))
        stair = fpts[mask][np.argsort(fpts[mask][:, 0])]
    return {
        "scored": (scored, pts),
        "front": (front, fpts),
        "stair": stair,
        "knee": [i for i, c in enumerate(front) if c.trial == knee],
        "budgets": [
            (axes.index(b.metric), b.limit * AXIS_METRICS[b.metric][1], str(b))
            for b in result.budgets
            if b.metric in axes
        ],
        "running": result.info.get("n_running", 0),
    }


def _title(label: str, result: SearchResult, s: dict[str, Any]) -> str:
    scorers = ", ".join(sorted({c.scorer for c in result.candidates})) or "none feasible"
    live = f", {s['running']} being scored" if s["running"] else ""
    return f"{label or 'Pareto front'}: {len(result.trials)} scored{live}; scorer {scorers}"


def _png(
    series: Mapping[str, dict[str, Any]],
    results: Mapping[str, SearchResult],
    axes: Sequence[str],
    path: Path,
    grid: bool,
) -> Path:
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    three_d = len(axes) == 2
    n = len(series) if grid else 1
    cols = min(n, 3)
    rows = -(-n // cols)
    proj = {"projection": "3d"} if three_d else {}
    fig = plt.figure(figsize=(5.5 * cols, (5.0 if three_d else 4.0) * rows), dpi=120)
    panels: list[Any] = [fig.add_subplot(rows, cols, i + 1, **proj) for i in range(n)]  # 2-D or 3-D axes
    several = len(series) > 1
    for k, (label, s) in enumerate(series.items()):
        ax = panels[k if grid else 0]
        colour = f"C{k % 10}" if several and not grid else "C3"
        tag = f" {label}" if several and not grid else ""
        _, pts = s["scored"]
        _, fpts = s["front"]
        if len(pts):
            ax.scatter(*pts.T, s=10, c="0.75", alpha=0.6, label=None if several and not grid else "scored")
        if len(fpts):
            ax.scatter(*fpts.T, s=26, c=colour, label=f"front{tag}")
            if len(s["stair"]):
                ax.step(*s["stair"].T, where="post", c=colour, lw=1)
            for i in s["knee"]:
                ax.scatter(*fpts[i], s=130, facecolors="none", edgecolors="k", label=f"knee{tag}")
        if not three_d:
            for _, limit, text in s["budgets"]:
                ax.axvline(
                    limit, ls="--", c=colour if several and not grid else "k", lw=0.8, label=f"budget {text}{tag}"
                )
        if grid or not several:
            ax.set_title(_title(label, results[label], s), fontsize=9)
    for ax in panels:
        ax.set_xlabel(AXIS_METRICS[axes[0]][0])
        if three_d:
            ax.set_ylabel(AXIS_METRICS[axes[1]][0])
            ax.set_zlabel("top-1 accuracy (%)")
        else:
            ax.set_ylabel("top-1 accuracy (%)")
            ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    if several and not grid:
        panels[0].set_title("Pareto fronts (grey: every scored candidate)", fontsize=9)
    if grid and several:  # shared scales, so panels compare at a glance
        every = np.vstack([s["scored"][1] for s in series.values()] + [np.zeros((0, len(axes) + 1))])
        if len(every):
            lo, hi = every.min(0), every.max(0)
            pad = 0.05 * np.maximum(hi - lo, 1e-9)
            setters = ("set_xlim", "set_ylim", "set_zlim")[: len(axes) + 1]
            for ax in panels:
                for dim, name in enumerate(setters):
                    getattr(ax, name)(lo[dim] - pad[dim], hi[dim] + pad[dim])
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def _html(series: Mapping[str, dict[str, Any]], axes: Sequence[str], path: Path) -> Path:
    import plotly.graph_objects as go
    from plotly.colors import qualitative

    three_d = len(axes) == 2
    fig = go.Figure()
    for k, (label, s) in enumerate(series.items()):
        name = label or "search"
        colour = qualitative.Plotly[k % len(qualitative.Plotly)]
        for kind, (cands, pts) in (("scored", s["scored"]), ("front", s["front"])):
            if not len(pts):
                continue
            text = [f"trial {c.trial}<br>{c.arch.to_json()}" for c in cands]
            marker: dict[str, Any] = (
                {"color": "lightgray", "size": 4} if kind == "scored" else {"color": colour, "size": 7}
            )
            common = {"name": f"{name} {kind}", "legendgroup": name, "text": text, "marker": marker, "mode": "markers"}
            if three_d:
                fig.add_trace(go.Scatter3d(x=pts[:, 0], y=pts[:, 1], z=pts[:, 2], **common))
            else:
                if kind == "front" and len(s["stair"]):
                    fig.add_trace(
                        go.Scatter(
                            x=s["stair"][:, 0],
                            y=s["stair"][:, 1],
                            mode="lines",
                            line={"shape": "hv", "color": colour},
                            name=f"{name} staircase",
                            legendgroup=name,
                            showlegend=False,
                        )
                    )
                fig.add_trace(go.Scatter(x=pts[:, 0], y=pts[:, 1], **common))
    if three_d:
        fig.update_layout(
            scene={
                "xaxis_title": AXIS_METRICS[axes[0]][0],
                "yaxis_title": AXIS_METRICS[axes[1]][0],
                "zaxis_title": "top-1 accuracy (%)",
            }
        )
    else:
        fig.update_layout(xaxis_title=AXIS_METRICS[axes[0]][0], yaxis_title="top-1 accuracy (%)")
    fig.update_layout(title="Pareto fronts" if len(series) > 1 else "Pareto front", hovermode="closest")
    fig.write_html(str(path), include_plotlyjs=True)
    return path
