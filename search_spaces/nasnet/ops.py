"""NASNet operator kinds (Zoph et al., CVPR 2018), torch-free; their modules are in `modules`.

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
  concatenation (the shared `search_spaces.cells.steps.Combine`).
* ``nasnet_head``: ReLU -> global average pool -> dropout (``drop`` attr) -> linear.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from search_spaces.cells.steps import ADD, CONCAT
from search_spaces.cells.steps import bn_cost as _bn
from search_spaces.ops.spec import Cost, OpSpec, conv_out

if TYPE_CHECKING:
    from torch import nn


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
        from search_spaces.nasnet.modules import stem

        return stem(spec)


@dataclass(frozen=True)
class Conv:
    def hw_out(self, spec: OpSpec) -> int:
        return conv_out(spec.hw, spec.kernel, spec.stride, int(spec.attr("dil", 1)))

    def cost(self, spec: OpSpec) -> Cost:
        weights = spec.kernel**2 * spec.c_in * spec.c_out
        return Cost(weights, weights * self.hw_out(spec) ** 2) + _bn(spec.c_out)

    def build(self, spec: OpSpec) -> nn.Module:
        from search_spaces.nasnet.modules import relu_conv_bn

        return relu_conv_bn(spec)


@dataclass(frozen=True)
class ConvPair(Conv):
    def cost(self, spec: OpSpec) -> Cost:
        k, c_in, c_out, out = spec.kernel, spec.c_in, spec.c_out, self.hw_out(spec)
        first = k * c_in * c_out  # 1 x k, stride (1, s): output hw x out
        second = k * c_out * c_out  # k x 1, stride (s, 1): output out x out
        return Cost(first + second, first * spec.hw * out + second * out * out) + _bn(c_out)

    def build(self, spec: OpSpec) -> nn.Module:
        from search_spaces.nasnet.modules import conv_pair

        return conv_pair(spec)


@dataclass(frozen=True)
class SepConv(Conv):
    def cost(self, spec: OpSpec) -> Cost:
        k2, c_in, c_out, out2 = spec.kernel**2, spec.c_in, spec.c_out, self.hw_out(spec) ** 2
        first = Cost(k2 * c_in + c_in * c_out, (k2 * c_in + c_in * c_out) * out2) + _bn(c_out)
        second = Cost(k2 * c_out + c_out * c_out, (k2 * c_out + c_out * c_out) * out2) + _bn(c_out)
        return first + second

    def build(self, spec: OpSpec) -> nn.Module:
        from search_spaces.nasnet.modules import stacked_sep_conv

        return stacked_sep_conv(spec)


@dataclass(frozen=True)
class Pool(Conv):
    def cost(self, spec: OpSpec) -> Cost:
        if spec.c_in == spec.c_out:
            return Cost(0, 0)
        weights = spec.c_in * spec.c_out
        return Cost(weights, weights * self.hw_out(spec) ** 2) + _bn(spec.c_out)

    def build(self, spec: OpSpec) -> nn.Module:
        from search_spaces.nasnet.modules import pool

        return pool(spec)


@dataclass(frozen=True)
class Reduce:
    def hw_out(self, spec: OpSpec) -> int:
        return -(-spec.hw // spec.stride)

    def cost(self, spec: OpSpec) -> Cost:
        weights = spec.c_in * spec.c_out  # the two paths' 1x1 convs together
        return Cost(weights, weights * self.hw_out(spec) ** 2) + _bn(spec.c_out)

    def build(self, spec: OpSpec) -> nn.Module:
        from search_spaces.nasnet.modules import factorized_reduction

        return factorized_reduction(spec)


@dataclass(frozen=True)
class Head:
    def hw_out(self, spec: OpSpec) -> int:
        return 1

    def cost(self, spec: OpSpec) -> Cost:
        return Cost(spec.c_in * spec.c_out + spec.c_out, spec.c_in * spec.c_out)

    def build(self, spec: OpSpec) -> nn.Module:
        from search_spaces.nasnet.modules import head

        return head(spec)


STEM, CONV, CONV_PAIR, SEP, POOL, REDUCE, HEAD = Stem(), Conv(), ConvPair(), SepConv(), Pool(), Reduce(), Head()
__all__ = ["ADD", "CONCAT", "CONV", "CONV_PAIR", "HEAD", "POOL", "REDUCE", "SEP", "STEM"]
