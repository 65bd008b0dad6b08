"""How flat is the FLOPs histogram of architectures drawn from ``flops_flat_prior``?

Usage:
    python benchmarks/flops_flat_prior.py [--spaces mbv3-cifar resnet-cifar] [--seeds 3] [--n 2000]
        [--bins 10] [--rounds 1 5]

For each space and seed: build the prior (``samples=n``, ``bins``, each ``rounds`` value; ``rounds=1``
is a single reweighting of uniform samples), draw ``n`` architectures from it and ``n`` uniform ones,
and print the entropy (nats) of their log-FLOPs histograms over ``bins`` equal-width bins spanning
the range of both draws together (the measure of tests/gtn/test_arch_dist.py); a flat histogram has
entropy ``ln(bins)``. Rows: mean ± std over seeds, and the seconds one prior takes to build.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from autogtkd.gtn import ArchDistribution, flops_flat_prior
from autogtkd.space import SearchSpace, create_space


def draw_log_flops(space: SearchSpace, probs: list[np.ndarray], n: int, rng: np.random.Generator) -> np.ndarray:
    """log(FLOPs) of ``n`` architectures drawn from the per-decision marginals ``probs``."""
    dist = ArchDistribution(space)
    idx = np.stack([rng.choice(len(p), size=n, p=p / p.sum()) for p in probs], axis=1)
    return np.log([max(space.flops(dist.decode(row)), 1) for row in idx])


def hist_entropy(logf: np.ndarray, edges: np.ndarray) -> float:
    """Entropy (nats) of the histogram of ``logf`` over ``edges``."""
    counts = np.histogram(logf, edges)[0]
    p = counts[counts > 0] / counts.sum()
    return float(-(p * np.log(p)).sum())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--spaces", nargs="*", default=["mbv3-cifar", "resnet-cifar"])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--n", type=int, default=2000, help="samples per prior round and per evaluation draw")
    parser.add_argument("--bins", type=int, default=10)
    parser.add_argument("--rounds", type=int, nargs="*", default=[1, 5])
    args = parser.parse_args()
    torch.set_num_threads(1)
    print(f"bins={args.bins} n={args.n} seeds={args.seeds}; flat = ln(bins) = {np.log(args.bins):.3f} nats")
    for name in args.spaces:
        space = create_space(name)
        uniform = [np.full(len(c.options), 1.0 / len(c.options)) for c in space.choices]
        for rounds in args.rounds:
            h_u, h_p, secs = [], [], []
            for seed in range(args.seeds):
                t0 = time.perf_counter()
                prior = flops_flat_prior(
                    ArchDistribution(space), np.random.default_rng(seed), samples=args.n, bins=args.bins, rounds=rounds
                )
                secs.append(time.perf_counter() - t0)
                rng = np.random.default_rng(1000 + seed)
                lu = draw_log_flops(space, uniform, args.n, rng)
                lp = draw_log_flops(space, [t.double().numpy() for t in prior], args.n, rng)
                both = np.concatenate([lu, lp])
                edges = np.linspace(both.min(), both.max() + 1e-9, args.bins + 1)
                h_u.append(hist_entropy(lu, edges))
                h_p.append(hist_entropy(lp, edges))
            print(
                f"{name:<14} rounds={rounds:<3} H(uniform)={np.mean(h_u):.3f}±{np.std(h_u):.3f} "
                f"H(prior)={np.mean(h_p):.3f}±{np.std(h_p):.3f} build={np.mean(secs):.1f}s",
                flush=True,
            )


if __name__ == "__main__":
    main()
