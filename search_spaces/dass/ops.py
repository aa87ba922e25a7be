"""DARTS operator kinds with the DASS sparse weights, torch-free; their modules are in `modules`.

Each kind reproduces the DARTS reference implementation (``quark0/darts``, ``cnn/operations.py``
and ``cnn/model.py``, evaluation network), so parameter counts match it exactly: convolutions
have no bias, every BatchNorm is affine, an operation on a cell state starts with a ReLU. DASS
(Mousavi et al.) replaces every convolution by a SparseConv and the classifier by a SparseLinear
(the authors' code passes its ``conv_layer``/``linear_layer`` to all of them, stem and
preprocessing included); here that is the ``sparsity`` attr: the share of each such layer's
weights that its mask prunes (0: dense).

* ``dass_stem``: k x k conv -> BN (the CIFAR stem: 3x3, 3C channels, stride 1).
* ``dass_conv1x1``: ReLU -> 1x1 conv -> BN (``ReLUConvBN``: the cells' input preprocessing).
* ``dass_reduce``: ReLU -> 1x1 convs on the even and on the odd pixel grid, concatenated -> BN
  (``FactorizedReduce``: preprocessing after a reduction cell, and ``skip_connect`` at stride 2).
* ``dass_sep``: [ReLU -> depthwise k x k -> 1x1 -> BN] twice, the first with the stride
  (``SepConv``; its first 1x1 keeps ``c_in`` channels, as in the reference).
* ``dass_dil``: ReLU -> depthwise k x k dilated by 2 -> 1x1 -> BN (``DilConv``).
* ``dass_pool``: 3x3 max or average pool (``pool`` attr; average excludes the padding).
* ``dass_add`` / ``dass_concat``: a node's sum, the cell output's concatenation (the shared
  `search_spaces.cells.steps.Combine`).
* ``dass_head``: global average pool -> linear with bias (no dropout, no ReLU: DARTS's classifier).

Counting follows `search_spaces.ops.sparse`: `Cost` counts sparse layers densely (what the built
module holds and the flop counter sees); `effective_cost` counts the weights a mask keeps and the
multiply-accumulates they take part in.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from search_spaces.cells.steps import ADD, CONCAT, bn_cost
from search_spaces.ops.kinds import OP_KINDS
from search_spaces.ops.sparse import n_pruned
from search_spaces.ops.spec import Cost, OpSpec, conv_out

if TYPE_CHECKING:
    from torch import nn

DILATION = 2  # DARTS's dil_conv_3x3 / dil_conv_5x5


def sparsity_of(spec: OpSpec) -> float:
    """The ``sparsity`` attr, validated."""
    s = float(spec.attr("sparsity", 0.0))
    if not 0.0 <= s < 1.0:
        raise ValueError(f"{spec.name or spec.kind}: sparsity {s} must be within [0, 1)")
    return s


@dataclass(frozen=True)
class _Kind:
    """A weight-bearing kind: its cost is its sparse weights plus BatchNorms (or a bias).
    ``builder`` names its module's builder in `search_spaces.dass.modules`."""

    builder: str

    def hw_out(self, spec: OpSpec) -> int:
        return conv_out(spec.hw, spec.kernel, spec.stride)

    def weights(self, spec: OpSpec) -> list[tuple[int, int]]:
        """(entries, output pixels) of each sparse weight tensor the operator holds."""
        return [(spec.c_in * spec.c_out, self.hw_out(spec) ** 2)]

    def extra(self, spec: OpSpec) -> Cost:
        return bn_cost(spec.c_out)

    def cost(self, spec: OpSpec) -> Cost:
        sparsity_of(spec)
        total = self.extra(spec)
        for entries, pixels in self.weights(spec):
            total = total + Cost(entries, entries * pixels)
        return total

    def build(self, spec: OpSpec) -> nn.Module:
        from search_spaces.dass import modules

        return getattr(modules, self.builder)(spec)  # type: ignore[no-any-return]


@dataclass(frozen=True)
class Stem(_Kind):
    def weights(self, spec: OpSpec) -> list[tuple[int, int]]:
        return [(spec.kernel**2 * spec.c_in * spec.c_out, self.hw_out(spec) ** 2)]


@dataclass(frozen=True)
class Reduce(_Kind):
    def hw_out(self, spec: OpSpec) -> int:
        return -(-spec.hw // 2)

    def weights(self, spec: OpSpec) -> list[tuple[int, int]]:
        half, out2 = spec.c_out // 2, self.hw_out(spec) ** 2
        return [(spec.c_in * half, out2), (spec.c_in * (spec.c_out - half), out2)]


@dataclass(frozen=True)
class Sep(_Kind):
    def weights(self, spec: OpSpec) -> list[tuple[int, int]]:
        k2, c_in, out2 = spec.kernel**2, spec.c_in, self.hw_out(spec) ** 2
        return [(k2 * c_in, out2), (c_in * c_in, out2), (k2 * c_in, out2), (c_in * spec.c_out, out2)]

    def extra(self, spec: OpSpec) -> Cost:
        return bn_cost(spec.c_in) + bn_cost(spec.c_out)


@dataclass(frozen=True)
class Dil(_Kind):
    def hw_out(self, spec: OpSpec) -> int:
        return conv_out(spec.hw, spec.kernel, spec.stride, DILATION)

    def weights(self, spec: OpSpec) -> list[tuple[int, int]]:
        out2 = self.hw_out(spec) ** 2
        return [(spec.kernel**2 * spec.c_in, out2), (spec.c_in * spec.c_out, out2)]


@dataclass(frozen=True)
class Pool(_Kind):
    def weights(self, spec: OpSpec) -> list[tuple[int, int]]:
        return []

    def cost(self, spec: OpSpec) -> Cost:
        if spec.c_in != spec.c_out:
            raise ValueError(f"{spec.name or spec.kind}: a pool keeps its channels ({spec.c_in} != {spec.c_out})")
        if spec.attr("pool", "max") not in ("max", "avg"):
            raise ValueError(f"{spec.name or spec.kind}: pool must be max or avg, got {spec.attr('pool', '')!r}")
        return Cost(0, 0)


@dataclass(frozen=True)
class Head(_Kind):
    def hw_out(self, spec: OpSpec) -> int:
        return 1

    def weights(self, spec: OpSpec) -> list[tuple[int, int]]:
        return [(spec.c_in * spec.c_out, 1)]

    def extra(self, spec: OpSpec) -> Cost:
        return Cost(spec.c_out, 0)  # the bias


STEM, CONV1X1, REDUCE = Stem("stem"), _Kind("relu_conv_bn"), Reduce("factorized_reduce")
SEP, DIL, POOL, HEAD = Sep("sep_conv"), Dil("dil_conv"), Pool("pool"), Head("head")
__all__ = ["ADD", "CONCAT", "CONV1X1", "DIL", "HEAD", "POOL", "REDUCE", "SEP", "STEM"]


def effective_cost(spec: OpSpec) -> Cost:
    """Weights the masks keep (plus BatchNorm/bias parameters) and the MACs they take part in."""
    cost = spec.cost()
    kind = OP_KINDS.get(spec.kind)
    if not isinstance(kind, _Kind):
        return cost
    s = sparsity_of(spec)
    pruned = [(n_pruned(entries, s), pixels) for entries, pixels in kind.weights(spec)]
    return Cost(cost.params - sum(p for p, _ in pruned), cost.macs - sum(p * px for p, px in pruned))


def total_effective_cost(ops: Iterable[OpSpec]) -> Cost:
    """Sum of `effective_cost` over a network's layers."""
    total = Cost(0, 0)
    for op in ops:
        total = total + effective_cost(op)
    return total
