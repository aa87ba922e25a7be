"""The ``train`` evaluator: accuracy of a candidate trained from scratch with a short fixed schedule.

The ground truth the supernet's ranking is checked against, and the final word on finalists.
Every candidate gets the same seeded initialisation (the space's, with the last BatchNorm of each
residual layer zeroed), data order and schedule (SGD with Nesterov momentum, cosine learning rate)
on the first ``train_limit`` training images; its BatchNorm statistics are then re-estimated on
``recal_images`` of them (as the supernet evaluator does: running averages lag badly after a
short schedule) and it is scored on the validation split. Results are cached by architecture id.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import torch
from pydantic import Field

from core.errors import NasError
from evaluators.base import DataDirs, EvaluatorOptions, Need, Task
from evaluators.supernet.network import scaled_ops, zero_init_residuals
from evaluators.supernet.training import Schedule, make_optimizer
from evaluators.training import ScratchEvaluator, accuracy, cosine, recalibrate_bn, steps_per_epoch, train_epochs
from search_spaces.ops.modules import Network

if TYPE_CHECKING:
    from torch import nn

    from search_spaces import Architecture


def network(arch: Architecture, task: Task, width: float = 1.0) -> nn.Module:
    """The network the ``train`` evaluator trains for ``arch``: ``space.build`` at width 1, else
    the space's operators with their channels scaled by ``width``."""
    from search_spaces import get_space

    space = get_space(arch.space)
    if width == 1.0:
        return space.build(arch, **task.shape)
    return Network(scaled_ops(space.ops(arch, **task.shape), width))


class TrainEvaluator(ScratchEvaluator):
    """``accuracy`` on the validation split after training from scratch (``train_seconds`` too)."""

    name: ClassVar[str] = "train"
    produces: ClassVar[tuple[str, ...]] = ("accuracy",)
    timeout_s: ClassVar[float] = 7200.0  # training from scratch / scoring a subnet
    needs: ClassVar[tuple[Need, ...]] = (DataDirs(),)

    class Options(EvaluatorOptions):
        epochs: int = Field(3, ge=1, le=1000, description="Training epochs.")
        train_limit: int | None = Field(5000, ge=1, description="Training images (None: the whole split).")
        val_limit: int | None = Field(None, ge=1, description="Validation images scored (None: all).")
        batch_size: int = Field(64, ge=1, le=4096)
        lr: float = Field(0.05, gt=0, le=10, description="Peak learning rate (SGD, cosine schedule).")
        weight_decay: float = Field(4e-5, ge=0, le=1)
        width: float = Field(1.0, gt=0, le=1, description="Channel width multiplier of the trained network.")
        seed: int = Field(0, ge=0)
        recal_images: int = Field(256, ge=1, description="Training images for BatchNorm recalibration.")
        threads: int | None = Field(None, ge=1, le=256, description="Intra-op threads (default: torch's).")

    def __init__(
        self,
        *,
        task: Task,
        data_dirs: Sequence[str | Path],
        epochs: int = 3,
        train_limit: int | None = 5000,
        val_limit: int | None = None,
        batch_size: int = 64,
        lr: float = 0.05,
        weight_decay: float = 4e-5,
        width: float = 1.0,
        seed: int = 0,
        recal_images: int = 256,
        threads: int | None = None,
    ) -> None:
        if task.dataset is None:
            raise NasError("train evaluator: the task names no dataset to train on")
        try:
            self.schedule = Schedule(epochs=epochs, batch_size=batch_size, lr=lr, weight_decay=weight_decay)
        except ValueError as e:
            raise NasError(f"train evaluator: {e}") from None
        if not 0.0 < width <= 1.0:
            raise NasError(f"train evaluator: width must be in (0, 1], got {width}")
        self.width = width
        self.load_data(task, data_dirs, train_limit, val_limit, recal_images, seed=seed, threads=threads)

    def build(self, arch: Architecture) -> nn.Module:
        """A freshly (and always identically) initialised network of ``arch``."""
        torch.manual_seed(self.seed)
        return zero_init_residuals(network(arch, self.task, self.width))

    def prepare(self, arch: Architecture) -> tuple[nn.Module, torch.optim.SGD]:
        """``arch``'s freshly initialised network, channels-last (~2x faster training on CPUs,
        benchmarks/training_throughput.py), and its optimizer."""
        model = self.build(arch).to(memory_format=torch.channels_last)
        return model, make_optimizer(model, self.schedule)

    def epochs(self, arch: Architecture, *, score_every_epoch: bool = False) -> Iterator[dict[str, float]]:
        """Train ``arch`` from scratch, yielding after each epoch its ``epoch``, ``train_loss``,
        ``train_seconds`` and (after the last epoch, or every epoch when asked) its ``accuracy``."""
        for _, metrics in self.run_epochs(arch, score_every_epoch):
            yield metrics

    def trained(self, arch: Architecture) -> tuple[nn.Module, dict[str, float]]:
        """``arch`` trained from scratch (BatchNorm re-estimated) and its last epoch's metrics."""
        *_, (model, metrics) = self.run_epochs(arch, False)
        return model, metrics

    def run_epochs(
        self, arch: Architecture, score_every_epoch: bool = False
    ) -> Iterator[tuple[nn.Module, dict[str, float]]]:
        """As `epochs`, with the network being trained beside each epoch's metrics."""
        start = time.perf_counter()
        model, optimizer = self.prepare(arch)
        schedule = self.schedule
        scheduler = cosine(optimizer, schedule.epochs * steps_per_epoch(self.train, schedule.batch_size))
        losses = train_epochs(
            model,
            self.train,
            optimizer=optimizer,
            scheduler=scheduler,
            epochs=schedule.epochs,
            batch_size=schedule.batch_size,
            grad_clip=schedule.grad_clip,
            seed=self.seed,
        )
        for epoch, loss in enumerate(losses, start=1):
            metrics = {"epoch": float(epoch), "train_loss": loss}
            if score_every_epoch or epoch == self.schedule.epochs:
                recalibrate_bn(model, self.recal)
                metrics["accuracy"] = accuracy(model, self.val)
            metrics["train_seconds"] = time.perf_counter() - start
            yield model, metrics

    def evaluate_one(self, arch: Architecture) -> dict[str, float]:
        return self.cached(arch, self._train)

    def _train(self, arch: Architecture) -> dict[str, float]:
        *_, last = self.epochs(arch)
        return {k: last[k] for k in ("accuracy", "train_loss", "train_seconds")}

    def provenance(self) -> dict[str, Any]:
        return {
            "evaluator": self.name,
            **self.schedule.as_dict(),
            "train_images": len(self.train),
            "recal_images": len(self.recal),
            "val_images": len(self.val),
            "width": self.width,
            "seed": self.seed,
        }
