"""Time the main job: README's first command, ``autogtkd search --budget 300MFLOPs --out DIR``, on the
embedded default run, from an empty cache and again (docs/benchmarks.md, "Main job"; issue 12 §3).

1. **First run**: the real CLI in a subprocess with ``AUTOGTKD_HOME`` an empty folder (it trains the
   default run, then scores ``--trials`` students); wall time from start to the last line, and when
   each progress bar was first and last seen (the phases: start-up, training epochs, search).
2. **Rerun**: the same command again (cached run, finished study).
3. **Per-candidate cost**: every scored student of the first run is scored again in this process with
   the search's own scorer (``create_scorer("inherit", run)``, the CLI's defaults and threads), and
   its **forward-pass floor** is measured: the same images (calibration + validation) through the
   same exported subnet, batches prepared beforehand, only ``model(x)`` timed. Printed: mean seconds
   per candidate, mean floor, their ratio (issue 12: <= 1.3).
4. **Front quality**: the accuracies of the scored students and of the Pareto front (mean, min, max,
   spread), so a speed-up that lowers quality shows.

Every number is printed with the load average and thread count it was taken at; ``--json`` writes them.
Usage (on an otherwise idle machine; pip excluded)::

    python benchmarks/main_job.py --json main_job.json
    python benchmarks/main_job.py --threads 1          # the same, with --threads 1 passed to the CLI
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

COMMAND = ["search", "--budget", "300MFLOPs"]


def _load() -> list[float]:
    return [round(v, 2) for v in os.getloadavg()]


class _BarClock:
    """Reads a child's stderr, echoes it, and records when each progress bar (the text before the
    first ':' of a tqdm line) was first and last seen, in seconds since ``t0`` (to the chunk read)."""

    def __init__(self, stream: Any, t0: float, echo: bool) -> None:
        self.seen: dict[str, list[float]] = {}
        self.text: list[str] = []
        self._stream, self._t0, self._echo = stream, t0, echo
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        buf = ""
        while chunk := self._stream.read1(4096) if hasattr(self._stream, "read1") else self._stream.read(4096):
            text = chunk.decode(errors="replace") if isinstance(chunk, bytes) else chunk
            if self._echo:
                sys.stderr.write(text)
                sys.stderr.flush()
            self.text.append(text)
            buf += text
            *parts, buf = re.split(r"[\r\n]", buf)
            now = time.perf_counter() - self._t0
            for p in parts:
                m = re.match(r"\s*([^:\r\n]{1,40}?):\s+(\d+%|\d+\w* \[)", p)  # "N%" or, without a total, "Nunit ["
                if m:
                    self.seen.setdefault(m.group(1).strip(), [now, now])[1] = now

    def join(self) -> None:
        self._thread.join()


def run_cli(argv: list[str], env: dict[str, str], *, echo: bool) -> dict[str, Any]:
    """Run ``python -m autogtkd ARGV``; returns wall seconds, exit code, stdout and the bars' times."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "autogtkd", *argv], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    clock = _BarClock(proc.stderr, t0, echo)
    out = proc.stdout.read().decode()  # type: ignore[union-attr]
    rc = proc.wait()
    wall = time.perf_counter() - t0
    clock.join()
    if echo:
        sys.stdout.write(out)
    return {
        "wall_s": wall,
        "returncode": rc,
        "stdout": out,
        "stderr_tail": "".join(clock.text)[-3000:],
        "bars": {k: [round(a, 1), round(b, 1)] for k, (a, b) in clock.seen.items()},
    }


def front_quality(out: Path) -> dict[str, Any]:
    """Accuracies (%) of the scored students and of the Pareto front written in ``out``."""
    from autogtkd.search import load_result

    res = load_result(out)

    def stats(cands: Any) -> dict[str, Any]:
        acc = [100 * c.accuracy for c in cands]
        return {
            "n": len(acc),
            "mean": statistics.fmean(acc),
            "min": min(acc),
            "max": max(acc),
            "stdev": statistics.stdev(acc) if len(acc) > 1 else 0.0,
            "mflops": [round(c.flops / 1e6, 1) for c in cands],
            "top1": [round(a, 2) for a in acc],
        }

    return {"students": stats(res.trials), "front": stats(res.candidates), "hypervolume": res.hypervolume}


def _timed(fn: Any) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def candidate_cost(out: Path, threads: int | None, limit: int | None, ab: int = 0) -> dict[str, Any]:
    """Re-score the first run's students with the search's scorer and time them beside their
    forward-pass floor: the same calibration + validation batches, prepared beforehand, through the
    scorer's own recalibrated subnet (memory format included), only ``model(x)`` timed. The first
    ``ab`` students are also scored in NCHW (``channels_last=False``) beside NHWC, alternating."""
    import torch

    from autogtkd.evaluate import create_scorer
    from autogtkd.nn import cpu_threads
    from autogtkd.search import load_result
    from autogtkd.train import load_run

    res = load_result(out)
    run = load_run(res.info["run"])
    scorer = create_scorer("inherit", run)  # the search's defaults (ScorerOptions())
    n = threads if threads is not None else torch.get_num_threads()  # as the CLI chooses
    archs = [c.arch for c in res.trials][:limit]
    costs, floors = [], []
    with cpu_threads(n):
        batches = [x for _, (x, _) in zip(range(scorer.calib_batches or 10**9), scorer.calib_loader)]
        batches += [x for _, (x, _) in zip(range(scorer.val_batches or 10**9), scorer.val_loader)]
        scorer.evaluate(archs[0])  # warm-up (allocator, oneDNN primitive caches)
        for a in archs:
            costs.append(_timed(lambda a=a: scorer.evaluate(a)))
            model = scorer.model(a).eval()
            with torch.inference_mode():
                model(batches[0])  # warm-up of this subnet's kernels
                floors.append(_timed(lambda m=model: [m(x) for x in batches]))
        nchw = copy.copy(scorer)
        nchw.channels_last = False
        layout = [(_timed(lambda a=a: scorer.evaluate(a)), _timed(lambda a=a: nchw.evaluate(a))) for a in archs[:ab]]
    mean_cost, mean_floor = statistics.fmean(costs), statistics.fmean(floors)
    return {
        "layout_ab": {
            "candidates": len(layout),
            "nhwc_seconds": statistics.fmean(t for t, _ in layout) if layout else None,
            "nchw_seconds": statistics.fmean(t for _, t in layout) if layout else None,
        },
        "candidates": len(archs),
        "threads": n,
        "channels_last": scorer.channels_last,
        "images_per_candidate": sum(len(x) for x in batches),
        "seconds_per_candidate": mean_cost,
        "floor_seconds_per_candidate": mean_floor,
        "ratio": mean_cost / mean_floor,
        "per_candidate": [
            {"mflops": round(run.space.flops(a) / 1e6, 1), "seconds": round(c, 3), "floor": round(f, 3)}
            for a, c, f in zip(archs, costs, floors, strict=True)
        ],
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--home", help="AUTOGTKD_HOME of the first run (default: a new empty temporary folder)")
    ap.add_argument("--out", help="search output folder (default: a new temporary folder)")
    ap.add_argument("--threads", type=int, help="pass --threads N to the CLI (default: the CLI's own choice)")
    ap.add_argument("--cli-arg", action="append", default=[], metavar="ARG", help="extra CLI argument, repeatable")
    ap.add_argument("--candidates", type=int, help="re-score only this many students for the cost (default: all)")
    ap.add_argument("--skip-cost", action="store_true", help="no per-candidate cost / floor measurement")
    ap.add_argument("--ab", type=int, default=3, metavar="N", help="students also scored in NCHW vs NHWC (default: 3)")
    ap.add_argument("--quiet", action="store_true", help="do not echo the CLI's output")
    ap.add_argument("--json", help="write the numbers to this JSON file")
    args = ap.parse_args(argv)

    tmp = Path(tempfile.mkdtemp(prefix="autogtkd-main-job-"))
    home = Path(args.home) if args.home else tmp / "home"
    out = Path(args.out) if args.out else tmp / "out"
    if home.exists() and any(home.iterdir()):
        print(f"note: {home} is not empty: the first run is not from an empty cache", file=sys.stderr)
    if out.exists():
        shutil.rmtree(out)
    env = {**os.environ, "AUTOGTKD_HOME": str(home)}
    cli = [*COMMAND, "--out", str(out), *args.cli_arg]
    if args.threads is not None:
        cli += ["--threads", str(args.threads)]
    report: dict[str, Any] = {
        "command": "autogtkd " + " ".join(cli),
        "cpus": os.cpu_count(),
        "load_before": _load(),
    }
    import torch

    report["torch"] = torch.__version__
    for name in ("first", "rerun"):
        r = run_cli(cli, env, echo=not args.quiet)
        report[name] = {k: v for k, v in r.items() if k not in ("stdout", "stderr_tail")}
        report[name]["load_after"] = _load()
        if r["returncode"] != 0:
            print(r["stderr_tail"], file=sys.stderr)
            print(f"error: the {name} run exited with {r['returncode']}", file=sys.stderr)
            return 1
    report["quality"] = front_quality(out)
    if not args.skip_cost:
        report["cost"] = candidate_cost(out, args.threads, args.candidates, args.ab)
        report["load_after_cost"] = _load()

    f, q = report["first"], report["quality"]
    print(f"\nmain job: {report['command']}  (cpus {report['cpus']}, load before {report['load_before']})")
    print(f"first run (empty cache): {f['wall_s']:.1f} s wall  (load after {f['load_after']})")
    for bar, (a, b) in f["bars"].items():
        print(f"  progress bar {bar!r}: seen from {a:.1f} s to {b:.1f} s")
    print(f"rerun: {report['rerun']['wall_s']:.1f} s wall")
    for k in ("students", "front"):
        s = q[k]
        print(f"{k}: n={s['n']} top-1 mean {s['mean']:.2f} %, min {s['min']:.2f}, max {s['max']:.2f}, "
              f"stdev {s['stdev']:.2f}; MFLOPs {min(s['mflops'])}-{max(s['mflops'])}")  # fmt: skip
    print(f"front top-1 %: {q['front']['top1']}  hypervolume {q['hypervolume']:.4f}")
    if "cost" in report:
        c = report["cost"]
        print(f"per candidate ({c['candidates']} students, {c['images_per_candidate']} images, {c['threads']} threads): "
              f"{c['seconds_per_candidate']:.2f} s, forward-pass floor {c['floor_seconds_per_candidate']:.2f} s, "
              f"ratio {c['ratio']:.2f} (load after {report['load_after_cost']})")  # fmt: skip
        if c["layout_ab"]["candidates"]:
            ab = c["layout_ab"]
            print(f"memory format, {ab['candidates']} students: NHWC {ab['nhwc_seconds']:.2f} s, "
                  f"NCHW {ab['nchw_seconds']:.2f} s per student")  # fmt: skip
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2) + "\n")
        print(f"wrote {args.json}")
    if not args.home:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
