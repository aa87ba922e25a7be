"""DARTS operator kinds with the DASS sparse weights, torch-free; their modules are in `dass_modules`.

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
* ``dass_add`` / ``dass_concat``: a node's sum, the cell output's concatenation (no parameters;
  listed so that latency tables time them).
* ``dass_head``: global average pool -> linear with bias (no dropout, no ReLU: DARTS's classifier).

Counting follows `search_spaces.ops.sparse`: `Cost` counts sparse layers densely (what the built
module holds and the flop counter sees); `effective_cost` counts the weights a mask keeps and the
multiply-accumulates they take part in.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from search_spaces.ops.sparse import n_pruned
from search_spaces.ops.spec import Cost, OpSpec, conv_out

if TYPE_CHECKING:
    from torch import nn

DILATION = 2  # DARTS's dil_conv_3x3 / dil_conv_5x5


@dataclass(frozen=True)
class Step:
    """One operator of a network and its wiring: ``spec`` reads the registers ``inputs``
    (``"input"`` is the image batch) and writes ``output``; ``cell_op`` marks an operation inside
    a cell (where drop path may apply)."""

    spec: OpSpec
    inputs: tuple[str, ...]
    output: str
    cell_op: bool = False


def sparsity_of(spec: OpSpec) -> float:
    """The ``sparsity`` attr, validated."""
    s = float(spec.attr("sparsity", 0.0))
    if not 0.0 <= s < 1.0:
        raise ValueError(f"{spec.name or spec.kind}: sparsity {s} must be within [0, 1)")
    return s


def _bn(c: int) -> Cost:
    return Cost(2 * c, 0)


def weights(spec: OpSpec) -> list[tuple[int, int]]:
    """(entries, output pixels) of each sparse weight tensor the operator holds."""
    out2 = _KINDS[spec.kind].hw_out(spec) ** 2
    k2, c_in, c_out = spec.kernel**2, spec.c_in, spec.c_out
    if spec.kind == "dass_stem":
        return [(k2 * c_in * c_out, out2)]
    if spec.kind == "dass_conv1x1":
        return [(c_in * c_out, out2)]
    if spec.kind == "dass_reduce":
        half = c_out // 2
        return [(c_in * half, out2), (c_in * (c_out - half), out2)]
    if spec.kind == "dass_sep":
        return [(k2 * c_in, out2), (c_in * c_in, out2), (k2 * c_in, out2), (c_in * c_out, out2)]
    if spec.kind == "dass_dil":
        return [(k2 * c_in, out2), (c_in * c_out, out2)]
    if spec.kind == "dass_head":
        return [(c_in * c_out, 1)]
    return []


@dataclass(frozen=True)
class _Kind:
    """Shared by the weight-bearing kinds: the cost is the weights plus BatchNorms (or a bias)."""

    def hw_out(self, spec: OpSpec) -> int:
        return conv_out(spec.hw, spec.kernel, spec.stride)

    def extra(self, spec: OpSpec) -> Cost:
        return _bn(spec.c_out)

    def cost(self, spec: OpSpec) -> Cost:
        sparsity_of(spec)
        total = self.extra(spec)
        for entries, pixels in weights(spec):
            total = total + Cost(entries, entries * pixels)
        return total

    def build(self, spec: OpSpec) -> nn.Module:
        from search_spaces.ops import dass_modules

        return dass_modules.BUILDERS[spec.kind](spec)


@dataclass(frozen=True)
class Reduce(_Kind):
    def hw_out(self, spec: OpSpec) -> int:
        return -(-spec.hw // 2)


@dataclass(frozen=True)
class Sep(_Kind):
    def extra(self, spec: OpSpec) -> Cost:
        return _bn(spec.c_in) + _bn(spec.c_out)


@dataclass(frozen=True)
class Dil(_Kind):
    def hw_out(self, spec: OpSpec) -> int:
        return conv_out(spec.hw, spec.kernel, spec.stride, DILATION)


@dataclass(frozen=True)
class Pool(_Kind):
    def cost(self, spec: OpSpec) -> Cost:
        if spec.c_in != spec.c_out:
            raise ValueError(f"{spec.name or spec.kind}: a pool keeps its channels ({spec.c_in} != {spec.c_out})")
        if spec.attr("pool", "max") not in ("max", "avg"):
            raise ValueError(f"{spec.name or spec.kind}: pool must be max or avg, got {spec.attr('pool', '')!r}")
        return Cost(0, 0)


@dataclass(frozen=True)
class Combine(_Kind):
    """``dass_add`` (c_in = c_out) and ``dass_concat`` (c_out channels from parts of c_in)."""

    def hw_out(self, spec: OpSpec) -> int:
        return spec.hw

    def cost(self, spec: OpSpec) -> Cost:
        return Cost(0, 0)


@dataclass(frozen=True)
class Head(_Kind):
    def hw_out(self, spec: OpSpec) -> int:
        return 1

    def extra(self, spec: OpSpec) -> Cost:
        return Cost(spec.c_out, 0)  # the bias


STEM, CONV1X1, REDUCE, SEP, DIL, POOL, COMBINE, HEAD = (
    _Kind(),
    _Kind(),
    Reduce(),
    Sep(),
    Dil(),
    Pool(),
    Combine(),
    Head(),
)
_KINDS: dict[str, _Kind] = {
    "dass_stem": STEM,
    "dass_conv1x1": CONV1X1,
    "dass_reduce": REDUCE,
    "dass_sep": SEP,
    "dass_dil": DIL,
    "dass_pool": POOL,
    "dass_add": COMBINE,
    "dass_concat": COMBINE,
    "dass_head": HEAD,
}


def effective_cost(spec: OpSpec) -> Cost:
    """Weights the masks keep (plus BatchNorm/bias parameters) and the MACs they take part in."""
    cost = spec.cost()
    if spec.kind not in _KINDS:
        return cost
    s = sparsity_of(spec)
    pruned = [(n_pruned(entries, s), pixels) for entries, pixels in weights(spec)]
    return Cost(cost.params - sum(p for p, _ in pruned), cost.macs - sum(p * px for p, px in pruned))


def total_effective_cost(ops: Iterable[OpSpec]) -> Cost:
    """Sum of `effective_cost` over a network's layers."""
    total = Cost(0, 0)
    for op in ops:
        total = total + effective_cost(op)
    return total
