"""NAS-Bench-201 operator kinds, torch-free; their modules are in `search_spaces.nb201.modules`.

Each kind reproduces the benchmark's reference code (``xautodl`` ``cell_operations`` and
``TinyNetwork``), so parameter counts match the published ones exactly: convolutions have no
bias, every BatchNorm is affine, a cell operation's conv is ReLU -> conv -> BN.

* ``nb201_stem``: 3x3 conv (stride 1) -> BN.
* ``nb201_edge``: one cell edge; the ``op`` attr is one of ``none`` (output zero: the reference
  multiplies its input by 0), ``skip_connect`` (identity), ``nor_conv_1x1`` / ``nor_conv_3x3``
  (ReLU -> conv -> BN) and ``avg_pool_3x3`` (stride 1, padding excluded from the average).
* ``nb201_resblock``: the residual reduction block between stages: ReLU-conv3x3(stride 2)-BN,
  ReLU-conv3x3-BN, plus a shortcut 2x2 average pool (stride 2) -> 1x1 conv.
* ``nb201_head``: BN -> ReLU -> global average pool -> linear.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from search_spaces.ops.spec import Cost, OpSpec, conv_out

if TYPE_CHECKING:
    from torch import nn

EDGE_OPS: tuple[str, ...] = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
EDGE_KERNELS = {"none": 1, "skip_connect": 1, "nor_conv_1x1": 1, "nor_conv_3x3": 3, "avg_pool_3x3": 3}
CONV_OPS = ("nor_conv_1x1", "nor_conv_3x3")


def _conv_bn(c_in: int, c_out: int, kernel: int, hw_out: int) -> Cost:
    weights = kernel**2 * c_in * c_out
    return Cost(weights + 2 * c_out, weights * hw_out**2)


@dataclass(frozen=True)
class Stem:
    def hw_out(self, spec: OpSpec) -> int:
        return spec.hw

    def cost(self, spec: OpSpec) -> Cost:
        return _conv_bn(spec.c_in, spec.c_out, spec.kernel, spec.hw)

    def build(self, spec: OpSpec) -> nn.Module:
        from search_spaces.nb201.modules import stem

        return stem(spec)


@dataclass(frozen=True)
class Edge:
    def hw_out(self, spec: OpSpec) -> int:
        return spec.hw

    def cost(self, spec: OpSpec) -> Cost:
        op = str(spec.attr("op", ""))
        if op not in EDGE_OPS:
            raise ValueError(f"nb201_edge op {op!r} is not allowed; allowed: {', '.join(EDGE_OPS)}")
        if op in CONV_OPS:
            return _conv_bn(spec.c_in, spec.c_out, spec.kernel, spec.hw)
        return Cost(0, 0)

    def build(self, spec: OpSpec) -> nn.Module:
        from search_spaces.nb201.modules import edge

        return edge(spec)


@dataclass(frozen=True)
class ResBlock:
    def hw_out(self, spec: OpSpec) -> int:
        return conv_out(spec.hw, 3, spec.stride)

    def cost(self, spec: OpSpec) -> Cost:
        out = self.hw_out(spec)
        conv_a = _conv_bn(spec.c_in, spec.c_out, 3, out)
        conv_b = _conv_bn(spec.c_out, spec.c_out, 3, out)
        shortcut = Cost(spec.c_in * spec.c_out, spec.c_in * spec.c_out * out**2)
        return conv_a + conv_b + shortcut

    def build(self, spec: OpSpec) -> nn.Module:
        from search_spaces.nb201.modules import ResNetBlock

        return ResNetBlock(spec.c_in, spec.c_out, spec.stride)


@dataclass(frozen=True)
class Head:
    def hw_out(self, spec: OpSpec) -> int:
        return 1

    def cost(self, spec: OpSpec) -> Cost:
        return Cost(2 * spec.c_in + spec.c_in * spec.c_out + spec.c_out, spec.c_in * spec.c_out)

    def build(self, spec: OpSpec) -> nn.Module:
        from search_spaces.nb201.modules import head

        return head(spec)


STEM, EDGE, RESBLOCK, HEAD = Stem(), Edge(), ResBlock(), Head()
