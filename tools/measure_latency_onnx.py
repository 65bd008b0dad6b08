#!/usr/bin/env python3
"""Measure the latency of exported ONNX models on this device -- standalone, no autogtkd, no torch.

Needs only Python >= 3.8, numpy and onnxruntime (``pip install numpy onnxruntime``). Copy this file
and a folder made by ``autogtkd latency export-onnx --space S --n 100 --out MODELS`` to the device
(phone via Termux, Jetson, another server), then run::

    python measure_latency_onnx.py MODELS --out measurements.jsonl --target jetson-orin --threads 4

It writes an autogtkd measurement file (JSON Lines; schema in docs/latency.md): a header record
with the space, target, runtime, threads, batch size, CPU and versions, then one record per model::

    {"arch": {...}, "latency_ms": 3.21, "latency_iqr_ms": 0.04, "n_samples": 50, "n_rejected": 2,
     "model": "0007.onnx", "energy_mj": 12.5}

Each line is flushed as it is written; re-running with the same --out skips models already
measured. ``energy_mj`` (millijoules per forward pass) is added with ``--energy rapl`` on Linux
machines that expose Intel/AMD RAPL counters under /sys/class/powercap (it is the whole package's
energy, so keep the machine otherwise idle). Bring the file back and run
``autogtkd latency fit measurements.jsonl --out PREDICTOR``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from datetime import datetime, timezone

FORMAT = "autogtkd-latency"


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                low = line.lower()
                if low.startswith(("model name", "hardware", "cpu model")):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _read(path: str) -> str:
    with open(path, encoding="utf-8") as f:
        return f.read()


class Rapl:
    """Package energy from Linux RAPL counters (microjoules, wrapping)."""

    def __init__(self) -> None:
        base = "/sys/class/powercap"
        self.files = []
        if os.path.isdir(base):
            for name in sorted(os.listdir(base)):
                if name.count(":") == 1:  # top-level packages, e.g. intel-rapl:0
                    path = os.path.join(base, name, "energy_uj")
                    if os.access(path, os.R_OK):
                        self.files.append((path, os.path.join(base, name, "max_energy_range_uj")))
        if not self.files:
            raise SystemExit("error: --energy rapl needs readable /sys/class/powercap/*/energy_uj (try sudo)")

    def read(self) -> list:
        return [int(_read(p)) for p, _ in self.files]

    def joules(self, before: list, after: list) -> float:
        total = 0
        for (_, rng_path), b, a in zip(self.files, before, after):
            d = a - b
            if d < 0:
                d += int(_read(rng_path))
            total += d
        return total / 1e6


def _percentile(xs: list, q: float) -> float:
    s = sorted(xs)
    pos = (len(s) - 1) * q
    lo, hi = int(pos), min(int(pos) + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (pos - lo)


def summarise(samples: list) -> dict:
    """Median and IQR after Tukey outlier rejection (same rule as autogtkd)."""
    kept = samples
    if len(samples) >= 4:
        q1, q3 = _percentile(samples, 0.25), _percentile(samples, 0.75)
        iqr = q3 - q1
        kept = [x for x in samples if q1 - 1.5 * iqr <= x <= q3 + 1.5 * iqr]
    return {
        "latency_ms": round(_percentile(kept, 0.5), 6),
        "latency_iqr_ms": round(_percentile(kept, 0.75) - _percentile(kept, 0.25), 6),
        "n_samples": len(samples),
        "n_rejected": len(samples) - len(kept),
    }


def main(argv: list | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("models", help="folder of NNNN.onnx + NNNN.json (from `autogtkd latency export-onnx`)")
    ap.add_argument("--out", required=True, help="measurement file to write or resume (.jsonl)")
    ap.add_argument("--target", required=True, help="name of this device, e.g. pixel7-cpu")
    ap.add_argument("--threads", type=int, default=1, help="intra-op threads (default 1)")
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--repeats", type=int, default=50)
    ap.add_argument("--provider", default="CPUExecutionProvider", help="ONNX Runtime execution provider")
    ap.add_argument("--energy", choices=("none", "rapl"), default="none")
    ap.add_argument("--clock", choices=("auto", "wall", "cpu"), default="auto",
                    help="wall clock or the calling thread's CPU time (robust when the device is shared; "
                    "threads=1 only); auto: cpu for --threads 1, else wall")
    args = ap.parse_args(argv)
    clock = ("cpu" if args.threads == 1 else "wall") if args.clock == "auto" else args.clock
    if clock == "cpu" and args.threads != 1:
        raise SystemExit("error: --clock cpu needs --threads 1 (worker threads are not counted)")
    now = time.thread_time_ns if clock == "cpu" else time.perf_counter_ns

    import numpy as np
    import onnxruntime as ort

    names = sorted(f for f in os.listdir(args.models) if f.endswith(".onnx"))
    if not names:
        raise SystemExit(f"error: no .onnx files in {args.models}")
    space_info = {}
    space_file = os.path.join(args.models, "space.json")
    if os.path.isfile(space_file):
        with open(space_file, encoding="utf-8") as f:
            space_info = json.load(f)
    done = set()
    if os.path.exists(args.out) and os.path.getsize(args.out) > 0:
        with open(args.out, "rb") as f:
            data = f.read()
        if not data.endswith(b"\n"):  # torn last line of a killed run
            with open(args.out, "r+b") as f:
                f.truncate(data.rfind(b"\n") + 1)
        with open(args.out, encoding="utf-8") as f:
            for line in f:
                rec = json.loads(line)
                if rec.get("type") == "header":
                    if (rec.get("target"), rec.get("threads"), rec.get("clock")) != (args.target, args.threads, clock):
                        raise SystemExit(f"error: {args.out} holds measurements of another target/threads/clock")
                elif "model" in rec:
                    done.add(rec["model"])
        out = open(args.out, "a", encoding="utf-8")  # noqa: SIM115 - closed at the end
    else:
        out = open(args.out, "w", encoding="utf-8")  # noqa: SIM115 - closed at the end
        header = {
            "type": "header", "format": FORMAT, "version": 1,
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "space": space_info.get("space"), "space_hash": space_info.get("space_hash"),
            "space_def": space_info.get("space_def"), "target": args.target, "runtime": "onnxruntime",
            "provider": args.provider, "threads": args.threads, "warmup": args.warmup, "repeats": args.repeats,
            "clock": clock,
            "machine": {
                "cpu": _cpu_model(), "cpu_count": os.cpu_count(), "os": f"{platform.system()} {platform.release()}",
                "machine": platform.machine(),
                "versions": {"python": platform.python_version(), "onnxruntime": ort.__version__, "numpy": np.__version__},
            },
            "tool": "measure_latency_onnx.py",
        }
        out.write(json.dumps(header) + "\n")
        out.flush()
    rapl = Rapl() if args.energy == "rapl" else None
    todo = [n for n in names if n not in done]
    first_shape = None
    for k, name in enumerate(todo, 1):
        with open(os.path.join(args.models, name[:-5] + ".json"), encoding="utf-8") as f:
            meta = json.load(f)
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = args.threads
        opts.inter_op_num_threads = 1
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        opts.log_severity_level = 3
        sess = ort.InferenceSession(os.path.join(args.models, name), opts, providers=[args.provider])
        inp = sess.get_inputs()[0]
        shape = [d if isinstance(d, int) else 1 for d in inp.shape]
        first_shape = first_shape or shape
        x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
        feed = {inp.name: x}
        for _ in range(args.warmup):
            sess.run(None, feed)
        samples = []
        e0 = rapl.read() if rapl else None
        t_all = time.perf_counter()
        for _ in range(args.repeats):
            t0 = now()
            sess.run(None, feed)
            samples.append((now() - t0) / 1e6)
        rec = {"arch": meta["arch"], **summarise(samples), "model": name, "batch_size": shape[0],
               "input_size": shape[-1]}
        if rapl:
            elapsed = time.perf_counter() - t_all
            rec["energy_mj"] = round(rapl.joules(e0, rapl.read()) * 1e3 / args.repeats, 6)
            rec["energy_window_s"] = round(elapsed, 3)
        out.write(json.dumps(rec) + "\n")
        out.flush()
        os.fsync(out.fileno())
        print(f"[{k}/{len(todo)}] {name}: {rec['latency_ms']:.3f} ms", file=sys.stderr)
    out.close()
    print(f"wrote {args.out} ({len(done) + len(todo)} models); batch {first_shape[0] if first_shape else '?'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
