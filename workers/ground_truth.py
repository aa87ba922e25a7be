"""Training one architecture from scratch as a ground-truth record, inside a Ray task.

`benchmarks/ground_truth.py` draws the architectures and keeps the records; this is the part
that runs on the workers (it must be importable there): a `Recipe` says how a space's ground
truth is trained, `train_record` trains one (architecture, seed) with one torch thread and
returns its record (schedule, data, validation and test accuracy, seconds, machine).
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from search_spaces import get_space
from search_spaces.ops.spec import total_cost


@dataclass(frozen=True)
class Recipe:
    """How one space's ground truth is trained: the evaluator, its options, and a fixed macro
    setting the architectures are drawn at (genes overridden after sampling)."""

    space: str
    evaluator: str
    options: dict[str, Any]
    fixed: dict[str, Any] = field(default_factory=dict)
    dataset: str = "fashion-mnist"
    test_limit: int | None = None  # test images scored (None: the whole split)

    @property
    def name(self) -> str:
        """A short, stable folder name: the evaluator and a digest of everything that matters."""
        text = json.dumps([self.evaluator, self.options, self.fixed, self.dataset, self.test_limit], sort_keys=True)
        return f"{self.evaluator}-{hashlib.sha256(text.encode()).hexdigest()[:10]}"


def machine() -> dict[str, Any]:
    """Where a record was measured."""
    import torch

    cpu = next((ln.split(":", 1)[1].strip() for ln in _cpuinfo() if ln.startswith("model name")), platform.machine())
    return {
        "host": platform.node(),
        "cpu": cpu,
        "cores": os.cpu_count(),
        "device": "cpu",
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "python": platform.python_version(),
    }


def _cpuinfo() -> list[str]:
    try:
        return Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        return []


_EVALUATORS: dict[tuple[str, int], Any] = {}


def train_record(recipe: Recipe, genome: list[str], seed: int, data_dirs: list[str]) -> dict[str, Any]:
    """Train one architecture with one seed; the record (runs inside a Ray task, one thread)."""
    import torch

    from evaluators import EVALUATORS
    from evaluators.base import Task
    from evaluators.datasets import dataset_info, load_split
    from evaluators.supernet.network import scaled_ops
    from evaluators.training import accuracy

    torch.set_num_threads(1)
    space = get_space(recipe.space)
    arch = space.from_genome(genome)
    key = (recipe.name, seed)
    if key not in _EVALUATORS:  # data loaded once per worker process and seed
        info = dataset_info(recipe.dataset)
        task = Task(recipe.space, info.in_channels, info.input_size, info.num_classes, recipe.dataset)
        _EVALUATORS[key] = EVALUATORS.get(recipe.evaluator)(task=task, data_dirs=data_dirs, seed=seed,
                                                             threads=1, **recipe.options)  # fmt: skip
    evaluator = _EVALUATORS[key]
    test = load_split(recipe.dataset, "test", data_dirs=tuple(Path(d) for d in data_dirs), limit=recipe.test_limit)
    start = time.perf_counter()
    if recipe.evaluator == "train":
        model, metrics = evaluator.trained(arch)
        val_acc, fmt = metrics["accuracy"], {}
    else:
        from evaluators.dass.sparse_train import memory_format

        model, _ = evaluator.train_one(arch)
        fmt = {"memory_format": memory_format()}
        val_acc = accuracy(model, evaluator.val, **fmt)
        metrics = {"accuracy": val_acc}
    test_acc = accuracy(model, test, **fmt)
    seconds = time.perf_counter() - start
    width = recipe.options.get("width", 1.0)
    ops = space.ops(arch, **evaluator.task.shape)
    cost = total_cost(scaled_ops(ops, width) if width != 1.0 else ops)  # of the network trained
    return {
        "space": recipe.space,
        "arch_id": arch.arch_id,
        "genome": list(arch.genome),
        "seed": seed,
        "recipe": recipe.name,
        "schedule": {"evaluator": recipe.evaluator, **recipe.options, "fixed_genes": recipe.fixed},
        "data": {
            "dataset": recipe.dataset,
            "train_images": len(evaluator.train),
            "val_images": len(evaluator.val),
            "test_images": len(test),
            "recal_images": len(evaluator.recal),
        },
        "val_accuracy": val_acc,
        "test_accuracy": test_acc,
        "train_loss": metrics.get("train_loss"),
        "params": cost.params,
        "macs": cost.macs,
        "seconds": seconds,
        "machine": machine(),
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
    }
