"""The one-shot network of the DARTS search (``quark0/darts``, ``cnn/model_search.py``) with DASS's
parametric sparse layers.

Every convolution and the classifier hold a weight and a learnable importance score of the same
shape (DASS's SparseConv and SparseLinear; the authors' code builds them on HYDRA's ``SubnetConv``
/ ``SubnetLinear``, Sehwag et al. 2020). At sparsity ``s`` a layer computes with ``weight * m``
where the mask ``m`` keeps the ``1 - s`` share of entries with the largest ``|score|`` (exactly
`search_spaces.ops.sparse.n_pruned` entries pruned); the gradient reaches the scores straight
through the mask. At sparsity 0 the layers are plain dense layers (DARTS).

Each edge is a mixed operation: the softmax of its row of architecture weights (``alphas_normal``
/ ``alphas_reduce``, shared by all cells of a type) mixes all eight primitives, ``none``
included; BatchNorms are not affine and pools get one, as in the reference.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from search_spaces.dass.genotype import NUM_INPUTS, NUM_NODES, PRIMITIVES, Cell, derive_cell, edge_count
from search_spaces.ops.sparse import n_pruned

STEM_MULTIPLIER = 3
ALPHA_INIT = 1e-3  # the reference's 1e-3 * randn


class _TopK(torch.autograd.Function):
    """0/1 mask keeping all but the ``pruned`` smallest entries of ``scores``; straight-through backward."""

    @staticmethod
    def forward(ctx: object, scores: torch.Tensor, pruned: int) -> torch.Tensor:
        mask = torch.ones_like(scores)
        if pruned:
            idx = torch.topk(scores.flatten(), pruned, largest=False, sorted=False).indices
            mask.view(-1)[idx] = 0.0
        return mask

    @staticmethod
    def backward(ctx: object, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        return grad, None


class ScoredWeight(nn.Module):
    """A weight with importance scores: the base of `SparseConv2d` and `SparseLinearLayer`."""

    def __init__(self, shape: tuple[int, ...], fan_in: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.empty(shape))
        self.scores = nn.Parameter(torch.empty(shape))
        self.fan_in = fan_in
        self.sparsity = 0.0
        nn.init.kaiming_uniform_(self.weight, a=math.sqrt(5))  # torch's conv/linear default, as the reference
        nn.init.kaiming_uniform_(self.scores, a=math.sqrt(5))
        self._mask_key: tuple[int, int, float] | None = None
        self._mask = torch.empty(0)

    @torch.no_grad()
    def scale_scores(self) -> None:
        """HYDRA's scaled score initialisation: proportional to the weights, so the first mask is
        magnitude pruning (``initialize_scaled_score`` in the authors' code)."""
        top = self.weight.abs().max().clamp_min(1e-12)
        self.scores.copy_(math.sqrt(6.0 / self.fan_in) * self.weight / top)

    def mask(self) -> torch.Tensor:
        """The current 0/1 mask (all ones at sparsity 0)."""
        pruned = n_pruned(self.scores.numel(), self.sparsity)
        if not self.scores.requires_grad:  # frozen scores: the mask only changes with them
            key = (self.scores._version, self.scores.data_ptr(), self.sparsity)
            if key != self._mask_key:
                self._mask = _TopK.apply(self.scores.detach().abs(), pruned)
                self._mask_key = key
            return self._mask
        return _TopK.apply(self.scores.abs(), pruned)

    def effective(self) -> torch.Tensor:
        if self.sparsity == 0.0:
            return self.weight
        return self.weight * self.mask()


class SparseConv2d(ScoredWeight):
    """DASS's SparseConv: a convolution (no bias) through `ScoredWeight`'s mask."""

    def __init__(
        self, c_in: int, c_out: int, kernel: int, stride: int = 1, padding: int = 0, dilation: int = 1, groups: int = 1
    ) -> None:
        super().__init__((c_out, c_in // groups, kernel, kernel), c_in // groups * kernel * kernel)
        self.stride, self.padding, self.dilation, self.groups = stride, padding, dilation, groups

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.effective(), None, self.stride, self.padding, self.dilation, self.groups)


class SparseLinearLayer(ScoredWeight):
    """DASS's SparseLinear: a linear layer with bias through `ScoredWeight`'s mask."""

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__((c_out, c_in), c_in)
        self.bias = nn.Parameter(torch.empty(c_out))
        bound = 1.0 / math.sqrt(c_in)
        nn.init.uniform_(self.bias, -bound, bound)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.effective(), self.bias)


def _bn(c: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(c, affine=False)


class ReLUConvBN(nn.Sequential):
    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__(nn.ReLU(), SparseConv2d(c_in, c_out, 1), _bn(c_out))


class FactorizedReduce(nn.Module):
    """As `search_spaces.ops.dass_modules.FactorizedReduce` (zero-padded odd grid), not affine."""

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.conv_1 = SparseConv2d(c_in, c_out // 2, 1, stride=2)
        self.conv_2 = SparseConv2d(c_in, c_out - c_out // 2, 1, stride=2)
        self.bn = _bn(c_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(x)
        shifted = F.pad(x[:, :, 1:, 1:], (0, 1, 0, 1))
        return self.bn(torch.cat([self.conv_1(x), self.conv_2(shifted)], 1))


def _sep(c: int, kernel: int, stride: int) -> nn.Sequential:
    pad = kernel // 2
    return nn.Sequential(
        nn.ReLU(),
        SparseConv2d(c, c, kernel, stride, pad, groups=c),
        SparseConv2d(c, c, 1),
        _bn(c),
        nn.ReLU(),
        SparseConv2d(c, c, kernel, 1, pad, groups=c),
        SparseConv2d(c, c, 1),
        _bn(c),
    )


def _dil(c: int, kernel: int, stride: int) -> nn.Sequential:
    return nn.Sequential(
        nn.ReLU(), SparseConv2d(c, c, kernel, stride, 2 * (kernel // 2), 2, groups=c), SparseConv2d(c, c, 1), _bn(c)
    )


class Zero(nn.Module):
    def __init__(self, stride: int) -> None:
        super().__init__()
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x[:, :, :: self.stride, :: self.stride].mul(0.0)


def primitive(name: str, c: int, stride: int) -> nn.Module:
    """The search-time module of a DARTS primitive (pools followed by a non-affine BN)."""
    if name == "none":
        return Zero(stride)
    if name == "max_pool_3x3":
        return nn.Sequential(nn.MaxPool2d(3, stride, 1), _bn(c))
    if name == "avg_pool_3x3":
        return nn.Sequential(nn.AvgPool2d(3, stride, 1, count_include_pad=False), _bn(c))
    if name == "skip_connect":
        return nn.Identity() if stride == 1 else FactorizedReduce(c, c)
    kernel = int(name[-1])
    return _sep(c, kernel, stride) if name.startswith("sep") else _dil(c, kernel, stride)


class MixedOp(nn.Module):
    """Sum of every primitive's output weighted by the edge's softmaxed architecture weights."""

    def __init__(self, c: int, stride: int) -> None:
        super().__init__()
        self.ops = nn.ModuleList(primitive(p, c, stride) for p in PRIMITIVES)

    def forward(self, x: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        return sum(w * op(x) for w, op in zip(weights, self.ops, strict=True))  # type: ignore[return-value]


class SearchCell(nn.Module):
    def __init__(self, c_pp: int, c_p: int, c: int, *, reduction: bool, reduction_prev: bool) -> None:
        super().__init__()
        self.reduction = reduction
        self.preprocess0 = FactorizedReduce(c_pp, c) if reduction_prev else ReLUConvBN(c_pp, c)
        self.preprocess1 = ReLUConvBN(c_p, c)
        self.edges = nn.ModuleList(
            MixedOp(c, 2 if reduction and j < NUM_INPUTS else 1)
            for i in range(NUM_NODES)
            for j in range(NUM_INPUTS + i)
        )

    def forward(self, s0: torch.Tensor, s1: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        states = [self.preprocess0(s0), self.preprocess1(s1)]
        offset = 0
        for _ in range(NUM_NODES):
            states.append(sum(self.edges[offset + j](h, weights[offset + j]) for j, h in enumerate(states)))  # type: ignore[arg-type]
            offset += len(states) - 1
        return torch.cat(states[NUM_INPUTS:], dim=1)


class SearchNetwork(nn.Module):
    """DARTS's one-shot network: CIFAR stem, ``layers`` cells (reductions at 1/3 and 2/3), global
    pool and classifier; `arch_parameters`, `weight_parameters` and `score_parameters` are the
    three groups the search optimises separately."""

    def __init__(self, *, channels: int, layers: int, num_classes: int, in_channels: int, seed: int = 0) -> None:
        super().__init__()
        generator = torch.Generator().manual_seed(seed)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            c_curr = STEM_MULTIPLIER * channels
            self.stem = nn.Sequential(SparseConv2d(in_channels, c_curr, 3, padding=1), nn.BatchNorm2d(c_curr))
            c_pp, c_p, c = c_curr, c_curr, channels
            self.cells = nn.ModuleList()
            reduction_prev = False
            for i in range(layers):
                reduction = i in (layers // 3, 2 * layers // 3)
                if reduction:
                    c *= 2
                self.cells.append(SearchCell(c_pp, c_p, c, reduction=reduction, reduction_prev=reduction_prev))
                reduction_prev = reduction
                c_pp, c_p = c_p, NUM_NODES * c
            self.classifier = SparseLinearLayer(c_p, num_classes)
        k = edge_count()
        self.alphas_normal = nn.Parameter(ALPHA_INIT * torch.randn(k, len(PRIMITIVES), generator=generator))
        self.alphas_reduce = nn.Parameter(ALPHA_INIT * torch.randn(k, len(PRIMITIVES), generator=generator))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s0 = s1 = self.stem(x)
        normal, reduce = F.softmax(self.alphas_normal, dim=-1), F.softmax(self.alphas_reduce, dim=-1)
        for cell in self.cells:
            s0, s1 = s1, cell(s0, s1, reduce if cell.reduction else normal)
        return self.classifier(F.adaptive_avg_pool2d(s1, 1).flatten(1))

    # -- parameter groups ------------------------------------------------------------------------
    def arch_parameters(self) -> list[nn.Parameter]:
        return [self.alphas_normal, self.alphas_reduce]

    def sparse_layers(self) -> Iterator[ScoredWeight]:
        return (m for m in self.modules() if isinstance(m, ScoredWeight))

    def score_parameters(self) -> list[nn.Parameter]:
        return [m.scores for m in self.sparse_layers()]

    def weight_parameters(self) -> list[nn.Parameter]:
        """Everything trained by the weight optimizer: weights, biases, the stem BN's affine."""
        skip = {id(p) for p in (*self.arch_parameters(), *self.score_parameters())}
        return [p for p in self.parameters() if id(p) not in skip]

    def set_sparsity(self, sparsity: float) -> None:
        for m in self.sparse_layers():
            m.sparsity = sparsity

    def scale_scores(self) -> None:
        for m in self.sparse_layers():
            m.scale_scores()

    def mask_sparsity(self) -> float:
        """Share of all sparse layers' weight entries the current masks prune."""
        pruned = total = 0
        with torch.no_grad():
            for m in self.sparse_layers():
                mask = m.mask() if m.sparsity else torch.ones_like(m.weight)
                pruned += int(mask.numel() - mask.sum())
                total += mask.numel()
        return pruned / max(1, total)

    # -- the architecture ------------------------------------------------------------------------
    def arch_weights(self) -> dict[str, np.ndarray]:
        """Softmaxed architecture weights per cell type, one row per edge."""
        with torch.no_grad():
            return {
                "normal": F.softmax(self.alphas_normal, dim=-1).numpy().copy(),
                "reduce": F.softmax(self.alphas_reduce, dim=-1).numpy().copy(),
            }

    def genotype(self) -> tuple[Cell, Cell]:
        """The discrete normal and reduction cells (`derive_cell`)."""
        w = self.arch_weights()
        return derive_cell(w["normal"].tolist()), derive_cell(w["reduce"].tolist())
