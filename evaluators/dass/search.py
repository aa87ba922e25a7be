"""The differentiable search: DARTS's first-order bilevel optimisation, and DASS's sparse objective.

Each step takes an architecture step on a batch of the search-validation half (Adam on the
architecture weights, the validation loss of the one-shot network *as it currently is*) and
then a step on a batch of the search-training half (``train_search.py``: ``architect.step``
before the weight step, first order). The two halves split the first ``train_limit`` images of
the dataset's training split (``train_portion``, 0.5 in DARTS); the dataset's own validation split
is left for the final evaluation.

``method="darts"``: one phase of dense training (the reference's schedule).
``method="dass"``: three phases over the same number of epochs, as in the authors' search code
(``train_search.py``: pretrain, prune, finetune):

1. **pretrain** — dense (sparsity 0): weights on the training loss, architecture on the validation loss;
2. **prune** — every sparse layer at the target sparsity, its mask the top ``1 - s`` of its
   importance scores (initialised proportional to the weights, so the first mask is magnitude
   pruning); the scores learn on the training loss (weights frozen, HYDRA), the architecture on
   the validation loss *of the pruned one-shot network*;
3. **finetune** — masks fixed; the kept weights learn on the training loss, the architecture on
   the pruned network's validation loss.

So the architecture is chosen for the accuracy of its sparse version: DASS's objective
``min_alpha L_val(w*(alpha) * m*(alpha), alpha)`` with ``||m||_0 <= (1 - s)|w|`` (docs/dass.md).

The run is checkpointed after every epoch (`save` / `load`); an epoch's shuffling is seeded by
``(seed, epoch)``, so a resumed run continues exactly like an uninterrupted one.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from core.errors import NasError
from evaluators.dass.supernet import SearchNetwork
from search_spaces.dass.genotype import Cell, format_cell

if TYPE_CHECKING:
    from collections.abc import Callable

    from evaluators.datasets import Arrays

METHODS = ("dass", "darts")
PHASES = ("pretrain", "prune", "finetune")


@dataclass(frozen=True)
class SearchConfig:
    """Every setting of a search; defaults are the reference's (``train_search.py``) where it has one."""

    method: str = "dass"
    epochs: int = 50  # all phases together; DASS splits them by ``phase_epochs``
    phase_epochs: tuple[int, int, int] | None = None  # DASS pretrain/prune/finetune (default 2:1:2 of epochs)
    sparsity: float = 0.9  # DASS's target pruning ratio of every sparse layer
    channels: int = 16  # the one-shot network's C and L (DARTS: 16, 8)
    layers: int = 8
    batch_size: int = 64
    train_portion: float = 0.5
    train_limit: int | None = None  # first N training images (None: all)
    lr: float = 0.025
    lr_min: float = 0.001
    momentum: float = 0.9
    weight_decay: float = 3e-4
    prune_lr: float = 0.1  # the scores' SGD (the authors' ``prune_learning_rate``)
    arch_lr: float = 3e-4
    arch_weight_decay: float = 1e-3
    grad_clip: float = 5.0
    seed: int = 0

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise NasError(f"method: {self.method!r} is not allowed; allowed: {', '.join(METHODS)}")
        if self.epochs < 1:
            raise NasError(f"epochs must be at least 1, got {self.epochs}")
        if not 0.0 < self.sparsity < 1.0 and self.method == "dass":
            raise NasError(f"sparsity must be within (0, 1) for DASS, got {self.sparsity}")
        split = self.phase_epochs
        if split is not None and (len(split) != 3 or min(split) < 0 or sum(split) != self.epochs):
            raise NasError(
                f"phase_epochs: three non-negative epoch counts summing to epochs ({self.epochs}), got {split}"
            )
        if not 0.0 < self.train_portion < 1.0:
            raise NasError(f"train_portion must be within (0, 1), got {self.train_portion}")
        for name in ("channels", "layers", "batch_size"):
            if getattr(self, name) < 1:
                raise NasError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.channels % 2:
            raise NasError(f"channels must be even (factorized reductions split them), got {self.channels}")

    def phases(self) -> list[tuple[str, int]]:
        """(phase, epochs) in order; DARTS is one dense phase."""
        if self.method == "darts":
            return [("pretrain", self.epochs)]
        if self.phase_epochs is not None:
            split = self.phase_epochs
        else:
            prune = max(1, round(self.epochs / 5)) if self.epochs >= 3 else 0
            pre = (self.epochs - prune) // 2
            split = (pre, prune, self.epochs - prune - pre)
        return [(p, n) for p, n in zip(PHASES, split, strict=True) if n]

    def phase_of(self, epoch: int) -> tuple[str, int, int]:
        """(phase, epoch within it, its length) of a global epoch index."""
        start = 0
        for phase, n in self.phases():
            if epoch < start + n:
                return phase, epoch - start, n
            start += n
        raise NasError(f"epoch {epoch} is past the search's {self.epochs} epochs")

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class EpochRecord:
    """What one epoch did: the phase, losses and accuracies, the derived cells, the weights."""

    epoch: int
    phase: str
    lr: float
    train_loss: float
    train_acc: float
    search_val_acc: float
    mask_sparsity: float
    normal: str
    reduce: str
    alphas: dict[str, list[list[float]]] = field(default_factory=dict)
    seconds: float = 0.0


def _sgd(params: list[nn.Parameter], lr: float, momentum: float, weight_decay: float) -> torch.optim.SGD:
    return torch.optim.SGD(params, lr=lr, momentum=momentum, weight_decay=weight_decay)


class DifferentiableSearch:
    """A DARTS or DASS search over ``train`` images for a task of ``num_classes`` classes."""

    def __init__(
        self,
        config: SearchConfig,
        *,
        train: Arrays,
        num_classes: int,
        threads: int | None = None,
        reference: bool = False,
    ) -> None:
        """``reference``: the unoptimised one-shot network and steps (the code before issue 25),
        for benchmarks and equivalence tests; same search, slower."""
        self.reference = reference
        if threads:
            torch.set_num_threads(threads)
        self.config = config
        data = train if config.train_limit is None else train.head(config.train_limit)
        split = math.floor(config.train_portion * len(data))
        if split < 1 or split >= len(data):
            raise NasError(f"search data: {len(data)} images cannot be split at train_portion {config.train_portion}")
        x = torch.from_numpy(data.x).contiguous(memory_format=memory_format())
        self.x_train, self.y_train = x[:split], torch.from_numpy(data.y[:split])
        self.x_val, self.y_val = x[split:], torch.from_numpy(data.y[split:])
        self.net = SearchNetwork(
            channels=config.channels,
            layers=config.layers,
            num_classes=num_classes,
            in_channels=data.x.shape[1],
            seed=config.seed,
            reference=reference,
        ).to(memory_format=memory_format())
        self.arch_optimizer = torch.optim.Adam(
            self.net.arch_parameters(), lr=config.arch_lr, betas=(0.5, 0.999), weight_decay=config.arch_weight_decay
        )
        self.epoch = 0
        self.history: list[EpochRecord] = []
        self._phase: str | None = None
        self.optimizer: torch.optim.SGD | None = None
        self.scheduler: torch.optim.lr_scheduler.CosineAnnealingLR | None = None

    # -- phases ----------------------------------------------------------------------------------
    @property
    def done(self) -> bool:
        return self.epoch >= self.config.epochs

    def _enter(self, phase: str, length: int) -> None:
        """Set up a phase: which parameters learn, the sparsity, a fresh cosine-scheduled SGD."""
        c, net = self.config, self.net
        if phase != "pretrain" and self._phase in (None, "pretrain"):
            net.scale_scores()  # the first sparse phase starts from magnitude pruning (HYDRA's scaled init)
        net.set_sparsity(0.0 if phase == "pretrain" else c.sparsity)
        train_scores = phase == "prune"
        for p in net.weight_parameters():
            p.requires_grad_(not train_scores)
        for p in net.score_parameters():
            p.requires_grad_(train_scores)
        params = net.score_parameters() if train_scores else net.weight_parameters()
        lr = c.prune_lr if train_scores else c.lr
        self.optimizer = _sgd(params, lr, c.momentum, c.weight_decay)
        self.scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(self.optimizer, float(length), eta_min=c.lr_min)
        self._phase = phase

    # -- one epoch -------------------------------------------------------------------------------
    def run_epoch(self) -> EpochRecord:
        """Train one epoch (architecture and weight steps alternating) and record it."""
        if self.done:
            raise NasError(f"the search has run all its {self.config.epochs} epochs")
        c, net = self.config, self.net
        start = time.perf_counter()
        phase, within, length = c.phase_of(self.epoch)
        if phase != self._phase or self.optimizer is None:
            self._enter(phase, length)
            for _ in range(within):  # resumed mid-phase without optimizer state: keep the schedule
                self.scheduler.step()  # type: ignore[union-attr]
        assert self.optimizer is not None and self.scheduler is not None
        lr = self.optimizer.param_groups[0]["lr"]
        gen = torch.Generator().manual_seed(c.seed * 100_003 + self.epoch)
        order = torch.randperm(len(self.y_train), generator=gen)
        val_order = torch.randperm(len(self.y_val), generator=gen)
        net.train()
        losses, correct, seen, v = 0.0, 0, 0, 0
        for i in range(0, len(order), c.batch_size):
            take = order[i : i + c.batch_size]
            vtake = val_order[v : v + c.batch_size]
            v = v + c.batch_size if v + 2 * c.batch_size <= len(val_order) else 0
            self.arch_step(self.x_val[vtake], self.y_val[vtake])
            logits, loss = self.weight_step(self.x_train[take], self.y_train[take])
            losses += float(loss) * len(take)
            correct += int((logits.argmax(1) == self.y_train[take]).sum())
            seen += len(take)
        self.scheduler.step()
        normal, reduce = net.genotype()
        weights = net.arch_weights()
        record = EpochRecord(
            epoch=self.epoch,
            phase=phase,
            lr=lr,
            train_loss=losses / max(1, seen),
            train_acc=correct / max(1, seen),
            search_val_acc=self.search_val_accuracy(),
            mask_sparsity=net.mask_sparsity(),
            normal=format_cell(normal),
            reduce=format_cell(reduce),
            alphas={k: np.round(w, 5).tolist() for k, w in weights.items()},
            seconds=time.perf_counter() - start,
        )
        self.history.append(record)
        self.epoch += 1
        return record

    def arch_step(self, x: torch.Tensor, y: torch.Tensor) -> None:
        """Architecture step (first order): Adam on the validation loss of the network as it is.
        Only the architecture's gradient is computed (the weights' would be discarded before the
        weight step anyway), which skips the weight-gradient kernels."""
        self.arch_optimizer.zero_grad()
        loss = F.cross_entropy(self.net(_cl(x)), y)
        if self.reference:
            loss.backward()
        else:
            params = self.net.arch_parameters()
            for p, g in zip(params, torch.autograd.grad(loss, params), strict=True):
                p.grad = g
        self.arch_optimizer.step()

    def weight_step(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Weight (or score) step on a training batch, gradients clipped; returns logits and loss.
        The architecture weights are constants here (their gradient is not used)."""
        assert self.optimizer is not None
        net = self.net
        self.optimizer.zero_grad()
        net.alphas_normal.grad = net.alphas_reduce.grad = None
        frozen = not self.reference
        for p in net.arch_parameters():
            p.requires_grad_(not frozen)
        try:
            logits = net(_cl(x))
        finally:
            for p in net.arch_parameters():
                p.requires_grad_(True)
        loss = F.cross_entropy(logits, y)
        loss.backward()
        nn.utils.clip_grad_norm_([p for g in self.optimizer.param_groups for p in g["params"]], self.config.grad_clip)
        self.optimizer.step()
        return logits.detach(), loss.detach()

    @torch.no_grad()
    def search_val_accuracy(self, batch_size: int = 256) -> float:
        """Accuracy of the one-shot network (as it is: pruned in the sparse phases) on the search-validation half."""
        self.net.eval()
        correct = 0
        for i in range(0, len(self.y_val), batch_size):
            correct += int(
                (self.net(_cl(self.x_val[i : i + batch_size])).argmax(1) == self.y_val[i : i + batch_size]).sum()
            )
        self.net.train()
        return correct / max(1, len(self.y_val))

    def run(self, *, until: int | None = None, progress: Callable[[EpochRecord], None] | None = None) -> None:
        """Run epochs up to ``until`` (default: the end), calling ``progress`` after each."""
        stop = self.config.epochs if until is None else min(until, self.config.epochs)
        while self.epoch < stop:
            record = self.run_epoch()
            if progress is not None:
                progress(record)

    def genotype(self) -> tuple[Cell, Cell]:
        """The current discrete cells."""
        return self.net.genotype()

    # -- checkpoints -----------------------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        return {
            "config": self.config.as_dict(),
            "epoch": self.epoch,
            "phase": self._phase,
            "net": self.net.state_dict(),
            "arch_optimizer": self.arch_optimizer.state_dict(),
            "optimizer": None if self.optimizer is None else self.optimizer.state_dict(),
            "scheduler": None if self.scheduler is None else self.scheduler.state_dict(),
            "history": [asdict(r) for r in self.history],
        }

    def save(self, path: str | Path) -> None:
        """Write the checkpoint atomically (a crash mid-write leaves the previous one)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(path.suffix + ".tmp")
        torch.save(self.state(), tmp)
        tmp.replace(path)

    def load(self, path: str | Path) -> None:
        """Continue from a checkpoint written by `save` with the same configuration."""
        state = torch.load(path, map_location="cpu", weights_only=False)
        saved = {**state["config"], "phase_epochs": _tuple(state["config"].get("phase_epochs"))}
        if saved != self.config.as_dict() | {"phase_epochs": _tuple(self.config.phase_epochs)}:
            raise NasError(f"checkpoint {path} was written by a search with other settings: {state['config']}")
        self.net.load_state_dict(state["net"])
        self.arch_optimizer.load_state_dict(state["arch_optimizer"])
        self.epoch = int(state["epoch"])
        self.history = [EpochRecord(**r) for r in state["history"]]
        self._phase = None
        self.optimizer = self.scheduler = None
        if state["phase"] is not None and not self.done:
            phase, _, length = self.config.phase_of(self.epoch)
            self._phase = state["phase"]  # so that entering it again keeps the learned scores
            if phase == state["phase"]:  # same phase: restore its optimizer and schedule
                self._enter(phase, length)
                assert self.optimizer is not None and self.scheduler is not None
                self.optimizer.load_state_dict(state["optimizer"])
                self.scheduler.load_state_dict(state["scheduler"])


def memory_format() -> torch.memory_format:
    """Channels-last (several times faster depthwise and 1x1 convolutions and their backward on
    CPUs) where the CPU has AVX-512; plain NCHW otherwise: on an AVX2-only AMD EPYC, training with
    channels-last tensors made oneDNN's weight-gradient kernel corrupt the heap ("double free or
    corruption", torch 2.13.0; fine with ONEDNN_MAX_CPU_ISA=SSE41 or NCHW)."""
    return torch.channels_last if torch.backends.cpu.get_cpu_capability() == "AVX512" else torch.contiguous_format


def _cl(x: torch.Tensor) -> torch.Tensor:
    return x.contiguous(memory_format=memory_format())


def _tuple(value: Any) -> tuple[int, ...] | None:
    return None if value is None else tuple(value)
