"""Throughput of sampling, mutation, canonicalisation and closed-form FLOPs/params per space.

Usage:
    python benchmarks/space_throughput.py [--n 20000] [--spaces mbv3-cifar resnet-cifar ...]

Prints one row per space (architectures per second, single process). The goal for search is
>= 10,000 FLOPs evaluations per second on ``mbv3-cifar``.
"""

from __future__ import annotations

import argparse
import platform
import time
from collections.abc import Callable

import numpy as np

from autogtkd.space import create_space, list_spaces


def _rate(fn: Callable[[], object], n: int) -> float:
    t0 = time.perf_counter()
    for _ in range(n):
        fn()
    return n / (time.perf_counter() - t0)


def _measure(name: str, n: int) -> tuple[float, float, float, float, float, float]:
    """Rates (per second) of sample, mutate, canonical, flops, flops+params and flops from plain dicts."""
    space = create_space(name)
    rng = np.random.default_rng(0)
    archs = [space.sample(rng) for _ in range(n)]
    it = iter(archs * 3)
    sample = _rate(lambda: space.sample(rng), n)
    mutate = _rate(lambda: space.mutate(next(it), rng), n)
    plain = [a.to_dict() for a in archs]
    pit = iter(plain)
    canon = _rate(lambda: space.canonical(next(pit)), n)
    fit = iter(archs)
    flops = _rate(lambda: space.flops(next(fit)), n)
    bit = iter(archs)
    both = _rate(lambda: (space.flops(a := next(bit)), space.params(a)), n)
    fresh_space = create_space(name)  # no memo: every arch canonicalised from a plain dict
    fresh = iter([dict(a) for a in archs])
    fresh_rate = _rate(lambda: fresh_space.flops(next(fresh)), n)
    return sample, mutate, canon, flops, both, fresh_rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=20000, help="architectures per measurement")
    parser.add_argument("--spaces", nargs="*", default=list_spaces())
    args = parser.parse_args()
    print(f"python {platform.python_version()} on {platform.processor() or platform.machine()}; n={args.n}")
    print(f"{'space':<18} {'sample/s':>10} {'mutate/s':>10} {'canon/s':>10} {'flops/s':>10} {'flops+params/s':>15} {'fresh flops/s':>14}")
    for name in args.spaces:
        sample, mutate, canon, flops, both, fresh_rate = _measure(name, args.n)
        print(f"{name:<18} {sample:>10.0f} {mutate:>10.0f} {canon:>10.0f} {flops:>10.0f} {both:>15.0f} {fresh_rate:>14.0f}")


if __name__ == "__main__":
    main()
