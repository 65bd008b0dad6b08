"""Latency predictors on real device tables (NAS-Bench-201, FBNet), through the public API only.

For each table, device, training size ``n`` and training set (``--sets`` random draws of ``n``
architectures; the test set is every other architecture of the table):

* ``autogtkd``: :class:`~autogtkd.hw.latency.LatencyPredictor` ``.fit(archs, ms)`` on a
  :class:`~autogtkd.space.ChoiceSpace` of the table's decisions (what a user of a custom space gets);
* baselines, computed here with plain least squares: ``flops_linear`` (latency ~ a * FLOPs + b; only
  for tables with a FLOPs column), ``onehot_lut`` (one indicator per decision x option + intercept:
  a per-decision look-up table), ``op_count`` (how often each option occurs + intercept).

Metrics: share of test architectures predicted within +-10 % of the measurement, Kendall's tau.
With ``--accuracy`` (tables with an accuracy column), the accuracy predictor used for pre-screening
(:class:`~autogtkd.evaluate.AccuracyPredictor` on ``space.encode``) is scored the same way (tau
against table accuracy), with today's encoding and with the former option-index encoding.

``--baselines-only`` computes just the (cheap) baselines; a later full run in the same ``--work``
redoes those sets with every predictor. Results are appended to ``--runs`` (benchmarks/results/tabular_latency_runs.jsonl; rerunning
resumes); the summary (per table x device x predictor x n: mean, std, sets; and the goal check of
:func:`goals`) goes to ``--json``, a markdown table to ``--work``/report.md.

Run:  nice -n 19 python benchmarks/tabular_latency.py                                   (long)
      python benchmarks/tabular_latency.py --tables T.csv --sizes 10 --sets 2 --json /tmp/x.json  (smoke)
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from scipy.stats import kendalltau

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _records import append_run, read_runs

from autogtkd._io import atomic_write_json
from autogtkd.evaluate import AccuracyPredictor
from autogtkd.hw.latency import LOSSES, LatencyPredictor, latency_metrics
from autogtkd.space import ChoiceSpace

DATA = "/work/shared/data/tabular"
DEFAULT_TABLES = [f"{DATA}/nb201_cifar10.csv", f"{DATA}/fbnet_cifar100.csv"]
LATENCY_PREFIX = "latency_ms_"


def read_table_rows(path: str | Path) -> list[dict[str, str]]:
    """The rows of a benchmark table (CSV with a header); a missing, unreadable or empty file is a
    one-line ``SystemExit``."""
    try:
        with open(path, newline="", encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
    except OSError as exc:
        raise SystemExit(f"{path}: cannot read the table ({exc.strerror or exc})") from None
    if not rows:
        raise SystemExit(f"{path}: empty table")
    return rows


class Table:
    def __init__(self, path: str | Path, accuracy: str | None = None) -> None:
        rows = read_table_rows(path)
        cols = list(rows[0])
        self.name = Path(path).stem
        self.decisions = [c for c in cols if c.startswith(("edge_", "layer_"))]
        self.devices = [c[len(LATENCY_PREFIX) :] for c in cols if c.startswith(LATENCY_PREFIX)]
        options = sorted({r[d] for r in rows for d in self.decisions})
        self.options = {d: sorted({r[d] for r in rows}, key=options.index) for d in self.decisions}
        self.archs = [{d: r[d] for d in self.decisions} for r in rows]
        self.latency = {dev: np.array([float(r[LATENCY_PREFIX + dev]) for r in rows]) for dev in self.devices}
        self.flops = np.array([float(r["flops_M"]) for r in rows]) if "flops_M" in cols else None
        self.accuracy = np.array([float(r[accuracy]) for r in rows]) if accuracy and accuracy in cols else None
        # baseline design matrices (plain numpy; independent of autogtkd's encoding)
        self.onehot = np.array(
            [[float(a[d] == o) for d in self.decisions for o in self.options[d]] for a in self.archs]
        )
        self.counts = np.array(
            [[sum(a[d] == o for d in self.decisions) for o in options] for a in self.archs], dtype=float
        )

    def space(self, encoding: str | None = None) -> ChoiceSpace:
        enc = {d: encoding for d in self.decisions} if encoding else None
        return ChoiceSpace(self.name, {d: self.options[d] for d in self.decisions}, encoding=enc)


def _lstsq(X: np.ndarray, y: np.ndarray, Xt: np.ndarray) -> np.ndarray:
    A = np.column_stack([X, np.ones(len(X))])
    coef, *_ = np.linalg.lstsq(A, y, rcond=None)
    return np.column_stack([Xt, np.ones(len(Xt))]) @ coef


def _metrics(y: np.ndarray, pred: np.ndarray) -> dict[str, float]:
    m = latency_metrics(y, pred)
    return {"within_10pct": m["within_10pct"], "kendall_tau": m["kendall_tau"]}


def training_set(table: Table, n: int, s: int) -> tuple[np.ndarray, np.ndarray]:
    """Row indices ``(train, test)`` of training set ``s`` of size ``n``: ``n`` random rows, and every
    other row (the sets every latency benchmark and exploration of these tables shares)."""
    rng = np.random.default_rng([s, n, len(table.archs)])
    train = rng.choice(len(table.archs), size=n, replace=False)
    return train, np.setdiff1d(np.arange(len(table.archs)), train)


def run_latency(
    table: Table, space: ChoiceSpace, dev: str, n: int, s: int, *, ours: bool = True, loss: str = "squared"
) -> dict[str, Any]:
    train, test = training_set(table, n, s)
    y = table.latency[dev]
    out: dict[str, Any] = {}
    if ours:
        t0, c0 = time.perf_counter(), time.process_time()
        pred = LatencyPredictor(space, target=dev, random_state=s, loss=loss)
        pred.fit([table.archs[i] for i in train], y[train])
        out[ours_label(loss)] = {
            **_metrics(y[test], pred.predict([table.archs[i] for i in test])),
            "model": pred.regressor_.model_,
            "seconds": time.perf_counter() - t0,
            "cpu_seconds": time.process_time() - c0,
        }
    if table.flops is not None:
        out["flops_linear"] = _metrics(y[test], _lstsq(table.flops[train, None], y[train], table.flops[test, None]))
    out["onehot_lut"] = _metrics(y[test], _lstsq(table.onehot[train], y[train], table.onehot[test]))
    out["op_count"] = _metrics(y[test], _lstsq(table.counts[train], y[train], table.counts[test]))
    return out


def ours_label(loss: str) -> str:
    """Our predictor's name in the records: ``autogtkd`` (default loss) or ``autogtkd-<loss>``."""
    return "autogtkd" if loss == "squared" else f"autogtkd-{loss}"


def run_accuracy(table: Table, spaces: dict[str, ChoiceSpace], n: int, s: int) -> dict[str, Any]:
    assert table.accuracy is not None
    rng = np.random.default_rng([s, n, len(table.archs), 1])
    train = rng.choice(len(table.archs), size=n, replace=False)
    test = np.setdiff1d(np.arange(len(table.archs)), train)
    out: dict[str, Any] = {}
    for label, space in spaces.items():
        X = space.encode_many(table.archs)
        p = AccuracyPredictor(random_state=s).fit(X[train], table.accuracy[train] / 100)
        out[label] = {"kendall_tau": float(kendalltau(p.predict(X[test]), table.accuracy[test]).statistic)}
    return out


def summarise(records: list[dict[str, Any]]) -> dict[str, Any]:
    """``{table: {device: {predictor: {metric: {n: {mean, std, sets}}}}}}``."""
    groups: dict[tuple[str, str, str, str, int], list[float]] = {}
    for r in records:
        for pred, ms in r["result"].items():
            for metric, v in ms.items():
                if isinstance(v, (int, float)) and metric not in ("seconds", "cpu_seconds"):
                    groups.setdefault((r["table"], r["device"], pred, metric, r["n"]), []).append(float(v))
    out: dict[str, Any] = {}
    for (tab, dev, pred, metric, n), vs in sorted(groups.items()):
        out.setdefault(tab, {}).setdefault(dev, {}).setdefault(pred, {}).setdefault(metric, {})[str(n)] = mean_std(vs)
    return out


def mean_std(values: Sequence[float]) -> dict[str, Any]:
    """``{mean, std (ddof 1; 0 for one value), sets}`` of one metric over training sets, rounded to 4 places."""
    v = np.asarray(values, dtype=float)
    return {
        "mean": round(float(v.mean()), 4),
        "std": round(float(v.std(ddof=1)) if v.size > 1 else 0.0, 4),
        "sets": int(v.size),
    }


BASELINES = ("flops_linear", "onehot_lut", "op_count")


def goals(results: dict[str, Any], *, ours: str = "autogtkd", n_ours: int = 50, n_base: int = 100) -> dict[str, Any]:
    """The issue's goal per table and device: ``ours`` from ``n_ours`` measurements against the best
    baseline (per metric, the best of :data:`BASELINES`) from ``n_base``; ``met`` when both the
    share within +-10 % and Kendall's tau are at least the baseline's (means over the training sets)."""
    out: dict[str, Any] = {}
    for tab, per_dev in results.items():
        for dev, per in per_dev.items():
            if ours not in per:
                continue
            row: dict[str, Any] = {}
            for metric in ("within_10pct", "kendall_tau"):
                mine = per[ours].get(metric, {}).get(str(n_ours))
                base = [
                    (per[b][metric][str(n_base)]["mean"], b)
                    for b in BASELINES
                    if b in per and str(n_base) in per[b].get(metric, {})
                ]
                if mine is None or not base:
                    continue
                best, name = max(base)
                row[metric] = {
                    "ours": mine["mean"],
                    "baseline": best,
                    "baseline_name": name,
                    "met": mine["mean"] >= best,
                }
            if row:
                row["met"] = all(v["met"] for v in row.values())
                out.setdefault(tab, {})[dev] = row
    return out


def plot_summaries(summaries: Sequence[dict[str, Any]], path: str | Path) -> Path:
    """One row per table, one column per metric (share within +-10 %, Kendall tau): every predictor of
    the summaries (ours, its variants, the baselines) against the number of measurements, as the mean
    over the devices (a marker per size); the goal's reference, the best baseline at 100, is where
    our line at 50 must reach. Returns the PNG's path."""
    curves: dict[tuple[str, str], dict[str, dict[int, list[float]]]] = {}
    for summary in summaries:
        for tab, per_dev in summary["results"].items():
            for dev, per in per_dev.items():
                if dev == "accuracy":  # the accuracy predictor's rows are not latency
                    continue
                for pred, ms in per.items():
                    for metric in ("within_10pct", "kendall_tau"):
                        by_n = curves.setdefault((tab, metric), {}).setdefault(pred, {})
                        for n, v in ms.get(metric, {}).items():
                            by_n.setdefault(int(n), []).append(v["mean"])
    tables = sorted({tab for tab, _ in curves})
    names = sorted({pred for by_pred in curves.values() for pred in by_pred})
    color = {pred: f"C{i}" for i, pred in enumerate(names)}  # one colour per predictor in every panel
    fig, axes = new_figure(len(tables), 2, figsize=(10, 3.4 * len(tables)), squeeze=False)
    for row, tab in enumerate(tables):
        for col, metric in enumerate(("within_10pct", "kendall_tau")):
            ax = axes[row][col]
            sizes: set[int] = set()
            for pred, by_n in sorted(curves.get((tab, metric), {}).items()):
                ns = sorted(by_n)
                sizes.update(ns)
                style = "-" if pred.startswith("autogtkd") else "--"
                ax.plot(ns, [float(np.mean(by_n[n])) for n in ns], style, marker="o", color=color[pred], label=pred)
            ax.set_xscale("log")
            ax.set_xticks(sorted(sizes), [str(n) for n in sorted(sizes)])
            ax.minorticks_off()
            ax.set_title(f"{tab}: {'share within ±10 %' if col == 0 else 'Kendall τ'} (mean over devices)", fontsize=9)
            ax.set_xlabel("measurements")
            ax.grid(alpha=0.3)
        axes[row][0].legend(fontsize=8)
    return save_figure(fig, path)


def new_figure(rows: int, cols: int, **kw: Any) -> tuple[Any, Any]:
    """``matplotlib.pyplot.subplots(rows, cols, **kw)`` on the file-only backend (no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt.subplots(rows, cols, **kw)


def save_figure(fig: Any, path: str | Path) -> Path:
    """Lay out ``fig``, write it as ``path`` (PNG, 100 dpi; folders created) and close it."""
    import matplotlib.pyplot as plt

    fig.tight_layout()
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out


def markdown(results: dict[str, Any], sizes: Sequence[int], ours: str = "autogtkd") -> str:
    """Per table: device x predictor rows, ``within +-10 % / tau`` (means) at each size."""
    lines: list[str] = []
    for tab, per_dev in results.items():
        lines += [
            f"\n**{tab}** (share within ±10 % / Kendall τ, mean over training sets)\n",
            "| device | predictor | " + " | ".join(f"n={n}" for n in sizes) + " |",
            "|---|---|" + "---:|" * len(sizes),
        ]
        for dev, per in per_dev.items():
            if dev == "accuracy":
                continue
            for pred in (ours, *BASELINES):
                if pred not in per:
                    continue
                m = per[pred]
                cells = [
                    f"{m['within_10pct'][str(n)]['mean']:.3f} / {m['kendall_tau'][str(n)]['mean']:.3f}"
                    if str(n) in m.get("within_10pct", {})
                    else "–"
                    for n in sizes
                ]
                lines.append(f"| {dev} | {pred} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--tables", nargs="+", default=DEFAULT_TABLES)
    p.add_argument("--sizes", type=int, nargs="+", default=[25, 50, 100, 300])
    p.add_argument("--sets", type=int, default=10)
    p.add_argument("--devices", nargs="+", default=None, help="default: every latency column")
    p.add_argument("--accuracy", default="cifar10_test_acc_200ep", help="accuracy column for the predictor's tau")
    p.add_argument("--accuracy-sizes", type=int, nargs="+", default=[20, 50, 100])
    p.add_argument("--work", default="/tmp/tabular_latency", help="directory of report.md")
    p.add_argument(
        "--runs",
        default="benchmarks/results/tabular_latency_runs.jsonl",
        help="the resumable record of finished runs (JSON lines; committed, so a run continues on another machine)",
    )
    p.add_argument("--json", default="benchmarks/results/tabular_latency.json")
    p.add_argument("--summarise-only", action="store_true", help="write the summary of the --runs file; run nothing")
    p.add_argument(
        "--baselines-only",
        action="store_true",
        help="only the least-squares baselines (cheap), no accuracy predictor; a later full run redoes these sets",
    )
    p.add_argument(
        "--loss",
        choices=LOSSES,
        default="squared",
        help="our predictor's loss; with huber its records are 'autogtkd-huber' (give their own --runs and --json)",
    )
    p.add_argument(
        "--plot",
        metavar="PNG",
        help="draw every predictor against the number of measurements from the --json summary "
        "(and --plot-with summaries); run nothing",
    )
    p.add_argument("--plot-with", nargs="+", default=[], metavar="JSON", help="more summaries for --plot (e.g. huber)")
    p.add_argument("--quiet", action="store_true")
    args = p.parse_args(argv)
    if args.plot:  # needs only the summaries
        try:
            summaries = [json.loads(Path(f).read_text()) for f in (args.json, *args.plot_with)]
        except (OSError, json.JSONDecodeError) as exc:
            raise SystemExit(f"cannot read a summary: {exc}") from None
        print(plot_summaries(summaries, args.plot))
        return
    ours = ours_label(args.loss)
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    runs = Path(args.runs)
    # one record per (table, device, n, set): a later line (a full run after --baselines-only) replaces an earlier one
    by_key = {(r["table"], r["device"], r["n"], r["set"]): r for r in read_runs(runs)}
    done = {k for k, r in by_key.items() if args.baselines_only or k[1] == "accuracy" or ours in r["result"]}
    tables = [Table(t, args.accuracy) for t in args.tables]
    jobs: list[tuple[Table, str, int, int]] = []
    for n in sorted(args.sizes):  # small sizes first: a partial run covers every table and device
        for s in range(args.sets):
            for t in tables:
                jobs += [(t, dev, n, s) for dev in (args.devices or t.devices)]
            for t in tables:
                if t.accuracy is not None and n == min(args.sizes) and not args.baselines_only and ours == "autogtkd":
                    jobs += [(t, "accuracy", k, s) for k in args.accuracy_sizes]
    spaces = {t.name: t.space() for t in tables}
    for t, dev, n, s in [] if args.summarise_only else jobs:
        if (t.name, dev, n, s) in done:
            continue
        if dev == "accuracy":
            res = run_accuracy(t, {"encode": spaces[t.name], "option_index": t.space("ordinal")}, n, s)
        else:
            res = run_latency(t, spaces[t.name], dev, n, s, ours=not args.baselines_only, loss=args.loss)
        rec = {"table": t.name, "device": dev, "n": n, "set": s, "result": res}
        by_key[(t.name, dev, n, s)] = rec
        append_run(runs, rec)
        if not args.quiet:
            print(t.name, dev, n, s, json.dumps(res), flush=True)
        write_summary(args, list(by_key.values()), argv)
    summary = write_summary(args, list(by_key.values()), argv)
    (work / "report.md").write_text(markdown(summary["results"], sorted(args.sizes), ours))


def write_summary(
    args: argparse.Namespace, records: list[dict[str, Any]], argv: Sequence[str] | None
) -> dict[str, Any]:
    results = summarise(records)
    summary = {
        "meta": {
            "tables": [Path(x).name for x in args.tables],
            "sizes": args.sizes,
            "sets": args.sets,
            "records": len(records),
            "command": "python benchmarks/tabular_latency.py " + " ".join(sys.argv[1:] if argv is None else argv),
        },
        "results": results,
        "goals": goals(results, ours=ours_label(args.loss)),
    }
    atomic_write_json(args.json, summary, indent=1)
    return summary


if __name__ == "__main__":
    main()
