"""Gradual magnitude pruning, the training schedule of Fast Sparse ConvNets.

Zhu & Gupta, "To prune, or not to prune" (2017): every ``frequency`` steps from ``begin`` to
``end`` each sparse layer's mask is recomputed by weight magnitude at the sparsity

    s_t = s_f + (s_i - s_f) * (1 - (t - begin) / (end - begin)) ** 3

where ``s_f`` is the layer's own target (its gene in the sparse space), ``s_i`` the initial
sparsity (0 by default) and ``t`` the last pruning step. Pruning goes by blocks of the layer's
block shape, pruned blocks never come back (they are first in line at every update), and from
``end`` on every layer holds exactly its target (`search_spaces.ops.sparse.pruned_entries`
entries pruned). Training computes with ``weight * mask``, so pruned weights get no gradient.

Use: ``pruner = GradualPruning(model, begin=..., end=..., frequency=...)`` resets the masks to
dense; call ``pruner.step(t)`` once per optimisation step (before the forward pass) and
``pruner.finalize()`` when training ends.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from core.errors import NasError
from search_spaces.ops.sparse import pruned_entries
from search_spaces.ops.sparse_modules import SparseWeight, sparse_layers


def scheduled_sparsity(step: int, final: float, *, begin: int, end: int, frequency: int, initial: float = 0.0) -> float:
    """The Zhu & Gupta sparsity at ``step`` for a layer whose target is ``final``."""
    if step < begin:
        return initial
    if step >= end:
        return final
    done = (step - begin) // frequency * frequency / (end - begin)  # share of the schedule at the last update
    return initial if done == 0 else final + (initial - final) * (1.0 - done) ** 3


@dataclass(frozen=True)
class LayerSparsity:
    """A sparse layer's target and its mask's actual pruned entries."""

    name: str
    target: float
    block: int
    pruned: int
    expected: int
    size: int

    @property
    def sparsity(self) -> float:
        return self.pruned / self.size


class GradualPruning:
    """Prunes every sparse layer of ``model`` to its target along the Zhu & Gupta schedule."""

    def __init__(
        self, model: nn.Module, *, begin: int, end: int, frequency: int = 100, initial_sparsity: float = 0.0
    ) -> None:
        if not 0 <= begin < end:
            raise NasError(f"pruning steps: need 0 <= begin < end, got begin={begin}, end={end}")
        if frequency < 1:
            raise NasError(f"pruning frequency must be at least 1 step, got {frequency}")
        if not 0.0 <= initial_sparsity < 1.0:
            raise NasError(f"initial_sparsity must be within [0, 1), got {initial_sparsity}")
        self.begin, self.end, self.frequency, self.initial = begin, end, frequency, initial_sparsity
        self.layers: list[tuple[str, SparseWeight]] = [(n, m) for n, m in sparse_layers(model) if m.sparsity > 0]
        self._current: dict[str, float] = {}
        for name, layer in self.layers:
            layer.reset_mask()
            self._apply(name, layer, min(initial_sparsity, layer.sparsity))

    def _apply(self, name: str, layer: SparseWeight, sparsity: float) -> None:
        if self._current.get(name) != sparsity:
            layer.prune_to(sparsity)
            self._current[name] = sparsity

    def sparsity_at(self, step: int, layer: SparseWeight) -> float:
        """The scheduled sparsity of ``layer`` at ``step``."""
        initial = min(self.initial, layer.sparsity)
        return scheduled_sparsity(
            step, layer.sparsity, begin=self.begin, end=self.end, frequency=self.frequency, initial=initial
        )

    def step(self, step: int) -> bool:
        """Bring every mask to its scheduled sparsity at ``step``; True when a mask changed."""
        before = dict(self._current)
        for name, layer in self.layers:
            self._apply(name, layer, self.sparsity_at(step, layer))
        return self._current != before

    @torch.no_grad()
    def finalize(self) -> list[LayerSparsity]:
        """Set every layer to its target, zero the pruned weights in the parameters themselves
        (so saved weights are sparse) and report each layer's sparsity."""
        for name, layer in self.layers:
            self._apply(name, layer, layer.sparsity)
            layer.weight.mul_(layer.mask)
        return report(self.layers)


def report(layers: list[tuple[str, SparseWeight]]) -> list[LayerSparsity]:
    """Target and actual pruned entries of each layer."""
    return [
        LayerSparsity(
            name,
            layer.sparsity,
            layer.block,
            layer.mask.numel() - layer.nonzeros(),
            pruned_entries(layer.rows, layer.cols, layer.sparsity, layer.block),
            layer.mask.numel(),
        )
        for name, layer in layers
    ]
