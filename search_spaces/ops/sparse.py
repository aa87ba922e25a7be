"""Operator kinds of the sparse MobileNet space (Fast Sparse ConvNets, Elsen et al., CVPR 2020).

Torch-free: costs, output sizes and the sparsity bookkeeping; modules are in `sparse_modules`.

* ``mb_stem``: the first full k x k convolution -> BN -> ReLU6 (always dense, as in the paper);
* ``mb_depthwise``: depthwise k x k convolution -> BN -> ReLU6 (always dense);
* ``sparse_conv1x1``: 1x1 convolution -> BN (-> ReLU6 when ``act`` is ``relu6``), whose weight has
  ``sparsity`` of its entries pruned in blocks of ``block`` consecutive output channels;
* ``sparse_classifier``: global average pool -> dropout -> linear, optionally sparse likewise.

Sparsity, block and activation are ``attrs``, so they are part of the operator signature and a
latency table measures every sparse operator at every level.

**Counting.** `Cost` (what `OpSpec.cost` returns) counts a sparse layer *densely*: parameters
are the tensors of the built module (the full weight, pruned entries included) and MACs those of
the dense computation, so ``cost.params == sum(p.numel())`` and MACs agree with the flop counter
(which sees the dense convolution). `effective_cost` counts only the weights that survive
pruning (non-zeros) and the multiply-accumulates they take part in.

**Exact sparsity.** A (rows, cols) weight with block ``b`` is cut into ``rows // b`` row blocks
of ``b`` output channels per input channel, plus single entries for the ``rows % b`` last rows
(a "tail", pruned unstructured); exactly ``round(sparsity * n)`` of the ``n`` blocks of each part
are pruned (`pruned_entries`), the ones of least mean magnitude.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from search_spaces.ops.spec import Cost, OpSpec, conv_out

if TYPE_CHECKING:
    from torch import nn

BLOCKS = (1, 2, 4)
ACTIVATIONS = ("relu6", "none")
SPARSE_KINDS = ("sparse_conv1x1", "sparse_classifier")


def n_pruned(n: int, sparsity: float) -> int:
    """How many of ``n`` blocks a layer of ``sparsity`` prunes: round to nearest (halves up)."""
    if not 0.0 <= sparsity < 1.0:
        raise ValueError(f"sparsity must be within [0, 1), got {sparsity}")
    return math.floor(sparsity * n + 0.5)


def block_segments(rows: int, block: int) -> list[tuple[int, int, int]]:
    """``(first row, end row, block)`` parts of a weight with ``rows`` output channels: whole row
    blocks, then the tail rows (if any) with block 1."""
    full = rows - rows % block
    parts = [(0, full, block)] if full else []
    if full < rows:
        parts.append((full, rows, 1))
    return parts


def pruned_entries(rows: int, cols: int, sparsity: float, block: int) -> int:
    """Exact number of weight entries a (rows, cols) layer prunes."""
    return sum(n_pruned((end - start) // b * cols, sparsity) * b for start, end, b in block_segments(rows, block))


@dataclass(frozen=True)
class SparseSettings:
    """A sparse layer's attrs, validated."""

    sparsity: float
    block: int

    @classmethod
    def of(cls, spec: OpSpec) -> SparseSettings:
        sparsity, block = float(spec.attr("sparsity", 0.0)), int(spec.attr("block", 1))
        if not 0.0 <= sparsity < 1.0:
            raise ValueError(f"{spec.name or spec.kind}: sparsity {sparsity} must be within [0, 1)")
        if block not in BLOCKS:
            allowed = ", ".join(map(str, BLOCKS))
            raise ValueError(f"{spec.name or spec.kind}: block {block} is not allowed; allowed: {allowed}")
        return cls(sparsity, block)


def _act(spec: OpSpec) -> str:
    act = str(spec.attr("act", "relu6"))
    if act not in ACTIVATIONS:
        raise ValueError(f"{spec.name or spec.kind}: act {act!r} is not allowed; allowed: {', '.join(ACTIVATIONS)}")
    return act


@dataclass(frozen=True)
class Stem:
    """k x k full convolution -> BN -> ReLU6 (dense)."""

    def hw_out(self, spec: OpSpec) -> int:
        return conv_out(spec.hw, spec.kernel, spec.stride)

    def cost(self, spec: OpSpec) -> Cost:
        k2c = spec.kernel**2 * spec.c_in * spec.c_out
        return Cost(k2c + 2 * spec.c_out, k2c * self.hw_out(spec) ** 2)

    def build(self, spec: OpSpec) -> nn.Module:
        from search_spaces.ops.sparse_modules import stem

        return stem(spec)


@dataclass(frozen=True)
class Depthwise(Stem):
    """Depthwise k x k convolution -> BN -> ReLU6 (dense); ``c_in == c_out``."""

    def cost(self, spec: OpSpec) -> Cost:
        if spec.c_in != spec.c_out:
            raise ValueError(
                f"{spec.name or spec.kind}: a depthwise layer keeps its channels ({spec.c_in} != {spec.c_out})"
            )
        k2c = spec.kernel**2 * spec.c_in
        return Cost(k2c + 2 * spec.c_in, k2c * self.hw_out(spec) ** 2)

    def build(self, spec: OpSpec) -> nn.Module:
        from search_spaces.ops.sparse_modules import depthwise

        return depthwise(spec)


@dataclass(frozen=True)
class SparseConv1x1:
    """1x1 convolution (sparse weight) -> BN (-> ReLU6); stride 1."""

    def hw_out(self, spec: OpSpec) -> int:
        return spec.hw

    def cost(self, spec: OpSpec) -> Cost:
        SparseSettings.of(spec), _act(spec)
        if spec.kernel != 1 or spec.stride != 1:
            raise ValueError(f"{spec.name or spec.kind}: a sparse 1x1 layer has kernel 1 and stride 1")
        w = spec.c_in * spec.c_out
        return Cost(w + 2 * spec.c_out, w * spec.hw**2)

    def build(self, spec: OpSpec) -> nn.Module:
        from search_spaces.ops.sparse_modules import sparse_conv1x1

        return sparse_conv1x1(spec)


@dataclass(frozen=True)
class SparseClassifier:
    """Global average pool -> dropout (``drop``) -> linear with bias (sparse weight)."""

    def hw_out(self, spec: OpSpec) -> int:
        return 1

    def cost(self, spec: OpSpec) -> Cost:
        SparseSettings.of(spec)
        return Cost(spec.c_in * spec.c_out + spec.c_out, spec.c_in * spec.c_out)

    def build(self, spec: OpSpec) -> nn.Module:
        from search_spaces.ops.sparse_modules import sparse_classifier

        return sparse_classifier(spec)


MB_STEM, MB_DEPTHWISE, SPARSE_CONV1X1, SPARSE_CLASSIFIER = Stem(), Depthwise(), SparseConv1x1(), SparseClassifier()


def effective_cost(op: OpSpec) -> Cost:
    """Non-zero parameters and the MACs they take part in (dense layers: their `Cost`)."""
    cost = op.cost()
    if op.kind not in SPARSE_KINDS:
        return cost
    settings = SparseSettings.of(op)
    pruned = pruned_entries(op.c_out, op.c_in, settings.sparsity, settings.block)
    pixels = op.hw**2 if op.kind == "sparse_conv1x1" else 1
    return Cost(cost.params - pruned, cost.macs - pruned * pixels)


def total_effective_cost(ops: Iterable[OpSpec]) -> Cost:
    """Sum of `effective_cost` over a network's layers."""
    total = Cost(0, 0)
    for op in ops:
        total = total + effective_cost(op)
    return total
