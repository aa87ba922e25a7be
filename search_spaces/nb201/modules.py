"""Torch modules of the NAS-Bench-201 operator kinds and the network that wires the cells.

`Nb201Network` is built from the space's ``ops(arch)`` list alone (``model.specs``): a stem, then
per stage five cells — each six edge operators wired as the benchmark's 4-node DAG, node j being
the sum of the edges into it — with a residual block between stages, and the head.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from search_spaces.ops.modules import build_op, init_weights
from search_spaces.ops.spec import OpSpec

EDGES_PER_CELL = 6


def _relu_conv_bn(c_in: int, c_out: int, kernel: int, stride: int = 1) -> nn.Sequential:
    # Not in-place: a node feeds several edges.
    conv = nn.Conv2d(c_in, c_out, kernel, stride, kernel // 2, bias=False)
    return nn.Sequential(nn.ReLU(), conv, nn.BatchNorm2d(c_out))


class Zero(nn.Module):
    """The ``none`` operation: zeros of the input's shape (the reference computes ``x * 0``)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mul(0.0)


def stem(spec: OpSpec) -> nn.Sequential:
    conv = nn.Conv2d(spec.c_in, spec.c_out, spec.kernel, 1, spec.kernel // 2, bias=False)
    return nn.Sequential(conv, nn.BatchNorm2d(spec.c_out))


def edge(spec: OpSpec) -> nn.Module:
    op = spec.attr("op", "")
    if op == "none":
        return Zero()
    if op == "skip_connect":
        return nn.Identity()
    if op == "avg_pool_3x3":
        return nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False)
    if op in ("nor_conv_1x1", "nor_conv_3x3"):
        return _relu_conv_bn(spec.c_in, spec.c_out, spec.kernel)
    raise ValueError(f"nb201_edge op {op!r} is unknown")


class ResNetBlock(nn.Module):
    """The reduction block between stages (the reference's ``ResNetBasicblock`` with stride 2).

    The shortcut's 2x2 average pool uses ``ceil_mode`` so odd sizes match the strided conv
    (identical to the reference on the even sizes it uses)."""

    def __init__(self, c_in: int, c_out: int, stride: int) -> None:
        super().__init__()
        self.conv_a = _relu_conv_bn(c_in, c_out, 3, stride)
        self.conv_b = _relu_conv_bn(c_out, c_out, 3)
        self.downsample = nn.Sequential(
            nn.AvgPool2d(stride, stride, ceil_mode=True, count_include_pad=False),
            nn.Conv2d(c_in, c_out, 1, bias=False),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.downsample(x) + self.conv_b(self.conv_a(x))


def head(spec: OpSpec) -> nn.Sequential:
    return nn.Sequential(
        nn.BatchNorm2d(spec.c_in),
        nn.ReLU(inplace=True),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(1),
        nn.Linear(spec.c_in, spec.c_out),
    )


class Cell(nn.Module):
    """Six edges in the benchmark's order (0->1, 0->2, 1->2, 0->3, 1->3, 2->3); output node 3."""

    def __init__(self, edges: Sequence[OpSpec]) -> None:
        super().__init__()
        self.edges = nn.ModuleList(build_op(s) for s in edges)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        e = self.edges
        n1 = e[0](x)
        n2 = e[1](x) + e[2](n1)
        return e[3](x) + e[4](n1) + e[5](n2)


class Nb201Network(nn.Module):
    """Stem, cells and residual blocks in order, head; ``specs`` is what it was built from."""

    def __init__(self, specs: Sequence[OpSpec]) -> None:
        super().__init__()
        self.specs = tuple(specs)
        first, *body, last = self.specs
        self.stem = build_op(first)
        layers: list[nn.Module] = []
        i = 0
        while i < len(body):
            if body[i].kind == "nb201_edge":
                layers.append(Cell(body[i : i + EDGES_PER_CELL]))
                i += EDGES_PER_CELL
            else:
                layers.append(build_op(body[i]))
                i += 1
        self.cells = nn.Sequential(*layers)
        self.head = build_op(last)
        init_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.cells(self.stem(x)))
