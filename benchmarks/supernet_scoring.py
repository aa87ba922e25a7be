"""How the ``supernet`` evaluator's per-candidate scoring time depends on batch size and BN folding.

Scoring a candidate is: extract its subnet, re-estimate BatchNorm statistics on the recalibration
images, then one forward pass over the validation images. This times the validation pass of
spread MnasNet-space subnets (Fashion-MNIST shape, width 0.5; the timing does not depend on the
weights, so an untrained supernet serves) in four ways, alternating them per candidate, and
prints each one's total and its ratio to the old default (batches of 256, BatchNorm unfolded):

* batches of 256 or 64 (a batch of 256 28x28 MBConv activations falls out of this CPU's caches);
* with every convolution->BatchNorm pair folded into the convolution after recalibration
  (`evaluators.supernet.training.fold_batchnorm`; same outputs to ~1e-5).

    .venv/bin/python benchmarks/supernet_scoring.py [--archs 6] [--val 2000] [--threads 1] [--repeats 2]
"""

from __future__ import annotations

import argparse
import copy
import os
import time

import numpy as np
import torch

from benchmarks.supernet_ranking import spread_archs
from evaluators.datasets import DatasetNotFoundError, load_split, recalibration_images
from evaluators.supernet import build_supernet
from evaluators.supernet.training import accuracy, fold_batchnorm, recalibrate_bn
from store.settings import Settings

WAYS = {
    "256": (256, False),
    "64": (64, False),
    "256 folded": (256, True),
    "64 folded": (64, True),
    "32 folded": (32, True),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--archs", type=int, default=6)
    parser.add_argument("--val", type=int, default=2000)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    shape = {"in_channels": 1, "input_size": 28, "num_classes": 10}
    dirs = tuple(Settings().data_dirs)
    try:
        val = load_split("fashion-mnist", "val", data_dirs=dirs, limit=args.val)
        train = load_split("fashion-mnist", "train", data_dirs=dirs, limit=3000)
    except DatasetNotFoundError as e:
        raise SystemExit(str(e)) from e
    recal = recalibration_images(train, 128)
    net = build_supernet("mnasnet", shape=shape, width=0.5).eval()
    seconds = {way: 0.0 for way in WAYS}
    print(f"{'candidate':18}" + "".join(f"{way:>12}" for way in WAYS))
    for arch in spread_archs(args.archs, shape=shape, width=0.5, seed=1):
        model = net.extract(arch).to(memory_format=torch.channels_last)
        recalibrate_bn(model, recal)
        folded = fold_batchnorm(copy.deepcopy(model))
        accs, row = set(), {way: 0.0 for way in WAYS}
        for _ in range(args.repeats):
            for way, (batch, fold) in WAYS.items():
                start = time.perf_counter()
                accs.add(accuracy(folded if fold else model, val, batch))
                row[way] += time.perf_counter() - start
        if max(accs) - min(accs) > 2 / len(val):
            raise SystemExit(f"{arch.arch_id}: the ways disagree on accuracy: {sorted(accs)}")
        print(f"{arch.arch_id:18}" + "".join(f"{row[way] / args.repeats:12.3f}" for way in WAYS))
        for way in WAYS:
            seconds[way] += row[way] / args.repeats
    base = seconds["256"]
    print(f"\nvalidation pass over {args.val} images, {args.threads} thread(s), summed over {args.archs} candidates:")
    for way, s in seconds.items():
        print(f"  batch {way:11} {s:7.2f} s   {base / s:5.2f}x the old default (256, unfolded)")
    print(f"load average {np.round(os.getloadavg(), 1).tolist()}")


if __name__ == "__main__":
    main()
