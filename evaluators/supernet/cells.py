"""A weight-sharing one-shot network over the cells of a cell space (NASNet), at one macro setting.

Single-path one-shot (Guo et al., "Single Path One-Shot NAS", ECCV 2020): every operation a cell
position can run holds its own weights, shared by every architecture that runs it there, and
each training step trains one uniformly sampled architecture. A weight is keyed by the
operation's position in the network (`OpSpec.name`: cell, block and input slot, or a cell's
preprocessing) and its signature (kind, kernel, input and output shape), so an operation reading
a concatenated state (twice the channels) has weights apart from the same operation reading a
single one. The macro setting (cells per stage, filters, stem) is fixed: architectures differ
only in their cells, as the NASNet search trains them.

The operations are found by drawing ``coverage`` architectures (seeded); their specs are kept
with the weights, so a loaded supernet has exactly the modules it was trained with. `extract` gives ``space.build``'s
network with copies of the inherited weights (same parameters, same outputs).
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from core.errors import InvalidArchitectureError, NasError
from evaluators.supernet.training import EpochTrainer, make_optimizer
from evaluators.training import batches, cosine
from search_spaces import get_space
from search_spaces.cells.space import CellSpace
from search_spaces.ops.modules import build_op, init_weights
from search_spaces.ops.spec import OpSpec

if TYPE_CHECKING:
    from evaluators.datasets import Arrays
    from evaluators.supernet.training import Schedule
    from search_spaces import Architecture
    from search_spaces.cells.network import CellNetwork
    from search_spaces.cells.steps import Step

DEFAULT_MACRO = "N=1 f=8 stem=1"  # the NASNet supernet's macro setting unless a run names another
COVERAGE = 3000  # architectures drawn to find the operations (1,470 after 1,000 draws, 1,478 after 3,000 for N=1 f=8)


def op_key(op: OpSpec) -> str:
    """Where an operation sits and what it is: the key its shared weights are kept under."""
    return f"{op.name}|{op.signature()}"


def key_of(step: Step) -> str:
    return op_key(step.spec)


class CellSupernet(nn.Module):
    """Every cell pair of ``space`` at the macro setting ``macro`` (its genome string, e.g.
    ``"N=1 f=8 stem=1"``); ``forward(x, arch)`` runs one architecture on the shared weights."""

    def __init__(
        self,
        space: str,
        *,
        macro: str,
        in_channels: int = 3,
        input_size: int = 224,
        num_classes: int = 1000,
        width: float = 1.0,
        specs: list[dict[str, Any]] | None = None,
        coverage: int = COVERAGE,
        seed: int = 0,
    ) -> None:
        super().__init__()
        found = get_space(space)
        if not isinstance(found, CellSpace):
            raise NasError(f"cell supernet: {space} is not a cell space")
        if width != 1.0:
            raise NasError("cell supernet: the width is the macro setting's filters; width must be 1.0")
        self.space: CellSpace = found
        self.macro = self.space.macro_codec.format(self.space.check_macro(self.space.macro_codec.parse(macro)))
        self.shape = {"in_channels": in_channels, "input_size": input_size, "num_classes": num_classes}
        self.width = 1.0
        self._steps: dict[str, list[Step]] = {}
        if specs is None:
            rng = np.random.default_rng(seed)
            values = self.space.macro_codec.values(self.space.macro_codec.parse(self.macro)).values()
            fixed = dict(zip(self.space.macro_genes, values, strict=True))  # the macro genes, set on every draw
            found: dict[str, OpSpec] = {}
            for _ in range(coverage):
                for step in self.steps(self.space.sample(rng, fixed), cache=False):
                    found.setdefault(key_of(step), step.spec)
            ops = [found[k] for k in sorted(found)]
        else:
            ops = [OpSpec(**{**d, "attrs": tuple(tuple(a) for a in d["attrs"])}) for d in specs]
        self.keys = [op_key(op) for op in ops]
        self.specs = ops
        self.index = {k: i for i, k in enumerate(self.keys)}
        self.paths = nn.ModuleList(build_op(op) for op in ops)
        init_weights(self)

    default_macro = DEFAULT_MACRO

    @classmethod
    def check_macro(cls, space: str, macro: str) -> str:
        """``macro`` normalised; `NasError` naming the gene and its allowed values."""
        found = get_space(space)
        assert isinstance(found, CellSpace)
        try:
            return found.macro_codec.format(found.check_macro(found.macro_codec.parse(macro)))
        except InvalidArchitectureError as e:
            raise NasError(f"macro: {e}") from None

    @classmethod
    def macro_genes(cls, space: str, macro: str) -> dict[str, Any]:
        """The genes ``macro`` sets (``{"cells": 1, "filters": 8, "stem": 1}`` for ``N=1 f=8 stem=1``)."""
        found = get_space(space)
        values = found.macro_codec.values(found.macro_codec.parse(cls.check_macro(space, macro))).values()
        return dict(zip(found.macro_genes, values, strict=True))

    def options(self) -> dict[str, Any]:
        """What a checkpoint needs to rebuild this supernet (besides shape and width): the macro
        setting and every operation's spec (so loading draws nothing)."""
        return {
            "macro": self.macro,
            "specs": [{**asdict(op), "attrs": [list(a) for a in op.attrs]} for op in self.specs],
        }

    def references(self, seed: int) -> dict[str, Architecture]:
        """The subnets the training reports: the published cells (NASNet-A) and a seeded random pair."""
        published = next(iter(self.space.reference_genomes().values()))
        random = self.sample(np.random.default_rng(seed + 7))
        return {"published": self.at_macro(self.space.from_genome(published)), "random": random}

    def at_macro(self, arch: Architecture) -> Architecture:
        """``arch``'s cells at this supernet's macro setting."""
        normal, reduction, _ = self.space.cells_of(self.space.to_params(arch))
        return self.space.architecture(normal, reduction, self.space.macro_codec.parse(self.macro))

    def sample(self, rng: np.random.Generator) -> Architecture:
        """A uniformly drawn architecture at the macro setting among those whose operations the
        supernet holds (a rare operation the coverage draws missed is redrawn, never trained)."""
        for _ in range(1000):
            arch = self.at_macro(self.space.sample(rng))
            if self.covers(arch):
                return arch
        raise NasError("cell supernet: 1,000 draws in a row need operations it does not hold")

    def covers(self, arch: Architecture) -> bool:
        """Whether every operation ``arch`` runs has weights here."""
        return all(key_of(step) in self.index for step in self.steps(arch))

    def steps(self, arch: Architecture, *, cache: bool = True) -> list[Step]:
        """``arch``'s steps; `NasError` if its macro setting is not the supernet's."""
        if cache and arch.arch_id in self._steps:
            return self._steps[arch.arch_id]
        if arch.genome[-1] != self.macro:
            raise NasError(f"cell supernet: trained at macro {self.macro!r}; the architecture has {arch.genome[-1]!r}")
        steps = self.space.steps(arch, **self.shape)
        if cache:
            if len(self._steps) > 4096:
                self._steps.clear()
            self._steps[arch.arch_id] = steps
        return steps

    def layers(self, arch: Architecture) -> list[nn.Module]:
        """The shared module of each of ``arch``'s steps."""
        out = []
        for step in self.steps(arch):
            i = self.index.get(key_of(step))
            if i is None:
                raise NasError(f"cell supernet: operation {key_of(step)} is not among the {len(self.keys)} trained")
            out.append(self.paths[i])
        return out

    def forward(self, x: torch.Tensor, arch: Architecture) -> torch.Tensor:
        steps = self.steps(arch)
        regs = {"input": x}
        out = x
        for step, layer in zip(steps, self.layers(arch), strict=True):
            out = layer(*(regs[r] for r in step.inputs))
            regs[step.output] = out
        return out

    def extract(self, arch: Architecture) -> CellNetwork:
        """``space.build(arch)`` holding copies of the inherited weights, in eval mode."""
        net = self.space.build(arch, **self.shape)
        for target, source in zip(net.layers, self.layers(arch), strict=True):
            target.load_state_dict(source.state_dict())
        return net.eval()


class SinglePathTrainer(EpochTrainer):
    """Trains a `CellSupernet` (or `pruned.PrunedSupernet`) epoch by epoch: each step the
    architecture the supernet's ``sample`` draws (a uniform one; the pruned supernet's dense
    network), on the labels (SGD with Nesterov momentum, cosine learning rate, gradient clipping:
    the supernet `Schedule`). ``references`` are the subnets whose accuracy the training reports."""

    def __init__(self, net: Any, data: Arrays, schedule: Schedule, *, seed: int = 0) -> None:
        self.net, self.data, self.schedule, self.seed = net, data, schedule, seed
        self.optimizer = make_optimizer(net, schedule)
        self.params = [p for p in net.parameters() if p.requires_grad]
        self.total_steps = schedule.epochs * math.ceil(len(data) / schedule.batch_size)
        self.scheduler = cosine(self.optimizer, self.total_steps)
        self.epoch = 0
        self.references = net.references(seed)

    def step(self, x: torch.Tensor, y: torch.Tensor, rng: np.random.Generator) -> float:
        self.optimizer.zero_grad(set_to_none=True)
        loss = F.cross_entropy(self.net(x, self.net.sample(rng)), y)
        loss.backward()
        nn.utils.clip_grad_norm_(self.params, self.schedule.grad_clip, foreach=True)
        self.optimizer.step()
        self.scheduler.step()
        return float(loss.detach())

    def train_epoch(self) -> dict[str, float]:
        """Train the next epoch; returns its mean loss, learning rate and seconds."""
        if self.done:
            raise RuntimeError(f"all {self.schedule.epochs} epochs are done")
        start = time.perf_counter()
        rng = np.random.default_rng([self.seed, self.epoch])
        torch.manual_seed(self.seed * 100_003 + self.epoch)
        lr = self.scheduler.get_last_lr()[0]
        total, count = 0.0, 0
        self.net.train()
        for x, y in batches(self.data, self.schedule.batch_size, rng.permutation(len(self.data))):
            total, count = total + self.step(x, y, rng) * len(y), count + len(y)
        self.net.eval()
        self.epoch += 1
        return {"loss": total / max(1, count), "lr": lr, "epoch_seconds": time.perf_counter() - start}
