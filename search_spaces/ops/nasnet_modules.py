"""Torch modules of the NASNet operator kinds, and the network that wires them as a DAG of cells.

`NasNetNetwork` runs a list of `Step`s (each an `OpSpec` plus the registers it reads and writes),
so the built model is exactly the space's ``ops(arch)`` list, wired as the cells say. It also
implements ScheduledDropPath (Zoph et al., Sec. 4.1): in training, each operation output inside
a cell (identities excluded, as in the reference) is dropped per sample with probability
``1 - keep``, where keep falls linearly with the cell's depth and with training progress.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from search_spaces.ops.modules import build_op, init_weights
from search_spaces.ops.nasnet import Step
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


class Add(nn.Module):
    """Sum of the inputs (one input alone is added to itself, for timing in isolation)."""

    def forward(self, *xs: torch.Tensor) -> torch.Tensor:
        a, b = (xs[0], xs[0]) if len(xs) == 1 else xs
        return a + b


class Concat(nn.Module):
    """Channel concatenation into ``c_out`` channels (one input alone is repeated, for timing)."""

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.c_in, self.c_out = c_in, c_out

    def forward(self, *xs: torch.Tensor) -> torch.Tensor:
        if len(xs) == 1:
            xs = xs * (self.c_out // self.c_in)
        return torch.cat(xs, 1)


def head(spec: OpSpec) -> nn.Sequential:
    drop = float(spec.attr("drop", 0.0))
    return nn.Sequential(
        nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(1), nn.Dropout(drop), nn.Linear(spec.c_in, spec.c_out)
    )


def drop_path(x: torch.Tensor, keep: float) -> torch.Tensor:
    """Zero whole samples with probability ``1 - keep``, scaling the kept ones by ``1 / keep``."""
    mask = torch.empty(x.shape[0], 1, 1, 1, dtype=x.dtype, device=x.device).bernoulli_(keep)
    return x * mask / keep


class NasNetNetwork(nn.Module):
    """Runs ``steps`` in order over named registers (``"input"`` holds the image batch); the last
    step's output is the result. ``specs`` keeps the op list the model was built from.

    ScheduledDropPath is off until `set_drop_path` is called; it acts only in training mode.
    """

    def __init__(self, steps: Sequence[Step], *, num_cells: int) -> None:
        super().__init__()
        self.steps = tuple(steps)
        self.specs = tuple(s.spec for s in self.steps)
        self.layers = nn.ModuleList(build_op(s.spec) for s in self.steps)
        self.num_cells = num_cells
        self.keep_prob, self.progress = 1.0, 1.0
        last_use: dict[str, int] = {}
        for i, step in enumerate(self.steps):
            last_use.update(dict.fromkeys(step.inputs, i))
        self._free = [[r for r in dict.fromkeys(s.inputs) if last_use[r] == i] for i, s in enumerate(self.steps)]
        init_weights(self)

    def set_drop_path(self, keep_prob: float, progress: float = 1.0) -> None:
        """ScheduledDropPath: in cell ``c`` (counted from 0, stem cells included, of ``num_cells``)
        keep = 1 - progress * (c + 1) / num_cells * (1 - keep_prob), as the reference code;
        ``progress`` is the share of training done (0 to 1)."""
        if not (0.0 < keep_prob <= 1.0 and 0.0 <= progress <= 1.0):
            raise ValueError(f"keep_prob must be in (0, 1] and progress in [0, 1]; got {keep_prob}, {progress}")
        self.keep_prob, self.progress = keep_prob, progress

    def cell_keep_prob(self, cell: int) -> float:
        layer = 1.0 - (cell + 1) / self.num_cells * (1.0 - self.keep_prob)
        return 1.0 - self.progress * (1.0 - layer)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        regs = {"input": x}
        out = x
        for step, layer, free in zip(self.steps, self.layers, self._free, strict=True):
            out = layer(*(regs[r] for r in step.inputs))
            if step.drop_cell >= 0 and self.training and self.keep_prob < 1.0:
                keep = self.cell_keep_prob(step.drop_cell)
                if keep < 1.0:
                    out = drop_path(out, keep)
            for r in free:
                del regs[r]
            regs[step.output] = out
        return out
