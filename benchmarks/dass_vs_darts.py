"""DASS vs DARTS in the reduced CPU setting: whose found architecture keeps more accuracy at 90% sparsity?

For each seed, searches the DARTS cell space twice with the same budget (epochs, images, batch
size, one-shot network, seed): with plain DARTS (dense, first order) and with DASS (the same
epochs split into pretrain / prune / finetune; the architecture learns from the *pruned*
one-shot network's validation loss). Each found genotype is then built at the evaluation macro
setting with every convolution and the classifier at ``--sparsity``, trained from scratch with
gradual magnitude pruning to that sparsity (the ``sparse_train`` schedule, same seed and data
for both) and scored on the test split. Prints one line per run and the mean test accuracy of
each method, and writes everything (genotypes, per-epoch search records, timings) as JSON.

Reduced setting (defaults; docs/dass.md): Fashion-MNIST, one-shot network C=8 L=5, 3 search
epochs on the first 384 training images (192 for weight steps, 192 for architecture steps),
batch 32; evaluation network C=8 L=5 at 90% sparsity trained 3 epochs on 1,000 images, tested on
the first 2,000 test images; one thread. A toy budget (18 architecture steps per search): it
shows the pipeline end to end, not the paper's effect size.

    .venv/bin/python benchmarks/dass_vs_darts.py [--seeds 0 1] [--epochs 3] [--out dass_vs_darts.json]
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch

from evaluators.dass.search import DifferentiableSearch, SearchConfig
from evaluators.dass.sparse_train import SparseSchedule, accuracy, nonzero_cost, recalibrate, train_sparse
from evaluators.datasets import dataset_info, load_split
from search_spaces import get_space
from search_spaces.dass import DassSpace
from search_spaces.dass.genotype import Macro, format_cell

DATA_DIRS = (Path("var/data").resolve(), Path("/usr/share/datasets"))


def run(args: argparse.Namespace, seed: int, method: str) -> dict:
    info = dataset_info(args.dataset)
    search_data = load_split(args.dataset, "train", data_dirs=DATA_DIRS, limit=args.search_images)
    config = SearchConfig(
        method=method,
        epochs=args.epochs,
        sparsity=args.sparsity,
        channels=args.search_channels,
        layers=args.search_layers,
        batch_size=args.batch_size,
        arch_lr=args.arch_lr,
        seed=seed,
    )
    start = time.perf_counter()
    search = DifferentiableSearch(config, train=search_data, num_classes=info.num_classes, threads=args.threads)
    search.run(progress=lambda r: print(f"  {method} seed {seed} epoch {r.epoch} {r.phase}: {r.normal} | {r.reduce}"))
    search_seconds = time.perf_counter() - start
    normal, reduce = search.genotype()
    space = get_space("dass")
    assert isinstance(space, DassSpace)
    arch = space.architecture(normal, reduce, Macro(args.channels, args.layers, args.sparsity))
    shape = {"num_classes": info.num_classes, "in_channels": info.in_channels, "input_size": info.input_size}

    start = time.perf_counter()
    train = load_split(args.dataset, "train", data_dirs=DATA_DIRS, limit=args.train_images)
    test = load_split(args.dataset, "test", data_dirs=DATA_DIRS, limit=args.test_images)
    torch.manual_seed(args.eval_seed)
    model = space.build(arch, **shape)
    schedule = SparseSchedule(epochs=args.train_epochs, batch_size=64)
    report = train_sparse(model, train, schedule, seed=args.eval_seed)
    pick = np.random.default_rng(7).choice(len(train), min(512, len(train)), replace=False)
    recalibrate(model, train.x[np.sort(pick)])
    acc = accuracy(model, test)
    cost, kept = space.cost(arch, **shape), nonzero_cost(space.ops(arch, **shape))
    return {
        "method": method,
        "seed": seed,
        "arch": arch.to_dict(),
        "normal": format_cell(normal),
        "reduce": format_cell(reduce),
        "test_accuracy": acc,
        "sparsity": sum(r.pruned for r in report) / sum(r.size for r in report),
        "params": cost.params,
        "nonzero_params": kept.params,
        "macs": cost.macs,
        "nonzero_macs": kept.macs,
        "search_seconds": search_seconds,
        "train_seconds": time.perf_counter() - start,
        "search": config.as_dict(),
        "history": [asdict(r) for r in search.history],
    }


def retrain(args: argparse.Namespace) -> None:
    """Train every architecture found in ``args.out`` again with ``--train-images`` /
    ``--train-epochs`` for each of ``--eval-seeds``, test on ``--test-images``: the comparison
    with less training noise, written to ``args.retrain``, one record per (seed, method, eval
    seed), resumable."""
    info = dataset_info(args.dataset)
    shape = {"num_classes": info.num_classes, "in_channels": info.in_channels, "input_size": info.input_size}
    space = get_space("dass")
    train = load_split(args.dataset, "train", data_dirs=DATA_DIRS, limit=args.train_images)
    test = load_split(args.dataset, "test", data_dirs=DATA_DIRS, limit=args.test_images)
    found = json.loads(args.out.read_text())["runs"]
    done = json.loads(args.retrain.read_text())["runs"] if args.retrain.exists() else []
    for r in found:
        for eval_seed in args.eval_seeds:
            if any((d["seed"], d["method"], d["eval_seed"]) == (r["seed"], r["method"], eval_seed) for d in done):
                continue
            arch = space.from_genome(r["arch"]["genome"])
            start = time.perf_counter()
            torch.manual_seed(eval_seed)
            model = space.build(arch, **shape)
            train_sparse(model, train, SparseSchedule(epochs=args.train_epochs, batch_size=64), seed=eval_seed)
            pick = np.random.default_rng(7).choice(len(train), min(512, len(train)), replace=False)
            recalibrate(model, train.x[np.sort(pick)])
            acc = accuracy(model, test)
            done.append({"seed": r["seed"], "method": r["method"], "eval_seed": eval_seed, "test_accuracy": acc,
                         "train_seconds": time.perf_counter() - start})  # fmt: skip
            print(f"{r['method']:5} seed {r['seed']} eval seed {eval_seed}: test acc {acc:.4f}", flush=True)
            settings = {"train_images": args.train_images, "train_epochs": args.train_epochs,
                        "test_images": args.test_images, "from": str(args.out)}  # fmt: skip
            args.retrain.write_text(json.dumps({"settings": settings, "runs": done}))
    by = {}
    for d in done:
        by.setdefault((d["seed"], d["method"]), []).append(d["test_accuracy"])
    diffs = np.array([np.mean(by[(s, "dass")]) - np.mean(by[(s, "darts")]) for s in {k[0] for k in by}
                      if (s, "dass") in by and (s, "darts") in by])  # fmt: skip
    for method in ("darts", "dass"):
        accs = [np.mean(v) for (s, m), v in sorted(by.items()) if m == method]
        print(f"{method:6} mean test acc {np.mean(accs):.4f} per seed {' '.join(f'{a:.4f}' for a in accs)}")
    if len(diffs) > 1:
        boot = [np.random.default_rng(i).choice(diffs, len(diffs)).mean() for i in range(10_000)]
        low, high = np.percentile(boot, [2.5, 97.5])
        print(f"DASS - DARTS over {len(diffs)} seeds: mean {diffs.mean():+.4f}, sd {diffs.std(ddof=1):.4f}, "
              f"bootstrap 95% interval [{low:+.4f}, {high:+.4f}]")  # fmt: skip


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--dataset", default="fashion-mnist")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    p.add_argument("--epochs", type=int, default=3, help="search epochs (both methods)")
    p.add_argument("--search-images", type=int, default=384, help="training images the search uses (half for arch)")
    p.add_argument("--search-channels", type=int, default=8)
    p.add_argument("--search-layers", type=int, default=5)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--arch-lr", type=float, default=3e-4)
    p.add_argument("--sparsity", type=float, default=0.9)
    p.add_argument("--channels", type=int, default=8, help="C of the evaluated network")
    p.add_argument("--layers", type=int, default=5, help="cells of the evaluated network")
    p.add_argument("--train-images", type=int, default=1000)
    p.add_argument("--train-epochs", type=int, default=3)
    p.add_argument("--test-images", type=int, default=2000)
    p.add_argument("--eval-seed", type=int, default=0, help="initialisation and data order of the final training")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "dass_vs_darts.json")
    p.add_argument("--retrain", type=Path, help="train the architectures found in --out again into this JSON")
    p.add_argument("--eval-seeds", type=int, nargs="+", default=[0, 1], help="with --retrain")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    if args.retrain:
        retrain(args)
        return
    started = time.perf_counter()
    settings = {k: str(v) for k, v in vars(args).items() if k not in ("seeds", "out", "retrain", "eval_seeds")}
    runs = _kept(args.out, settings)
    for seed in args.seeds:
        for method in ("darts", "dass"):
            if any(r["seed"] == seed and r["method"] == method for r in runs):
                continue  # measured in an earlier sitting with the same settings
            r = run(args, seed, method)
            runs.append(r)
            print(
                f"{method:5} seed {seed}: test acc {r['test_accuracy']:.4f} at sparsity {r['sparsity']:.3f} "
                f"({r['nonzero_params']} of {r['params']} params), search {r['search_seconds']:.0f} s, "
                f"train {r['train_seconds']:.0f} s",
                flush=True,
            )
            args.out.parent.mkdir(parents=True, exist_ok=True)
            args.out.write_text(json.dumps({"args": settings, "runs": runs}))
    print(f"\n{'method':6} {'mean test acc':>14} {'per seed':>30}")
    for method in ("darts", "dass"):
        accs = [r["test_accuracy"] for r in runs if r["method"] == method]
        print(f"{method:6} {np.mean(accs):14.4f} {' '.join(f'{a:.4f}' for a in accs):>30}")
    by_seed = {r["seed"]: {} for r in runs}
    for r in runs:
        by_seed[r["seed"]][r["method"]] = r["test_accuracy"]
    diffs = np.array([m["dass"] - m["darts"] for m in by_seed.values() if len(m) == 2])
    if len(diffs) > 1:
        rng = np.random.default_rng(0)
        boot = [rng.choice(diffs, len(diffs)).mean() for _ in range(10_000)]
        low, high = np.percentile(boot, [2.5, 97.5])
        print(
            f"DASS - DARTS over {len(diffs)} seeds: mean {diffs.mean():+.4f}, sd {diffs.std(ddof=1):.4f}, "
            f"bootstrap 95% interval [{low:+.4f}, {high:+.4f}]"
        )
    print(f"total {time.perf_counter() - started:.0f} s on {torch.get_num_threads()} thread(s)")


def _kept(out: Path, settings: dict[str, str]) -> list[dict]:
    """Runs an earlier sitting stored in ``out`` with the same settings (resumable across sittings)."""
    if not out.exists():
        return []
    doc = json.loads(out.read_text())
    if doc.get("args") != settings:
        raise SystemExit(f"{out} holds runs of other settings; pass another --out to keep both")
    return doc["runs"]


if __name__ == "__main__":
    main()
