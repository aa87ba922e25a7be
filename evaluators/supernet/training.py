"""Supernet training: the sandwich rule with in-place distillation, and scoring inherited subnets.

`SandwichTrainer` trains a supernet one epoch at a time (BigNAS/OFA's sandwich rule: each step
backpropagates the largest subnet on the labels, then the smallest and ``random_subnets`` random
ones on the largest's detached predictions; one optimizer step for the sum). Its state is
checkpointed between epochs; an epoch's shuffling, subnet draws and dropout are seeded by
``(seed, epoch)``, so a run resumed from a checkpoint continues exactly like an uninterrupted one.
Training from scratch, BatchNorm recalibration and accuracy are `evaluators.training`'s.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

from evaluators.supernet.network import StagedSupernet, largest_arch, smallest_arch
from evaluators.training import SCORE_BATCH, accuracy, batches, cosine, recalibrate_bn, sgd, train_epochs
from evaluators.training import channels_last as channels_last  # re-exported (readout, benchmarks)

if TYPE_CHECKING:
    from evaluators.datasets import Arrays
    from evaluators.supernet.cells import CellSupernet

    Supernet = StagedSupernet | CellSupernet
    from search_spaces import Architecture


@dataclass(frozen=True)
class Schedule:
    """SGD with Nesterov momentum and a per-step cosine learning rate from ``lr`` to 0."""

    epochs: int
    batch_size: int = 64
    lr: float = 0.05
    momentum: float = 0.9
    weight_decay: float = 4e-5
    grad_clip: float = 5.0

    def __post_init__(self) -> None:
        if self.epochs < 1:
            raise ValueError(f"epochs must be at least 1, got {self.epochs}")
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {self.batch_size}")
        if not self.lr > 0:
            raise ValueError(f"lr must be positive, got {self.lr}")

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def make_optimizer(model: nn.Module, schedule: Schedule) -> torch.optim.SGD:
    """The schedule's SGD (`evaluators.training.sgd`) with Nesterov momentum."""
    return sgd(model, lr=schedule.lr, momentum=schedule.momentum, weight_decay=schedule.weight_decay, nesterov=True)


def soft_cross_entropy(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Cross-entropy against a probability distribution (the teacher's softmax)."""
    return -(target * F.log_softmax(logits, dim=1)).sum(dim=1).mean()


@torch.no_grad()
def fold_batchnorm(model: nn.Module) -> nn.Module:
    """Fold every convolution -> BatchNorm pair (``conv_bn``'s layout) of an eval-mode network into
    the convolution, in place: the same outputs (to float rounding) in 1.2-1.7x less time on CPUs
    (benchmarks/supernet_scoring.py). For scoring only: the folded network no longer has
    ``space.build``'s structure or state-dict keys."""
    model.eval()
    for seq in [m for m in model.modules() if isinstance(m, nn.Sequential)]:
        for i in range(len(seq) - 1):
            conv, bn = seq[i], seq[i + 1]
            if isinstance(conv, nn.Conv2d) and isinstance(bn, nn.BatchNorm2d):
                seq[i] = fuse_conv_bn_eval(conv, bn)
                seq[i + 1] = nn.Identity()
    return model


@dataclass(frozen=True)
class FineTune:
    """A short fixed fine-tune of an inherited subnet: one epoch over ``data`` (the same seeded
    images for every candidate), SGD with Nesterov momentum, cosine from ``lr`` to 0, no weight
    decay. A sparse layer trains its masked weight, so pruned weights stay pruned."""

    data: Arrays
    lr: float = 0.01
    batch_size: int = 64
    seed: int = 0

    def __call__(self, model: nn.Module) -> None:
        optimizer = sgd(model, lr=self.lr, momentum=0.9, weight_decay=0.0, nesterov=True)
        steps = math.ceil(len(self.data) / self.batch_size)
        for _ in train_epochs(model, self.data, optimizer=optimizer, scheduler=cosine(optimizer, steps), epochs=1,
                              batch_size=self.batch_size, grad_clip=5.0, seed=self.seed):  # fmt: skip
            pass


def inherited(
    supernet: Supernet, arch: Architecture, *, recal: np.ndarray, batch_size: int = 256, tune: FineTune | None = None
) -> nn.Module:
    """``arch``'s subnet with inherited weights, channels-last, fine-tuned by ``tune`` when given,
    its BatchNorm statistics re-estimated on ``recal``: the network the ``supernet`` evaluator scores."""
    model = supernet.extract(arch).to(memory_format=torch.channels_last)
    if tune is not None:
        tune(model)
    recalibrate_bn(model, recal, batch_size)
    return model


def scoring_model(
    supernet: Supernet, arch: Architecture, *, recal: np.ndarray, tune: FineTune | None = None
) -> nn.Module:
    """What the ``supernet`` evaluator scores: `inherited` (fine-tuned by ``tune``, BatchNorm
    recalibrated on ``recal`` in batches of up to 256), then BatchNorm folded into the convolutions
    (`fold_batchnorm`)."""
    return fold_batchnorm(inherited(supernet, arch, recal=recal, tune=tune))


def subnet_accuracy(
    supernet: Supernet, arch: Architecture, *, recal: np.ndarray, data: Arrays, batch_size: int = SCORE_BATCH
) -> float:
    """Accuracy of ``arch`` with inherited weights after BatchNorm recalibration on ``recal`` (in
    one batch of up to 256), BatchNorm folded, ``data`` in batches of ``batch_size``."""
    return accuracy(scoring_model(supernet, arch, recal=recal), data, batch_size)


EXTREMES = ("fixed", "drawn", "cycled")  # which ConvOps the sandwich's extremes take (`SandwichTrainer`)


class EpochTrainer:
    """What the supernet trainers share: a network trained epoch by epoch with an optimizer and a
    scheduler, whose whole state (``state_dict``) resumes an interrupted training."""

    net: nn.Module
    schedule: Schedule
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    epoch: int

    @property
    def done(self) -> bool:
        return self.epoch >= self.schedule.epochs

    def state_dict(self) -> dict[str, Any]:
        return {
            "net": self.net.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "epoch": self.epoch,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.net.load_state_dict(state["net"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.epoch = int(state["epoch"])


class SandwichTrainer(EpochTrainer):
    """Trains a supernet epoch by epoch with the sandwich rule and in-place distillation.

    Plain layers (no shortcut) start as their shortcut: their paths' last BatchNorm is zeroed and,
    over the first ``plain_shortcut`` fraction of the steps, they get the space's parameter-free
    shortcut scaled from 1 to 0 (`StagedSupernet.layer`). Without it, randomly initialised plain
    paths of different ConvOps feed their neighbours unrelated features and random subnets stay at
    chance (docs/supernet.md, 2026-11-29).

    ``extremes`` says which ConvOps the largest and smallest subnets take (those genes have no
    largest or smallest choice): ``"fixed"`` MBConv6 with residuals and `dconv` without (the
    default), ``"drawn"`` every block's ConvOp path and skip at random each step (measured: ranks
    far worse, the teacher changes at every step; docs/supernet.md, fifth session of 2026-11-29),
    ``"cycled"`` one ConvOp path (`StagedSupernet.convop_paths`) in every block, the next path each
    step, so every path gets a whole-network sandwich of its own (MnasNet: a third of the time).
    ``distill=False`` trains every subnet on the labels instead of on the largest's predictions."""

    def __init__(
        self,
        net: StagedSupernet,
        data: Arrays,
        schedule: Schedule,
        *,
        random_subnets: int = 4,
        plain_shortcut: float = 0.5,
        balanced: bool = False,
        extremes: str = "fixed",
        distill: bool = True,
        seed: int = 0,
    ) -> None:
        if random_subnets < 0:
            raise ValueError(f"random_subnets must be >= 0, got {random_subnets}")
        if not 0.0 <= plain_shortcut <= 1.0:
            raise ValueError(f"plain_shortcut must be in [0, 1], got {plain_shortcut}")
        if extremes not in EXTREMES:
            raise ValueError(f"extremes must be one of {EXTREMES}, got {extremes!r}")
        self.net, self.data, self.schedule = net, data, schedule
        self.random_subnets, self.plain_shortcut, self.seed = random_subnets, plain_shortcut, seed
        self.balanced, self.extremes, self.distill = balanced, extremes, distill
        if plain_shortcut > 0:
            net.zero_plain_paths()
        self.largest, self.smallest = largest_arch(net.space), smallest_arch(net.space)
        self.per_path = [(largest_arch(net.space, path=p), smallest_arch(net.space, path=p)) for p in net.convop_paths]
        self.optimizer = make_optimizer(net, schedule)
        self.params = [p for p in net.parameters() if p.requires_grad]
        self.steps_per_epoch = math.ceil(len(data) / schedule.batch_size)
        self.total_steps = schedule.epochs * self.steps_per_epoch
        self.scheduler = cosine(self.optimizer, self.total_steps)
        self.epoch = 0  # epochs completed

    @property
    def references(self) -> dict[str, Architecture]:
        """The subnets whose accuracy the training reports."""
        return {"largest": self.largest, "smallest": self.smallest}

    def step(self, x: torch.Tensor, y: torch.Tensor, rng: np.random.Generator) -> float:
        """One sandwich step; returns the largest subnet's label loss."""
        self.optimizer.zero_grad(set_to_none=True)
        annealed = self.plain_shortcut * self.total_steps
        self.net.plain_shortcut = max(0.0, 1.0 - self.scheduler.last_epoch / annealed) if annealed else 0.0
        space = self.net.space
        largest, smallest = self.largest, self.smallest
        if self.extremes == "drawn":
            largest, smallest = largest_arch(space, rng), smallest_arch(space, rng)
        elif self.extremes == "cycled":
            largest, smallest = self.per_path[self.scheduler.last_epoch % len(self.per_path)]
        logits = self.net(x, largest)
        loss = F.cross_entropy(logits, y)
        loss.backward()
        teacher = F.softmax(logits.detach(), dim=1)
        drawn = (
            space.sample_balanced(self.random_subnets, rng)
            if self.balanced
            else [space.sample(rng) for _ in range(self.random_subnets)]
        )
        students = [smallest, *drawn]
        for arch in students:
            out = self.net(x, arch)
            (soft_cross_entropy(out, teacher) if self.distill else F.cross_entropy(out, y)).backward()
        nn.utils.clip_grad_norm_(self.params, self.schedule.grad_clip, foreach=True)
        self.optimizer.step()
        self.scheduler.step()
        return float(loss.detach())

    @contextmanager
    def running(self) -> Iterator[None]:
        """The supernet in training mode with channels-last subnets (as `step` expects), then back."""
        self.net.train()
        self.net.channels_last = True
        try:
            yield
        finally:
            self.net.channels_last, self.net.plain_shortcut = False, 0.0
            self.net.eval()

    def train_epoch(self) -> dict[str, float]:
        """Train the next epoch; returns its mean largest-subnet loss, learning rate and seconds."""
        if self.done:
            raise RuntimeError(f"all {self.schedule.epochs} epochs are done")
        start = time.perf_counter()
        if self.epoch > 0:
            self.net.sort_channels(self.optimizer)
        rng = np.random.default_rng([self.seed, self.epoch])
        torch.manual_seed(self.seed * 100_003 + self.epoch)
        order = rng.permutation(len(self.data))
        lr = self.scheduler.get_last_lr()[0]
        total, count = 0.0, 0
        with self.running():
            for x, y in batches(self.data, self.schedule.batch_size, order):
                total, count = total + self.step(x, y, rng) * len(y), count + len(y)
        self.epoch += 1
        return {"loss": total / max(1, count), "lr": lr, "epoch_seconds": time.perf_counter() - start}
