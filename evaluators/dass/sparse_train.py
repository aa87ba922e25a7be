"""The ``sparse_train`` evaluator: accuracy of a candidate trained from scratch and pruned to its sparsity.

A network's sparse layers (`search_spaces.ops.sparse_modules.SparseWeight`: every convolution
and the classifier of a ``dass`` network, the 1x1 convolutions of a ``sparse`` one) are pruned by
gradual magnitude pruning (`evaluators.pruning`, Zhu & Gupta 2017) from dense to each layer's
target during the first ``prune_end`` share of the steps, then trained on with fixed masks. The
schedule is DARTS's evaluation one, shortened: SGD with momentum 0.9, cosine learning rate,
weight decay 3e-4, gradient clipping at 5, every candidate with the same seeded initialisation and
data order. Accuracy is measured on the validation split after the BatchNorm statistics are
re-estimated with the final masks. Results are cached by architecture id.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import torch
from pydantic import Field
from torch import nn

from core.errors import NasError
from evaluators import training
from evaluators.base import DataDirs, EvaluatorOptions, Need, Task
from evaluators.dass.search import memory_format
from evaluators.pruning import GradualPruning, LayerSparsity
from evaluators.training import ScratchEvaluator, recalibrate_bn, sgd, steps_per_epoch, train_epochs
from search_spaces.cells.network import UniformDropPath
from search_spaces.dass import ops as dass
from search_spaces.ops import sparse
from search_spaces.ops.spec import Cost, OpSpec

if TYPE_CHECKING:
    from evaluators.datasets import Arrays
    from search_spaces import Architecture


@dataclass(frozen=True)
class SparseSchedule:
    """Training and pruning settings (the evaluator's options)."""

    epochs: int = 5
    batch_size: int = 64
    lr: float = 0.025
    lr_min: float = 0.0
    momentum: float = 0.9
    weight_decay: float = 3e-4
    grad_clip: float = 5.0
    prune_begin: float = 0.0  # share of the steps at which pruning starts
    prune_end: float = 0.6  # share of the steps by which every layer holds its target
    prune_updates: int = 20  # mask updates between the two
    drop_path_prob: float = 0.0  # DARTS: 0.2, rising linearly over the epochs

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.batch_size < 1:
            raise NasError(
                f"sparse_train: epochs and batch_size must be at least 1, got {self.epochs}, {self.batch_size}"
            )
        if not 0.0 <= self.prune_begin < self.prune_end <= 1.0:
            raise NasError(
                f"sparse_train: need 0 <= prune_begin < prune_end <= 1, got {self.prune_begin}, {self.prune_end}"
            )
        if self.prune_updates < 1 or not self.lr > 0 or not 0.0 <= self.drop_path_prob < 1.0:
            raise NasError("sparse_train: prune_updates >= 1, lr > 0 and drop_path_prob in [0, 1) are required")


def train_sparse(model: nn.Module, data: Arrays, schedule: SparseSchedule, *, seed: int = 0) -> list[LayerSparsity]:
    """Train ``model`` while pruning its sparse layers to their targets; returns each layer's
    final sparsity (the pruned weights are zeroed in the parameters)."""
    fmt = memory_format()
    model.to(memory_format=fmt)  # channels-last where safe: faster on CPUs
    total = schedule.epochs * steps_per_epoch(data, schedule.batch_size)
    begin, end = int(schedule.prune_begin * total), max(1, int(schedule.prune_end * total))
    begin = min(begin, end - 1)
    pruner = GradualPruning(model, begin=begin, end=end, frequency=max(1, (end - begin) // schedule.prune_updates))
    optimizer = sgd(model, lr=schedule.lr, momentum=schedule.momentum, weight_decay=schedule.weight_decay)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, total, eta_min=schedule.lr_min)
    policy = getattr(model, "drop_path", None)

    def drop_path_schedule(epoch: int) -> None:  # DARTS: the rate rises linearly over the epochs
        if isinstance(policy, UniformDropPath):
            policy.prob = schedule.drop_path_prob * epoch / schedule.epochs

    epochs = train_epochs(
        model,
        data,
        optimizer=optimizer,
        scheduler=scheduler,
        epochs=schedule.epochs,
        batch_size=schedule.batch_size,
        grad_clip=schedule.grad_clip,
        seed=seed,
        memory_format=fmt,
        on_epoch=drop_path_schedule,
        on_step=pruner.step,
    )
    for _ in epochs:
        pass
    return pruner.finalize()


def recalibrate(model: nn.Module, x: np.ndarray, batch_size: int = 256) -> None:
    """`evaluators.training.recalibrate_bn` in the training's memory format."""
    recalibrate_bn(model, x, batch_size, memory_format=memory_format())


def accuracy(model: nn.Module, data: Arrays, batch_size: int = 256) -> float:
    """`evaluators.training.accuracy` in the training's memory format."""
    return training.accuracy(model, data, batch_size, memory_format=memory_format())


def nonzero_cost(ops: Sequence[OpSpec]) -> Cost:
    """Parameters and MACs counting only the weights the masks keep (DASS and sparse MobileNet operators)."""
    total = Cost(0, 0)
    for op in ops:
        total = total + (dass.effective_cost(op) if op.kind.startswith("dass_") else sparse.effective_cost(op))
    return total


class SparseTrainEvaluator(ScratchEvaluator):
    """``accuracy`` (validation split) after training from scratch with gradual pruning to each
    sparse layer's target; also ``params``, ``macs`` (dense counts), ``nonzero_params``,
    ``nonzero_macs`` (what the masks keep), ``sparsity`` (pruned share of the sparse layers'
    weights) and ``train_seconds``."""

    name: ClassVar[str] = "sparse_train"
    produces: ClassVar[tuple[str, ...]] = (
        "accuracy", "params", "macs", "nonzero_params", "nonzero_macs", "sparsity", "train_seconds"
    )  # fmt: skip
    timeout_s: ClassVar[float] = 7200.0  # training from scratch / scoring a subnet
    needs: ClassVar[tuple[Need, ...]] = (DataDirs(),)

    class Options(EvaluatorOptions):
        epochs: int = Field(5, ge=1, le=1000, description="Training epochs.")
        batch_size: int = Field(64, ge=1, le=4096)
        lr: float = Field(0.025, gt=0, le=10)
        weight_decay: float = Field(3e-4, ge=0, le=1)
        prune_end: float = Field(0.6, gt=0, le=1, description="Share of training after which pruning ends.")
        prune_updates: int = Field(20, ge=1, description="Mask updates of the gradual pruning schedule.")
        drop_path_prob: float = Field(0.0, ge=0, lt=1)
        train_limit: int | None = Field(5000, ge=1, description="Training images (None: the whole split).")
        val_limit: int | None = Field(None, ge=1, description="Validation images scored (None: all).")
        recal_images: int = Field(512, ge=1, description="Training images for BatchNorm recalibration.")
        seed: int = Field(0, ge=0)
        threads: int | None = Field(None, ge=1, le=256, description="Intra-op threads (default: torch's).")

    def __init__(
        self,
        *,
        task: Task,
        data_dirs: Sequence[str | Path],
        epochs: int = 5,
        batch_size: int = 64,
        lr: float = 0.025,
        weight_decay: float = 3e-4,
        prune_end: float = 0.6,
        prune_updates: int = 20,
        drop_path_prob: float = 0.0,
        train_limit: int | None = 5000,
        val_limit: int | None = None,
        recal_images: int = 512,
        seed: int = 0,
        threads: int | None = None,
    ) -> None:
        if task.dataset is None:
            raise NasError("sparse_train evaluator: the task names no dataset to train on")
        self.schedule = SparseSchedule(
            epochs=epochs,
            batch_size=batch_size,
            lr=lr,
            weight_decay=weight_decay,
            prune_end=prune_end,
            prune_updates=prune_updates,
            drop_path_prob=drop_path_prob,
        )
        self.load_data(task, data_dirs, train_limit, val_limit, recal_images, seed=seed, threads=threads)

    def train_one(self, arch: Architecture) -> tuple[nn.Module, list[LayerSparsity]]:
        """The trained, pruned model of ``arch`` (BatchNorm re-estimated) and its layers' sparsity."""
        model = self.build(arch)
        report = train_sparse(model, self.train, self.schedule, seed=self.seed)
        recalibrate(model, self.recal)
        return model, report

    def evaluate_one(self, arch: Architecture) -> dict[str, float]:
        return self.cached(arch, self._train)

    def _train(self, arch: Architecture) -> dict[str, float]:
        start = time.perf_counter()
        model, report = self.train_one(arch)
        dense = self.space.cost(arch, **self.task.shape)
        kept = nonzero_cost(self.space.ops(arch, **self.task.shape))
        pruned, size = sum(r.pruned for r in report), sum(r.size for r in report)
        return {
            "accuracy": accuracy(model, self.val),
            "params": float(dense.params),
            "macs": float(dense.macs),
            "nonzero_params": float(kept.params),
            "nonzero_macs": float(kept.macs),
            "sparsity": pruned / size if size else 0.0,
            "train_seconds": time.perf_counter() - start,
        }

    def provenance(self) -> dict[str, Any]:
        return {
            "evaluator": self.name,
            **asdict(self.schedule),
            "pruning": "gradual magnitude (Zhu & Gupta), then fixed masks",
            "train_images": len(self.train),
            "val_images": len(self.val),
            "recal_images": len(self.recal),
            "seed": self.seed,
        }
