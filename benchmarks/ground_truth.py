"""The accuracy ground truth: random architectures of a space trained from scratch, one JSON record each.

    .venv/bin/python -m benchmarks.ground_truth --space mnasnet [--archs 100] [--extra 20] [--workers 2]

Draws ``--archs`` distinct architectures of the space at random (``--draw-seed``; no selection),
trains each with seeds 0 and 1 and a random ``--extra`` of them with seed 2 too, on the Ray pool
(``--workers`` tasks of one CPU and one torch thread each), and writes one record per
(architecture, seed) under ``benchmarks/results/ground_truth/<space>/<recipe>/`` as soon as it is
trained: the genome, the schedule, the data, validation and test accuracy, seconds and the
machine. Records already there are skipped, so a killed run resumes where it stopped and the
work can be spread over several sittings (and machines: each record names its own).

Recipes (`RECIPES`; docs/supernet.md says why these sizes):

* ``mnasnet``: the supernet benchmark's scratch schedule (`benchmarks.supernet_ranking`): width
  0.5, the first 12,000 Fashion-MNIST training images, 4 epochs, SGD lr 0.05 cosine, batch 64,
  BatchNorm recalibrated on 128 images; scored on the whole validation and test splits.
* ``nasnet``: the cells at one fixed macro setting (N = 1 normal cell per stage, f = 8 filters,
  stem multiplier 1: the setting the NASNet supernet trains at), 6,000 images, 3 epochs.
* ``sparse``: `sparse_train` at each architecture's own sparsities and block shapes, at one
  backbone and width (MobileNet v1 at 0.5: the setting the sparse supernet trains at), 6,000
  images, 3 epochs (pruning over the first 60% of the steps).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from search_spaces import Architecture, get_space
from workers.ground_truth import Recipe, train_record

ROOT = Path(__file__).resolve().parents[1]
HOME = ROOT / "benchmarks" / "results" / "ground_truth"
SEEDS = (0, 1)
EXTRA_SEED = 2


RECIPES = {
    "mnasnet": Recipe(
        "mnasnet", "train",
        {"width": 0.5, "train_limit": 12000, "epochs": 4, "batch_size": 64, "lr": 0.05, "recal_images": 128},
    ),
    "nasnet": Recipe(
        "nasnet", "train", {"train_limit": 6000, "epochs": 3, "batch_size": 64, "lr": 0.05, "recal_images": 128},
        fixed={"cells": 1, "filters": 8, "stem": 1},
    ),
    "sparse": Recipe(
        "sparse", "sparse_train", {"train_limit": 6000, "epochs": 3, "batch_size": 64},
        fixed={"backbone": "mobilenet_v1", "width": 0.5},
    ),
}  # fmt: skip


def draw(recipe: Recipe, n: int, seed: int) -> list[Architecture]:
    """``n`` distinct architectures drawn uniformly at random (then the recipe's fixed genes set)."""
    space, rng, picked = get_space(recipe.space), np.random.default_rng(seed), {}
    tries = 0
    while len(picked) < n:
        tries += 1
        if tries > 100 * n:
            raise SystemExit(f"{recipe.space}: could not draw {n} distinct architectures")
        arch = space.sample(rng, recipe.fixed)
        picked.setdefault(arch.arch_id, arch)
    return list(picked.values())


def jobs(archs: list[Architecture], extra: int, seed: int) -> list[tuple[Architecture, int]]:
    """Every architecture with `SEEDS`, and a random ``extra`` of them with `EXTRA_SEED`."""
    third = np.random.default_rng(seed + 1).choice(len(archs), size=min(extra, len(archs)), replace=False)
    return [(a, s) for a in archs for s in SEEDS] + [(archs[i], EXTRA_SEED) for i in sorted(third)]


def record_path(folder: Path, arch: Architecture, seed: int) -> Path:
    return folder / f"{arch.arch_id}-seed{seed}.json"


def write(path: Path, record: dict[str, Any]) -> None:
    """Atomically: a kill leaves either the whole record or none."""
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(record, indent=1))
    tmp.replace(path)


def read(folder: Path) -> list[dict[str, Any]]:
    """Every record of one recipe's folder."""
    return [json.loads(p.read_text()) for p in sorted(folder.glob("*-seed*.json"))]


def run(recipe: Recipe, n: int, extra: int, draw_seed: int, workers: int, home: Path, data_dirs: list[str]) -> Path:
    """Train what is not stored yet, ``workers`` at a time; returns the recipe's folder."""
    import ray

    from store.settings import Settings
    from workers.ray_runtime import ensure_ray

    folder = home / recipe.space / recipe.name
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "recipe.json").write_text(json.dumps({**recipe.__dict__, "name": recipe.name, "git": _git()}, indent=1))
    todo = [(a, s) for a, s in jobs(draw(recipe, n, draw_seed), extra, draw_seed)
            if not record_path(folder, a, s).exists()]  # fmt: skip
    total = n * len(SEEDS) + min(extra, n)
    print(f"{recipe.space}: {total - len(todo)}/{total} records stored in {folder}; {len(todo)} to train", flush=True)
    if not todo:
        return folder
    ensure_ray(Settings(ray_num_cpus=workers))
    task = ray.remote(num_cpus=1, max_retries=1)(train_record)
    pending: dict[Any, tuple[Architecture, int]] = {}
    started, done = time.time(), 0
    queue = list(todo)
    while queue or pending:
        while queue and len(pending) < workers:
            arch, seed = queue.pop(0)
            pending[task.remote(recipe, list(arch.genome), seed, data_dirs)] = (arch, seed)
        ready, _ = ray.wait(list(pending), num_returns=1, timeout=3600)
        if not ready:
            raise SystemExit("no training finished within an hour; stopping (what is stored is kept)")
        for ref in ready:
            arch, seed = pending.pop(ref)
            try:
                record = ray.get(ref)
            except Exception as e:  # one failed training must not stop the others
                print(f"  {arch.arch_id} seed {seed} failed: {e}", flush=True)
                continue
            write(record_path(folder, arch, seed), record)
            done += 1
            left = (time.time() - started) / done * (len(todo) - done)
            acc = f"val {record['val_accuracy']:.4f} test {record['test_accuracy']:.4f}"
            print(f"  [{total - len(todo) + done}/{total}] {arch.arch_id} seed {seed}: {acc} "
                  f"({record['seconds']:.0f} s; ~{left / 60:.0f} min left)", flush=True)  # fmt: skip
    return folder


def _git() -> str | None:
    try:
        return subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    except OSError:
        return None


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--space", choices=sorted(RECIPES), required=True)
    parser.add_argument("--archs", type=int, default=100)
    parser.add_argument("--extra", type=int, default=20, help="architectures also trained with a third seed")
    parser.add_argument("--draw-seed", type=int, default=2026)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--home", type=Path, default=HOME)
    args = parser.parse_args(argv)
    from store.settings import Settings

    dirs = [str(d) for d in Settings().data_dirs]
    run(RECIPES[args.space], args.archs, args.extra, args.draw_seed, args.workers, args.home, dirs)


if __name__ == "__main__":
    sys.exit(main())
