"""One train / recalibrate / score loop for every network an evaluator trains from scratch.

`train_epochs` is the loop (seeded data order per epoch, cross-entropy, gradient clipping, one
scheduler step per optimizer step) with two hooks: ``on_epoch(epoch)`` before each epoch (DARTS's
drop-path schedule) and ``on_step(step)`` before each step (pruning masks). The caller brings the
optimizer and its schedule (`sgd`, `cosine`, or torch's own). `recalibrate_bn` re-estimates
BatchNorm statistics with the final weights (drop path off), `accuracy` scores in eval mode;
`ScratchEvaluator` is the base of the evaluators built on them (data, seeded build, cache).
Batches are fed in ``memory_format``: channels-last (default) is 1.6x faster on CPUs for
depthwise and 1x1 convolutions (benchmarks/channels_last.py); callers that train on CPUs where
channels-last backward corrupts the heap pass the safe format (`evaluators.dass.search.memory_format`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from contextlib import nullcontext
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from core.errors import NasError
from evaluators.base import Evaluator, Task
from evaluators.datasets import scoring_data
from search_spaces import get_space
from search_spaces.cells.network import CellNetwork

if TYPE_CHECKING:
    from evaluators.datasets import Arrays
    from search_spaces import Architecture

SCORE_BATCH = 64  # inference batch: 2-2.6x faster than 256 on CPUs (benchmarks/supernet_scoring.py)
CHANNELS_LAST = torch.channels_last


def batches(
    data: Arrays, batch_size: int, order: np.ndarray | None = None
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Mini-batches of ``data`` (in ``order`` when given); the last one may be smaller. Each batch is
    one gather (or one slice copy, in order) from tensors over the arrays' memory: a batch never
    aliases the arrays, which are cached per process and shared by every evaluator there."""
    x, y = torch.from_numpy(data.x), torch.from_numpy(data.y)
    if order is None:
        for i in range(0, len(x), batch_size):
            yield x[i : i + batch_size].clone(), y[i : i + batch_size].clone()
        return
    index = torch.from_numpy(np.asarray(order, dtype=np.int64))
    for i in range(0, len(index), batch_size):
        take = index[i : i + batch_size]
        yield x.index_select(0, take), y.index_select(0, take)


def channels_last(t: torch.Tensor) -> torch.Tensor:
    """A batch of images in the channels-last layout. Standalone networks of depthwise and 1x1
    convolutions that are channels-last too (``model.to(memory_format=torch.channels_last)``) train
    and run ~1.65x faster so on CPUs (benchmarks/channels_last.py); a network in the default layout
    takes such a batch at about its usual speed."""
    return t.contiguous(memory_format=torch.channels_last)


def steps_per_epoch(data: Arrays, batch_size: int) -> int:
    return math.ceil(len(data) / batch_size)


def sgd(
    model: nn.Module, *, lr: float, momentum: float, weight_decay: float, nesterov: bool = False
) -> torch.optim.SGD:
    """SGD with weight decay on convolution and linear weights only (not BatchNorm, biases or
    kernel transforms); the multi-tensor (``foreach``) update: the same arithmetic per parameter
    as the per-tensor loop, in a few calls instead of a Python loop over every parameter."""
    decay, plain = [], []
    for name, p in model.named_parameters():
        (plain if p.dim() <= 1 or "kernel_transforms" in name else decay).append(p)
    groups = [{"params": decay, "weight_decay": weight_decay}, {"params": plain, "weight_decay": 0.0}]
    return torch.optim.SGD(groups, lr=lr, momentum=momentum, nesterov=nesterov, foreach=True)


def cosine(optimizer: torch.optim.Optimizer, total_steps: int) -> torch.optim.lr_scheduler.LambdaLR:
    """Cosine decay of every group's learning rate to 0 over ``total_steps`` steps."""
    return torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: 0.5 * (1.0 + math.cos(math.pi * min(step, total_steps) / max(1, total_steps)))
    )


def train_epochs(
    model: nn.Module,
    data: Arrays,
    *,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    epochs: int,
    batch_size: int,
    grad_clip: float,
    seed: int = 0,
    memory_format: torch.memory_format = CHANNELS_LAST,
    on_epoch: Callable[[int], None] | None = None,
    on_step: Callable[[int], None] | None = None,
) -> Iterator[float]:
    """Train ``model`` from its current weights on ``data``, one epoch per step of the iterator;
    yields each epoch's mean loss (the model is left in eval mode between epochs). Seeded data
    order (``(seed, epoch)``) and dropout."""
    torch.manual_seed(seed)
    step = 0
    params = [p for p in model.parameters() if p.requires_grad]
    for epoch in range(epochs):
        if on_epoch is not None:
            on_epoch(epoch)
        model.train()
        order = np.random.default_rng([seed, epoch]).permutation(len(data))
        loss_sum, count = 0.0, 0
        for x, y in batches(data, batch_size, order):
            if on_step is not None:
                on_step(step)
            optimizer.zero_grad(set_to_none=True)
            loss = F.cross_entropy(model(x.contiguous(memory_format=memory_format)), y)
            loss.backward()
            nn.utils.clip_grad_norm_(params, grad_clip, foreach=True)
            optimizer.step()
            scheduler.step()
            step += 1
            loss_sum, count = loss_sum + float(loss.detach()) * len(y), count + len(y)
        model.eval()
        yield loss_sum / max(1, count)


@torch.inference_mode()
def recalibrate_bn(
    model: nn.Module, x: np.ndarray, batch_size: int = 256, *, memory_format: torch.memory_format = CHANNELS_LAST
) -> None:
    """Reset every BatchNorm's running statistics and re-estimate them (exact average) on ``x``,
    drop path off."""
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    for bn in norms:
        bn.reset_running_stats()
        bn.momentum = None
    model.train()
    with model.no_drop_path() if isinstance(model, CellNetwork) else nullcontext():
        for i in range(0, len(x), batch_size):
            model(torch.from_numpy(x[i : i + batch_size]).contiguous(memory_format=memory_format))
    model.eval()


@torch.inference_mode()
def accuracy(
    model: nn.Module, data: Arrays, batch_size: int = SCORE_BATCH, *, memory_format: torch.memory_format = CHANNELS_LAST
) -> float:
    """Top-1 accuracy of ``model`` (put in eval mode) on ``data``."""
    model.eval()
    correct = 0
    for x, y in batches(data, batch_size):
        correct += int((model(x.contiguous(memory_format=memory_format)).argmax(dim=1) == y).sum())
    return correct / max(1, len(data))


class ScratchEvaluator(Evaluator):
    """Base of the evaluators that train every candidate from scratch (`evaluators.scratch`,
    `evaluators.dass.sparse_train`): the task's training, validation and recalibration images
    (`load_data`), the seeded initialisation (`build`) and results cached by architecture id."""

    task: Task
    seed: int

    def load_data(
        self,
        task: Task,
        data_dirs: Sequence[str | Path],
        train_limit: int | None,
        val_limit: int | None,
        recal_images: int,
        *,
        seed: int,
        threads: int | None,
    ) -> None:
        """The first ``train_limit`` training images, ``recal_images`` of them for BatchNorm
        recalibration and ``val_limit`` validation images (`scoring_data`); ``threads`` torch threads."""
        if threads:
            torch.set_num_threads(threads)
        self.task, self.seed = task, seed
        self.space = get_space(task.space)
        if task.dataset is None:
            raise NasError(f"{self.name} evaluator: the task names no dataset to train on")
        self.train, self.val, self.recal = scoring_data(
            task.dataset, data_dirs=data_dirs, train_limit=train_limit, val_limit=val_limit, recal_images=recal_images
        )
        self.cache: dict[str, dict[str, float]] = {}

    def build(self, arch: Architecture) -> nn.Module:
        """A freshly (and always identically) initialised network of ``arch``."""
        torch.manual_seed(self.seed)
        return self.space.build(arch, **self.task.shape)

    def cached(self, arch: Architecture, compute: Callable[[Architecture], dict[str, float]]) -> dict[str, float]:
        """``compute(arch)``, once per architecture id."""
        if arch.arch_id not in self.cache:
            self.cache[arch.arch_id] = compute(arch)
        return dict(self.cache[arch.arch_id])
