"""NCHW vs NHWC (``channels_last``) forward passes of one ``mbv3-cifar`` subnet in eval mode, as the
``inherit`` scorer runs them (docs/benchmarks.md, "Main job").

Process CPU time per pass (mean of 2 after a warm-up), so the ratio stays meaningful when other jobs
load the machine; with ``--threads`` > 1 CPU time adds up over threads (compare wall time on an idle
machine instead: ``benchmarks/main_job.py --ab N``). Weights are the untrained supernet's (speed does
not depend on them).

Usage::

    python benchmarks/nhwc_forward.py --mflops 150 --batch 128
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable

import numpy as np
import torch

from autogtkd.space import load_space


def cpu_seconds(fn: Callable[[], object], reps: int = 2) -> float:
    """Mean process CPU time of ``fn`` over ``reps`` calls after one warm-up call."""
    fn()
    t0 = time.process_time()
    for _ in range(reps):
        fn()
    return (time.process_time() - t0) / reps


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--mflops", type=float, default=150.0, help="the subnet nearest this many MFLOPs (MACs)")
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    space = load_space("mbv3-cifar", num_classes=10)
    torch.manual_seed(0)
    net = space.build_supernet().eval()
    rng = np.random.default_rng(0)
    pool = [space.sample(rng) for _ in range(200)]
    arch = min(pool, key=lambda a: abs(space.flops(a) / 1e6 - args.mflops))
    nchw = net.export(arch).eval()
    nhwc = net.export(arch).eval().to(memory_format=torch.channels_last)
    x = torch.randn(args.batch, 3, space.input_size, space.input_size)
    with torch.inference_mode():
        t_nchw = cpu_seconds(lambda: nchw(x))
        t_nhwc = cpu_seconds(lambda: nhwc(x))
    print(f"{space.flops(arch) / 1e6:.0f} MFLOPs, batch {args.batch}, {args.threads} thread(s): NCHW {t_nchw:.3f} s, "
          f"NHWC {t_nhwc:.3f} s of CPU per pass ({t_nchw / t_nhwc:.2f}x)")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
