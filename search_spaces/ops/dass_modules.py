"""Torch modules of the DASS operator kinds, and the network that wires them as a DAG of cells.

Every convolution and the classifier are sparse layers (`SparseWeight`: a full weight and a 0/1
mask buffer, computing with ``weight * mask``), so gradual magnitude pruning
(`evaluators.pruning`) and the dense export (`sparse_modules.to_dense`) work on them as on the
sparse MobileNets. 1x1 convolutions and the classifier are `SparseConv1x1`/`SparseLinear`, whose
CPU inference uses the measured-fastest sparse kernel; k x k (depthwise and stem) convolutions
are `SparseConvKxK`, computed densely with the masked weight. A freshly built layer is pruned to
its ``sparsity`` by weight magnitude (so latency is measured on the sparse network).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from search_spaces.ops.dass import DILATION, Step, sparsity_of
from search_spaces.ops.modules import build_op
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


class Add(nn.Module):
    """Sum of two inputs (one input alone is added to itself, for timing in isolation)."""

    def forward(self, *xs: torch.Tensor) -> torch.Tensor:
        a, b = (xs[0], xs[0]) if len(xs) == 1 else xs
        return a + b


class Concat(nn.Module):
    """Channel concatenation into ``c_out`` channels (one input alone is repeated, for timing)."""

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.parts = c_out // c_in

    def forward(self, *xs: torch.Tensor) -> torch.Tensor:
        return torch.cat(xs * self.parts if len(xs) == 1 else xs, 1)


def head(spec: OpSpec) -> nn.Sequential:
    linear = SparseLinear(spec.c_in, spec.c_out, sparsity=sparsity_of(spec), block=1)
    return nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(1), linear)


BUILDERS: dict[str, Callable[[OpSpec], nn.Module]] = {
    "dass_stem": stem,
    "dass_conv1x1": relu_conv_bn,
    "dass_reduce": factorized_reduce,
    "dass_sep": sep_conv,
    "dass_dil": dil_conv,
    "dass_pool": pool,
    "dass_add": lambda spec: Add(),
    "dass_concat": lambda spec: Concat(spec.c_in, spec.c_out),
    "dass_head": head,
}


def drop_path(x: torch.Tensor, drop: float) -> torch.Tensor:
    """Zero whole samples with probability ``drop``, scaling the kept ones (DARTS ``utils.drop_path``)."""
    keep = 1.0 - drop
    mask = torch.empty(x.shape[0], 1, 1, 1, dtype=x.dtype, device=x.device).bernoulli_(keep)
    return x * mask / keep


class DassNetwork(nn.Module):
    """Runs ``steps`` in order over named registers (``"input"`` holds the image batch); the last
    step's output is the result. ``specs`` keeps the op list the model was built from.

    ``drop_path_prob`` (0 by default; DARTS trains with 0.2 rising linearly over the epochs) drops
    the output of every cell operation except identities, per sample, in training mode only."""

    def __init__(self, steps: Sequence[Step]) -> None:
        super().__init__()
        self.steps = tuple(steps)
        self.specs = tuple(s.spec for s in self.steps)
        self.layers = nn.ModuleList(build_op(s.spec) for s in self.steps)
        self.drop_path_prob = 0.0
        last_use: dict[str, int] = {}
        for i, step in enumerate(self.steps):
            last_use.update(dict.fromkeys(step.inputs, i))
        self._free = [[r for r in dict.fromkeys(s.inputs) if last_use[r] == i] for i, s in enumerate(self.steps)]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        regs = {"input": x}
        out = x
        for step, layer, free in zip(self.steps, self.layers, self._free, strict=True):
            out = layer(*(regs[r] for r in step.inputs))
            if step.cell_op and self.training and self.drop_path_prob > 0.0:
                out = drop_path(out, self.drop_path_prob)
            for r in free:
                del regs[r]
            regs[step.output] = out
        return out
