"""The network that runs a cell graph, its add and concatenation modules, and drop-path policies.

`CellNetwork` runs a list of `Step`s over named registers, so the built model is exactly a
space's ``ops(arch)`` list, wired as the cells say. In training mode the output of every step
marked with a cell (``drop_cell`` >= 0: the operations inside cells, identities excluded) is
zeroed per sample with probability ``1 - policy.keep(cell)``: `ScheduledDropPath` is NASNet's
(Zoph et al., Sec. 4.1: keep falls with the cell's depth and the training progress),
`UniformDropPath` DARTS's (one rate for every cell, raised by the trainer over the epochs).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import torch
from torch import nn

from search_spaces.cells.steps import Step
from search_spaces.ops.modules import build_op, init_weights


class Add(nn.Module):
    """Sum of two inputs (one input alone is added to itself, for timing in isolation)."""

    def forward(self, *xs: torch.Tensor) -> torch.Tensor:
        a, b = (xs[0], xs[0]) if len(xs) == 1 else xs
        return a + b


class Concat(nn.Module):
    """Channel concatenation into ``c_out`` channels (one input alone is repeated, for timing)."""

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.c_in, self.c_out = c_in, c_out

    def forward(self, *xs: torch.Tensor) -> torch.Tensor:
        if len(xs) == 1:
            xs = xs * (self.c_out // self.c_in)
        return torch.cat(xs, 1)


def drop_path(x: torch.Tensor, keep: float) -> torch.Tensor:
    """Zero whole samples with probability ``1 - keep``, scaling the kept ones by ``1 / keep``."""
    mask = torch.empty(x.shape[0], 1, 1, 1, dtype=x.dtype, device=x.device).bernoulli_(keep)
    return x * mask / keep


class DropPath:
    """No drop path: every cell keeps everything (the base of the policies)."""

    def keep(self, cell: int) -> float:
        """The probability that an operation output in cell ``cell`` is kept."""
        return 1.0


@dataclass
class ScheduledDropPath(DropPath):
    """NASNet's ScheduledDropPath (the reference's ``v3``): in cell ``c`` (counted from 0, stem
    cells included, of ``num_cells``) keep = 1 - progress * (c + 1) / num_cells * (1 - keep_prob);
    ``progress`` is the share of training done. Off (keep_prob 1) until `set` is called."""

    num_cells: int
    keep_prob: float = 1.0
    progress: float = 1.0

    def set(self, keep_prob: float, progress: float = 1.0) -> None:
        if not (0.0 < keep_prob <= 1.0 and 0.0 <= progress <= 1.0):
            raise ValueError(f"keep_prob must be in (0, 1] and progress in [0, 1]; got {keep_prob}, {progress}")
        self.keep_prob, self.progress = keep_prob, progress

    def keep(self, cell: int) -> float:
        if self.keep_prob >= 1.0:
            return 1.0
        layer = 1.0 - (cell + 1) / self.num_cells * (1.0 - self.keep_prob)
        return 1.0 - self.progress * (1.0 - layer)


@dataclass
class UniformDropPath(DropPath):
    """DARTS's drop path: every cell operation is dropped with probability ``prob`` (0: off; DARTS
    trains with 0.2 rising linearly over the epochs, which the trainer sets)."""

    prob: float = 0.0

    def keep(self, cell: int) -> float:
        return 1.0 - self.prob


class CellNetwork(nn.Module):
    """Runs ``steps`` in order over named registers (``"input"`` holds the image batch); the last
    step's output is the result. ``specs`` keeps the op list the model was built from; a register
    is freed after its last reader. ``init`` applies the shared weight initialisation
    (`search_spaces.ops.modules.init_weights`); spaces whose layers initialise themselves skip it."""

    def __init__(self, steps: Sequence[Step], *, drop_path: DropPath | None = None, init: bool = True) -> None:
        super().__init__()
        self.steps = tuple(steps)
        self.specs = tuple(s.spec for s in self.steps)
        self.layers = nn.ModuleList(build_op(s.spec) for s in self.steps)
        self.drop_path = DropPath() if drop_path is None else drop_path
        last_use: dict[str, int] = {}
        for i, step in enumerate(self.steps):
            last_use.update(dict.fromkeys(step.inputs, i))
        self._free = [[r for r in dict.fromkeys(s.inputs) if last_use[r] == i] for i, s in enumerate(self.steps)]
        if init:
            init_weights(self)

    # NASNet's interface to its ScheduledDropPath
    @property
    def num_cells(self) -> int:
        return self._scheduled().num_cells

    def set_drop_path(self, keep_prob: float, progress: float = 1.0) -> None:
        """Set the `ScheduledDropPath` (see there; ``progress`` is the share of training done)."""
        self._scheduled().set(keep_prob, progress)

    def cell_keep_prob(self, cell: int) -> float:
        return self.drop_path.keep(cell)

    def _scheduled(self) -> ScheduledDropPath:
        if not isinstance(self.drop_path, ScheduledDropPath):
            raise TypeError(f"this network's drop path is {type(self.drop_path).__name__}, not ScheduledDropPath")
        return self.drop_path

    @contextmanager
    def no_drop_path(self) -> Iterator[None]:
        """Drop path off inside the block (BatchNorm recalibration), the policy restored after."""
        policy, self.drop_path = self.drop_path, DropPath()
        try:
            yield
        finally:
            self.drop_path = policy

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        regs = {"input": x}
        out = x
        for step, layer, free in zip(self.steps, self.layers, self._free, strict=True):
            out = layer(*(regs[r] for r in step.inputs))
            if step.drop_cell >= 0 and self.training:
                keep = self.drop_path.keep(step.drop_cell)
                if keep < 1.0:
                    out = drop_path(out, keep)
            for r in free:
                del regs[r]
            regs[step.output] = out
        return out
