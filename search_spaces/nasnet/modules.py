"""Torch modules of the NASNet operator kinds (`search_spaces.nasnet.ops`).

The network wiring them as a DAG of cells, with ScheduledDropPath, is the shared
`search_spaces.cells.network.CellNetwork`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from search_spaces.ops.spec import OpSpec


def _conv(
    c_in: int, c_out: int, kernel: int | tuple[int, int], stride: int | tuple[int, int] = 1, **kw: int
) -> nn.Conv2d:
    k = (kernel, kernel) if isinstance(kernel, int) else kernel
    dil = kw.pop("dilation", 1)
    pad = (dil * (k[0] // 2), dil * (k[1] // 2))
    return nn.Conv2d(c_in, c_out, k, stride, pad, dilation=dil, bias=False, **kw)


def stem(spec: OpSpec) -> nn.Sequential:
    pad = 0 if spec.attr("pad", "same") == "valid" else spec.kernel // 2
    conv = nn.Conv2d(spec.c_in, spec.c_out, spec.kernel, spec.stride, pad, bias=False)
    return nn.Sequential(conv, nn.BatchNorm2d(spec.c_out))


def relu_conv_bn(spec: OpSpec) -> nn.Sequential:
    # Not in-place: a cell state feeds several operations.
    conv = _conv(spec.c_in, spec.c_out, spec.kernel, spec.stride, dilation=int(spec.attr("dil", 1)))
    return nn.Sequential(nn.ReLU(), conv, nn.BatchNorm2d(spec.c_out))


def conv_pair(spec: OpSpec) -> nn.Sequential:
    k, s = spec.kernel, spec.stride
    return nn.Sequential(
        nn.ReLU(),
        _conv(spec.c_in, spec.c_out, (1, k), (1, s)),
        _conv(spec.c_out, spec.c_out, (k, 1), (s, 1)),
        nn.BatchNorm2d(spec.c_out),
    )


def _sep(c_in: int, c_out: int, kernel: int, stride: int) -> list[nn.Module]:
    return [
        nn.ReLU(),
        _conv(c_in, c_in, kernel, stride, groups=c_in),
        _conv(c_in, c_out, 1),
        nn.BatchNorm2d(c_out),
    ]


def stacked_sep_conv(spec: OpSpec) -> nn.Sequential:
    first = _sep(spec.c_in, spec.c_out, spec.kernel, spec.stride)
    return nn.Sequential(*first, *_sep(spec.c_out, spec.c_out, spec.kernel, 1))


class AvgPool(nn.Module):
    """Average pool over the unpadded pixels only (TF 'SAME'). Functional rather than
    ``nn.AvgPool2d``, whose repr omits ``count_include_pad``, so that traced exports keep it."""

    def __init__(self, kernel: int, stride: int) -> None:
        super().__init__()
        self.kernel, self.stride = kernel, stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.avg_pool2d(x, self.kernel, self.stride, self.kernel // 2, count_include_pad=False)


def pool(spec: OpSpec) -> nn.Sequential:
    k, s = spec.kernel, spec.stride
    layer: nn.Module = AvgPool(k, s) if spec.attr("pool", "max") == "avg" else nn.MaxPool2d(k, s, k // 2)
    if spec.c_in == spec.c_out:
        return nn.Sequential(layer)
    return nn.Sequential(layer, _conv(spec.c_in, spec.c_out, 1), nn.BatchNorm2d(spec.c_out))


class FactorizedReduction(nn.Module):
    """Stride 2: 1x1 convs on the even and on the odd (shifted) pixels, concatenated, then BN."""

    def __init__(self, c_in: int, c_out: int, *, relu: bool) -> None:
        super().__init__()
        self.relu = relu
        self.path1 = _conv(c_in, c_out // 2, 1)
        self.path2 = _conv(c_in, c_out - c_out // 2, 1)
        self.bn = nn.BatchNorm2d(c_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.relu:
            x = F.relu(x)
        shifted = F.pad(x[:, :, 1:, 1:], (0, 1, 0, 1))
        return self.bn(torch.cat([self.path1(x[:, :, ::2, ::2]), self.path2(shifted[:, :, ::2, ::2])], 1))


def factorized_reduction(spec: OpSpec) -> nn.Module:
    relu = bool(spec.attr("relu", 0))
    if spec.stride == 2:
        return FactorizedReduction(spec.c_in, spec.c_out, relu=relu)
    layers: list[nn.Module] = [nn.ReLU()] if relu else []
    return nn.Sequential(*layers, _conv(spec.c_in, spec.c_out, 1), nn.BatchNorm2d(spec.c_out))


def head(spec: OpSpec) -> nn.Sequential:
    drop = float(spec.attr("drop", 0.0))
    return nn.Sequential(
        nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(1), nn.Dropout(drop), nn.Linear(spec.c_in, spec.c_out)
    )
