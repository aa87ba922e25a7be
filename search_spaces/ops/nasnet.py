"""NASNet operator kinds (Zoph et al., CVPR 2018), torch-free; their modules are in `nasnet_modules`.

Each kind reproduces the reference implementation (TF-slim ``nets/nasnet``), so parameter
counts match it exactly: convolutions have no bias, every BatchNorm is affine, and a conv
applied to a cell state is preceded by a ReLU (ReLU-conv-BN order).

* ``nasnet_stem``: 3x3 conv -> BN (``pad`` attr: ``valid`` with stride 2 for ImageNet,
  ``same`` with stride 1 for CIFAR).
* ``nasnet_conv``: ReLU -> k x k conv (``dil`` attr: dilation) -> BN. Cell input 1x1s, strided
  identities, the 1x1, 3x3 and dilated 3x3 operations.
* ``nasnet_conv_pair``: ReLU -> 1 x k conv -> k x 1 conv -> BN (the 1x3/3x1 and 1x7/7x1 ops).
* ``nasnet_sep``: [ReLU -> depthwise k x k -> pointwise 1x1 -> BN] twice, the first with the
  stride and the width change (the reference's stacked separable conv).
* ``nasnet_pool``: k x k max/avg pool (``pool`` attr; average excludes padding), then 1x1 conv
  -> BN when the width changes.
* ``nasnet_reduce``: the factorized reduction: (``relu`` attr) -> two 1x1 convs on the input
  sampled at stride 2, one shifted by a pixel, concatenated -> BN; at stride 1 a 1x1 conv -> BN.
* ``nasnet_add`` / ``nasnet_concat``: combine two block outputs by addition / the cell states by
  concatenation (no parameters; listed so latency tables can time them).
* ``nasnet_head``: ReLU -> global average pool -> dropout (``drop`` attr) -> linear.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from search_spaces.ops.spec import Cost, OpSpec, conv_out

if TYPE_CHECKING:
    from torch import nn


@dataclass(frozen=True)
class Step:
    """One operator of a NASNet network and its wiring: ``spec`` reads the registers ``inputs``
    (``"input"`` is the image batch) and writes ``output``. ``drop_cell`` >= 0 marks an
    operation inside cell number ``drop_cell``, where ScheduledDropPath applies."""

    spec: OpSpec
    inputs: tuple[str, ...]
    output: str
    drop_cell: int = -1


def _bn(c: int) -> Cost:
    return Cost(2 * c, 0)


@dataclass(frozen=True)
class Stem:
    def hw_out(self, spec: OpSpec) -> int:
        if spec.attr("pad", "same") == "valid":
            return (spec.hw - spec.kernel) // spec.stride + 1
        return conv_out(spec.hw, spec.kernel, spec.stride)

    def cost(self, spec: OpSpec) -> Cost:
        weights = spec.kernel**2 * spec.c_in * spec.c_out
        return Cost(weights, weights * self.hw_out(spec) ** 2) + _bn(spec.c_out)

    def build(self, spec: OpSpec) -> nn.Module:
        from search_spaces.ops.nasnet_modules import stem

        return stem(spec)


@dataclass(frozen=True)
class Conv:
    def hw_out(self, spec: OpSpec) -> int:
        return conv_out(spec.hw, spec.kernel, spec.stride, int(spec.attr("dil", 1)))

    def cost(self, spec: OpSpec) -> Cost:
        weights = spec.kernel**2 * spec.c_in * spec.c_out
        return Cost(weights, weights * self.hw_out(spec) ** 2) + _bn(spec.c_out)

    def build(self, spec: OpSpec) -> nn.Module:
        from search_spaces.ops.nasnet_modules import relu_conv_bn

        return relu_conv_bn(spec)


@dataclass(frozen=True)
class ConvPair(Conv):
    def cost(self, spec: OpSpec) -> Cost:
        k, c_in, c_out, out = spec.kernel, spec.c_in, spec.c_out, self.hw_out(spec)
        first = k * c_in * c_out  # 1 x k, stride (1, s): output hw x out
        second = k * c_out * c_out  # k x 1, stride (s, 1): output out x out
        return Cost(first + second, first * spec.hw * out + second * out * out) + _bn(c_out)

    def build(self, spec: OpSpec) -> nn.Module:
        from search_spaces.ops.nasnet_modules import conv_pair

        return conv_pair(spec)


@dataclass(frozen=True)
class SepConv(Conv):
    def cost(self, spec: OpSpec) -> Cost:
        k2, c_in, c_out, out2 = spec.kernel**2, spec.c_in, spec.c_out, self.hw_out(spec) ** 2
        first = Cost(k2 * c_in + c_in * c_out, (k2 * c_in + c_in * c_out) * out2) + _bn(c_out)
        second = Cost(k2 * c_out + c_out * c_out, (k2 * c_out + c_out * c_out) * out2) + _bn(c_out)
        return first + second

    def build(self, spec: OpSpec) -> nn.Module:
        from search_spaces.ops.nasnet_modules import stacked_sep_conv

        return stacked_sep_conv(spec)


@dataclass(frozen=True)
class Pool(Conv):
    def cost(self, spec: OpSpec) -> Cost:
        if spec.c_in == spec.c_out:
            return Cost(0, 0)
        weights = spec.c_in * spec.c_out
        return Cost(weights, weights * self.hw_out(spec) ** 2) + _bn(spec.c_out)

    def build(self, spec: OpSpec) -> nn.Module:
        from search_spaces.ops.nasnet_modules import pool

        return pool(spec)


@dataclass(frozen=True)
class Reduce:
    def hw_out(self, spec: OpSpec) -> int:
        return -(-spec.hw // spec.stride)

    def cost(self, spec: OpSpec) -> Cost:
        weights = spec.c_in * spec.c_out  # the two paths' 1x1 convs together
        return Cost(weights, weights * self.hw_out(spec) ** 2) + _bn(spec.c_out)

    def build(self, spec: OpSpec) -> nn.Module:
        from search_spaces.ops.nasnet_modules import factorized_reduction

        return factorized_reduction(spec)


@dataclass(frozen=True)
class Combine:
    """Parameter-free: ``nasnet_add`` (c_in = c_out) and ``nasnet_concat`` (c_out parts of c_in)."""

    def hw_out(self, spec: OpSpec) -> int:
        return spec.hw

    def cost(self, spec: OpSpec) -> Cost:
        return Cost(0, 0)

    def build(self, spec: OpSpec) -> nn.Module:
        from search_spaces.ops.nasnet_modules import Add, Concat

        return Add() if spec.kind == "nasnet_add" else Concat(spec.c_in, spec.c_out)


@dataclass(frozen=True)
class Head:
    def hw_out(self, spec: OpSpec) -> int:
        return 1

    def cost(self, spec: OpSpec) -> Cost:
        return Cost(spec.c_in * spec.c_out + spec.c_out, spec.c_in * spec.c_out)

    def build(self, spec: OpSpec) -> nn.Module:
        from search_spaces.ops.nasnet_modules import head

        return head(spec)


STEM, CONV, CONV_PAIR, SEP, POOL, REDUCE, COMBINE, HEAD = (
    Stem(),
    Conv(),
    ConvPair(),
    SepConv(),
    Pool(),
    Reduce(),
    Combine(),
    Head(),
)
