"""Plots of a search: accuracy against the first cost objective (PNG; HTML when plotly is installed)."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from autogtkd.search._results import SearchResult

__all__ = ["plot_front"]

_LABELS = {"flops": ("MFLOPs (MACs)", 1e-6), "params": ("M parameters", 1e-6), "latency_ms": ("latency (ms)", 1.0)}


def plot_front(result: SearchResult, stem: str | Path) -> list[Path]:
    """Write ``<stem>.png`` (matplotlib) and ``<stem>.html`` (plotly, when installed): every scored
    candidate in grey, the feasible Pareto front in colour, the knee marked. Returns the paths."""
    stem = Path(stem)
    cost = next((o for o in result.objectives if o != "accuracy"), None) or "flops"
    label, scale = _LABELS[cost]
    pts = [(float(v), c.accuracy) for c in result.trials if (v := c.get(cost)) is not None]
    front = [(float(v), c.accuracy, c.trial) for c in result.candidates if (v := c.get(cost)) is not None]
    knee = result.knee().trial if result.candidates else None
    paths = []

    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4), dpi=120)
    if pts:
        ax.scatter([p[0] * scale for p in pts], [100 * p[1] for p in pts], s=12, c="0.7", label="scored")
    if front:
        ax.step([p[0] * scale for p in front], [100 * p[1] for p in front], where="post", c="C3", lw=1)
        ax.scatter([p[0] * scale for p in front], [100 * p[1] for p in front], s=24, c="C3", label="Pareto front")
        for x, y, t in front:
            if t == knee:
                ax.scatter([x * scale], [100 * y], s=120, facecolors="none", edgecolors="k", label="knee")
    for b in result.budgets:
        if b.metric == cost:
            ax.axvline(b.limit * scale, ls="--", c="k", lw=0.8, label=f"budget {b}")
    ax.set_xlabel(label)
    ax.set_ylabel("top-1 accuracy (%)")
    scorers = sorted({c.scorer for c in result.candidates})
    ax.set_title(f"Pareto front ({', '.join(scorers) or 'no feasible candidate'})")
    ax.legend(fontsize=8)
    fig.tight_layout()
    png = stem.with_suffix(".png")
    fig.savefig(png)
    plt.close(fig)
    paths.append(png)

    if importlib.util.find_spec("plotly") is not None:
        import plotly.graph_objects as go

        fig2 = go.Figure()
        scored = [c for c in result.trials if c.get(cost) is not None]
        fig2.add_trace(go.Scatter(
            x=[p[0] * scale for p in pts], y=[100 * p[1] for p in pts],
            mode="markers", name="scored", marker={"color": "lightgray"}, text=[c.arch.to_json() for c in scored],
        ))
        fig2.add_trace(go.Scatter(
            x=[p[0] * scale for p in front], y=[100 * p[1] for p in front], mode="lines+markers",
            line={"shape": "hv"}, name="Pareto front", text=[c.arch.to_json() for c in result.candidates],
        ))
        fig2.update_layout(xaxis_title=label, yaxis_title="top-1 accuracy (%)")
        html = stem.with_suffix(".html")
        fig2.write_html(str(html), include_plotlyjs=True)
        paths.append(html)
    return paths
