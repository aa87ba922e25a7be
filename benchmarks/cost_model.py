"""Analytic cost (params, MACs from `SearchSpace.ops`) vs building and tracing each model.

Both paths score the same sampled architectures in one run and must agree exactly; the printed
ratio is why evaluators use the analytic path for the cheap objectives.

    .venv/bin/python benchmarks/cost_model.py [--space mnasnet] [--n 200] [--input-size 224]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from torch.utils.flop_counter import FlopCounterMode

from search_spaces import get_space


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--space", default="mnasnet")
    parser.add_argument("--n", type=int, default=200)
    parser.add_argument("--traced", type=int, default=20, help="how many of them to build and trace")
    parser.add_argument("--input-size", type=int, default=224)
    args = parser.parse_args()
    torch.set_num_threads(2)
    space = get_space(args.space)
    archs = [space.sample(np.random.default_rng(i)) for i in range(args.n)]

    start = time.perf_counter()
    analytic = [space.cost(a, input_size=args.input_size) for a in archs]
    t_analytic = (time.perf_counter() - start) / len(archs)

    start = time.perf_counter()
    for arch, cost in zip(archs[: args.traced], analytic, strict=False):
        model = space.build(arch, input_size=args.input_size).eval()
        with FlopCounterMode(display=False) as counter, torch.no_grad():
            model(torch.randn(1, 3, args.input_size, args.input_size))
        params = sum(p.numel() for p in model.parameters())
        assert (params, counter.get_total_flops() // 2) == cost, f"mismatch on {arch.arch_id}"
    t_traced = (time.perf_counter() - start) / args.traced

    print(f"space {args.space}, input {args.input_size}x{args.input_size}, {args.n} architectures")
    print(f"analytic cost : {t_analytic * 1e3:8.3f} ms/arch ({1 / t_analytic:,.0f} arch/s)")
    print(f"build + trace : {t_traced * 1e3:8.3f} ms/arch ({1 / t_traced:,.1f} arch/s), identical results")
    print(f"speed-up      : {t_traced / t_analytic:,.0f}x")


if __name__ == "__main__":
    main()
