"""Torch modules of the DASS operator kinds (`search_spaces.dass.ops`); the network wiring them as
a DAG of cells is the shared `search_spaces.cells.network.CellNetwork`.

Every convolution and the classifier are sparse layers (`SparseWeight`: a full weight and a 0/1
mask buffer, computing with ``weight * mask``), so gradual magnitude pruning
(`evaluators.pruning`) and the dense export (`sparse_modules.to_dense`) work on them as on the
sparse MobileNets. 1x1 convolutions and the classifier are `SparseConv1x1`/`SparseLinear`, whose
CPU inference uses the measured-fastest sparse kernel; k x k (depthwise and stem) convolutions
are `SparseConvKxK`, computed densely with the masked weight. A freshly built layer is pruned to
its ``sparsity`` by weight magnitude (so latency is measured on the sparse network).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from search_spaces.dass.ops import DILATION, sparsity_of
from search_spaces.ops.sparse_modules import SparseConv1x1, SparseLinear, SparseWeight
from search_spaces.ops.spec import OpSpec


class SparseConvKxK(SparseWeight):
    """k x k convolution (no bias, 'same' padding, optional dilation and groups) with an
    unstructured mask over its whole weight."""

    def __init__(
        self,
        c_in: int,
        c_out: int,
        kernel: int,
        *,
        stride: int = 1,
        dilation: int = 1,
        groups: int = 1,
        sparsity: float,
    ) -> None:
        shape = (c_out, c_in // groups, kernel, kernel)
        super().__init__(c_out, c_in // groups * kernel * kernel, shape, sparsity=sparsity, block=1)
        self.stride, self.dilation, self.groups = stride, dilation, groups
        self.padding = dilation * (kernel // 2)
        nn.init.kaiming_normal_(self.weight, mode="fan_out", nonlinearity="relu")
        self.prune_to(sparsity)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.masked_weight(), None, self.stride, self.padding, self.dilation, self.groups)

    def to_dense(self) -> nn.Conv2d:
        c_out, c_in_g, k, _ = self.weight.shape
        conv = nn.Conv2d(c_in_g * self.groups, c_out, k, self.stride, self.padding, self.dilation, self.groups, False)
        conv.weight.data.copy_(self.masked_weight().detach())
        return conv


def _pointwise(c_in: int, c_out: int, s: float) -> SparseConv1x1:
    return SparseConv1x1(c_in, c_out, sparsity=s, block=1)


def _depthwise(c: int, kernel: int, stride: int, s: float, dilation: int = 1) -> SparseConvKxK:
    return SparseConvKxK(c, c, kernel, stride=stride, dilation=dilation, groups=c, sparsity=s)


def stem(spec: OpSpec) -> nn.Sequential:
    conv = SparseConvKxK(spec.c_in, spec.c_out, spec.kernel, stride=spec.stride, sparsity=sparsity_of(spec))
    return nn.Sequential(conv, nn.BatchNorm2d(spec.c_out))


def relu_conv_bn(spec: OpSpec) -> nn.Sequential:
    # Not in place: a state feeds several operations.
    return nn.Sequential(nn.ReLU(), _pointwise(spec.c_in, spec.c_out, sparsity_of(spec)), nn.BatchNorm2d(spec.c_out))


class FactorizedReduce(nn.Module):
    """ReLU, then 1x1 convs on the even pixels and on the odd (shifted) ones, concatenated, BN.

    The reference samples the odd grid with a stride-2 conv on ``x[:, :, 1:, 1:]``; the zero
    padding of the shifted tensor gives the same result on even sizes and a matching shape on odd
    ones (where the reference fails to concatenate)."""

    def __init__(self, c_in: int, c_out: int, *, sparsity: float) -> None:
        super().__init__()
        self.conv_1 = _pointwise(c_in, c_out // 2, sparsity)
        self.conv_2 = _pointwise(c_in, c_out - c_out // 2, sparsity)
        self.bn = nn.BatchNorm2d(c_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(x)
        shifted = F.pad(x[:, :, 1:, 1:], (0, 1, 0, 1))
        return self.bn(torch.cat([self.conv_1(x[:, :, ::2, ::2]), self.conv_2(shifted[:, :, ::2, ::2])], 1))


def factorized_reduce(spec: OpSpec) -> FactorizedReduce:
    return FactorizedReduce(spec.c_in, spec.c_out, sparsity=sparsity_of(spec))


def sep_conv(spec: OpSpec) -> nn.Sequential:
    c, k, s = spec.c_in, spec.kernel, sparsity_of(spec)
    return nn.Sequential(
        nn.ReLU(),
        _depthwise(c, k, spec.stride, s),
        _pointwise(c, c, s),
        nn.BatchNorm2d(c),
        nn.ReLU(),
        _depthwise(c, k, 1, s),
        _pointwise(c, spec.c_out, s),
        nn.BatchNorm2d(spec.c_out),
    )


def dil_conv(spec: OpSpec) -> nn.Sequential:
    c, s = spec.c_in, sparsity_of(spec)
    return nn.Sequential(
        nn.ReLU(),
        _depthwise(c, spec.kernel, spec.stride, s, DILATION),
        _pointwise(c, spec.c_out, s),
        nn.BatchNorm2d(spec.c_out),
    )


def pool(spec: OpSpec) -> nn.Module:
    if spec.attr("pool", "max") == "avg":
        return nn.AvgPool2d(spec.kernel, spec.stride, spec.kernel // 2, count_include_pad=False)
    return nn.MaxPool2d(spec.kernel, spec.stride, spec.kernel // 2)


def head(spec: OpSpec) -> nn.Sequential:
    linear = SparseLinear(spec.c_in, spec.c_out, sparsity=sparsity_of(spec), block=1)
    return nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(1), linear)
