"""Sparse vs dense inference of MobileNet v1: does sparsity turn into measured speed on this CPU?

MobileNet v1 (width 1.0, 224x224, batch 1, 2 threads) with every 1x1 layer at 90% sparsity
(`--sparsity`, `--block`), first convolution, depthwise layers and classifier dense as in Fast
Sparse ConvNets. The same network runs twice with the same masked weights: once through the
sparse kernels (each layer's fastest of dense / torch CSR / the block-sparse C++ kernel, chosen
by measurement on first use), once as the plain dense model (`to_dense`: standard `nn.Conv2d`
carrying the masked weights, oneDNN). Both get the usual inference preparation, BatchNorm folded
into the preceding convolution (`--no-fold` keeps it); the sparse kernel also applies ReLU6 as
it stores its result (XNNPACK's sparse kernels do the same), and both run with the tuned
allocator of `evaluators.devices.timing.tune_allocator`. Calls alternate between the two so that
load from other processes hits both alike; medians, best times and both ratios are printed (on a
busy machine the best times are the better estimate of a quiet one), and the outputs must agree
within 1e-4. The paper reports 1.3-2.4x on an ARM phone; the goal here is at least 1.5x.

    .venv/bin/python benchmarks/sparse_speedup.py [--sparsity 90] [--block 1x1] [--rounds 50] [--threads 2]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections import Counter

import torch

from evaluators.devices.timing import tune_allocator
from search_spaces import get_space
from search_spaces.ops import sparse_kernels
from search_spaces.ops.sparse_modules import fold_batchnorm, fuse_activations, set_backend, sparse_layers, to_dense
from search_spaces.sparse.presets import v1_genome

TOLERANCE = 1e-4
GOAL = 1.5


def calibrate(model: torch.nn.Module, shape: tuple[int, ...], batches: int = 2) -> None:
    """BatchNorm statistics of random inputs, so activations stay O(1) through the network (with
    the init statistics they vanish, and an output comparison would prove nothing)."""
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.reset_running_stats()
            m.momentum = None  # cumulative average
    model.train()
    with torch.no_grad():
        for _ in range(batches):
            model(torch.randn(8, *shape[1:]))
    model.eval()


def timed(fn: object, x: torch.Tensor) -> float:
    start = time.perf_counter()
    fn(x)  # type: ignore[operator]
    return (time.perf_counter() - start) * 1e3


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sparsity", type=int, default=90, help="percent, one of the space's levels")
    parser.add_argument("--block", default="1x1", choices=("1x1", "1x2", "1x4"))
    parser.add_argument("--width", default="1.0")
    parser.add_argument("--input-size", type=int, default=224)
    parser.add_argument("--rounds", type=int, default=50)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--no-fold", action="store_true", help="keep BatchNorm layers (folded into convs by default)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    tuned = tune_allocator()  # both models: no per-call page faults of freed activations

    space = get_space("sparse")
    genome = list(v1_genome(args.width, args.sparsity))
    genome[2:-1] = [g.replace("_1x1", f"_{args.block}") for g in genome[2:-1]]
    arch = space.from_genome(genome)
    shape = (1, 3, args.input_size, args.input_size)
    model = space.build(arch, input_size=args.input_size)
    calibrate(model, shape)
    reference = to_dense(model).eval()  # unfolded, plain torch: what the folded models must still compute
    if not args.no_fold:
        model = fold_batchnorm(model)
    dense = to_dense(model).eval()
    model = fuse_activations(model)  # the sparse kernel applies ReLU6 as it stores (no-op without folding)
    x = torch.randn(*shape)
    cost, eff = space.cost(arch, input_size=args.input_size), space.effective_cost(arch, input_size=args.input_size)
    print(f"{space.summary(arch)}")
    print(
        f"MACs {cost.macs / 1e6:.1f}M dense, {eff.macs / 1e6:.1f}M non-zero; params {cost.params:,} -> {eff.params:,}"
    )
    ext = sparse_kernels.block_extension()
    kernel = f"compiled in {sparse_kernels.cache_dir()}" if ext else f"unavailable ({sparse_kernels.extension_error()})"
    print(f"block-sparse kernel: {kernel}")
    print(f"allocator tuned (glibc mallopt): {tuned}; threads {args.threads}")

    with torch.inference_mode():
        want, got = dense(x), model(x)  # the first sparse call also picks each layer's backend
        unfolded = (reference(x) - want).abs().max().item()
        choices = Counter(c for _, layer in sparse_layers(model) for c in layer._choice.values())
        results = {}
        for label, backend in (("csr only", "csr"), ("block only", "block" if ext else None)):
            if backend is None:
                continue
            set_backend(model, backend)
            results[label] = (model(x) - want).abs().max().item()
        set_backend(model, None)
        for _ in range(3):
            dense(x), model(x)
        t_dense, t_sparse = [], []
        for _ in range(args.rounds):
            t_dense.append(timed(dense, x))
            t_sparse.append(timed(model, x))

    diff = (got - want).abs().max().item()
    ok = torch.allclose(got, want, atol=TOLERANCE, rtol=TOLERANCE)
    d, s = statistics.median(t_dense), statistics.median(t_sparse)
    print(f"backends chosen per 1x1 layer: {dict(choices)}")
    print(f"output max |sparse - dense| = {diff:.2e} (outputs up to {want.abs().max().item():.2f}); ", end="")
    print(", ".join(f"{k}: {v:.2e}" for k, v in results.items()))
    if not args.no_fold:
        print(f"BatchNorm folded into the convolutions of both models (max change of the outputs {unfolded:.2e})")
    best_d, best_s = min(t_dense), min(t_sparse)
    print(f"dense  {d:8.2f} ms median, {best_d:8.2f} ms best of {args.rounds} (IQR {_iqr(t_dense):.2f})")
    print(f"sparse {s:8.2f} ms median, {best_s:8.2f} ms best of {args.rounds} (IQR {_iqr(t_sparse):.2f})")
    print(
        f"speed-up {d / s:.2f}x (medians), {best_d / best_s:.2f}x (best times); goal >= {GOAL}x: "
        f"{'met' if d / s >= GOAL else 'NOT met'}; threads {args.threads}"
    )
    if not ok:
        print(f"FAIL: outputs differ by more than {TOLERANCE}", file=sys.stderr)
        return 1
    return 0


def _iqr(values: list[float]) -> float:
    q = statistics.quantiles(values, n=4)
    return q[2] - q[0]


if __name__ == "__main__":
    sys.exit(main())
