"""Channels-last vs the default memory layout for MnasNet-space networks on CPU, side by side.

The ``train`` evaluator (scratch training) and the ``supernet`` evaluator (BN recalibration and
validation of extracted subnets) run networks channels-last (`evaluators.supernet.training`).
This measures why: for random architectures of the space (Fashion-MNIST shape, width 0.5) it
times training steps (batch 64, forward and backward) and inference (batches of 256) in both
layouts, alternating them, and training steps of the same subnets through the supernet
(`MnasNetSupernet.channels_last`, as `SandwichTrainer` runs them; plus the sandwich's largest
subnet), and prints the ratios.

    .venv/bin/python benchmarks/channels_last.py [--archs 6] [--threads 2]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from evaluators.supernet.network import MnasNetSupernet, largest_arch
from search_spaces import Architecture


def train_seconds(model: nn.Module, x: torch.Tensor, y: torch.Tensor, steps: int) -> float:
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    model.train()
    start = time.perf_counter()
    for i in range(steps):
        optimizer.zero_grad(set_to_none=True)
        F.cross_entropy(model(x[i * 64 : (i + 1) * 64]), y[i * 64 : (i + 1) * 64]).backward()
        optimizer.step()
    return time.perf_counter() - start


@torch.no_grad()
def infer_seconds(model: nn.Module, x: torch.Tensor) -> float:
    model.eval()
    start = time.perf_counter()
    for i in range(0, len(x), 256):
        model(x[i : i + 256])
    return time.perf_counter() - start


def supernet_seconds(
    net: MnasNetSupernet, arch: Architecture, x: torch.Tensor, y: torch.Tensor, steps: int, cl: bool
) -> float:
    net.train()
    net.channels_last = cl
    start = time.perf_counter()
    for i in range(steps):
        net.zero_grad(set_to_none=True)
        F.cross_entropy(net(x[i * 64 : (i + 1) * 64], arch), y[i * 64 : (i + 1) * 64]).backward()
    net.channels_last = False
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--archs", type=int, default=6, help="random architectures (after the largest)")
    parser.add_argument("--steps", type=int, default=10, help="training steps per measurement")
    parser.add_argument("--images", type=int, default=1024, help="inference images per measurement")
    parser.add_argument("--width", type=float, default=0.5)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    net = MnasNetSupernet(in_channels=1, input_size=28, num_classes=10, width=args.width)
    rng = np.random.default_rng(0)
    n = max(args.steps * 64, args.images)
    x, y = torch.randn(n, 1, 28, 28), torch.randint(0, 10, (n,))
    layouts = {"default": torch.contiguous_format, "channels_last": torch.channels_last}
    ratios: dict[str, list[float]] = {"train": [], "infer": [], "supernet": []}
    columns = ("train s", "infer s", "supernet s")
    print(f"{'arch':16}" + "".join(f" {c + ' (default / cl)':>27}" for c in columns))
    archs = [largest_arch(net.space), *(net.space.sample(rng) for _ in range(args.archs))]
    for arch in archs:
        times: dict[str, dict[str, float]] = {"train": {}, "infer": {}, "supernet": {}}
        for layout, fmt in [*layouts.items(), *layouts.items()]:  # each twice, alternating; keep the best
            model = net.extract(arch).to(memory_format=fmt)
            xs = x.contiguous(memory_format=fmt)
            t = train_seconds(model, xs, y, args.steps)
            i = infer_seconds(model, xs[: args.images])
            times["train"][layout] = min(t, times["train"].get(layout, t))
            times["infer"][layout] = min(i, times["infer"].get(layout, i))
            s = supernet_seconds(net, arch, x, y, args.steps, fmt is torch.channels_last)
            times["supernet"][layout] = min(s, times["supernet"].get(layout, s))
        for kind in ratios:
            ratios[kind].append(times[kind]["default"] / times[kind]["channels_last"])
        tr, inf, sn = times["train"], times["infer"], times["supernet"]
        print(
            f"{arch.arch_id[:16]:16} {tr['default']:14.2f} / {tr['channels_last']:<10.2f}"
            f" {inf['default']:14.2f} / {inf['channels_last']:<10.2f}"
            f" {sn['default']:14.2f} / {sn['channels_last']:<10.2f}"
        )
    for kind, values in ratios.items():
        geo = float(np.exp(np.mean(np.log(values))))
        span = f"{min(values):.2f}-{max(values):.2f}"
        print(f"{kind}: channels-last is {geo:.2f}x as fast (geometric mean; range {span})")


if __name__ == "__main__":
    main()
