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
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from search_spaces.dass.genotype import NUM_INPUTS, NUM_NODES, PRIMITIVES, Cell, derive_cell, edge_count
from search_spaces.ops.sparse import n_pruned

STEM_MULTIPLIER = 3
ALPHA_INIT = 1e-3  # the reference's 1e-3 * randn
SMALL_MAP = 64  # pixels up to which a stride-1 dilated conv runs as a dense zero-filled kernel (measured)


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


class _MaskedWeight(torch.autograd.Function):
    """``weight * TopK(|scores|)`` with a precomputed mask: the gradient of ``weight`` is masked and
    the scores get GetSubnet's straight-through gradient, ``grad * weight * sign(scores)``."""

    @staticmethod
    def forward(ctx: Any, weight: torch.Tensor, scores: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(weight, scores, mask)
        return weight * mask

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor | None, torch.Tensor | None, None]:
        weight, scores, mask = ctx.saved_tensors
        grad_weight = grad * mask if ctx.needs_input_grad[0] else None
        grad_scores = grad * weight * scores.sgn() if ctx.needs_input_grad[1] else None
        return grad_weight, grad_scores, None


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
        self.reference = False  # SearchNetwork(reference=True): the unoptimised forward

    @torch.no_grad()
    def scale_scores(self) -> None:
        """HYDRA's scaled score initialisation: proportional to the weights, so the first mask is
        magnitude pruning (``initialize_scaled_score`` in the authors' code)."""
        top = self.weight.abs().max().clamp_min(1e-12)
        self.scores.copy_(math.sqrt(6.0 / self.fan_in) * self.weight / top)

    def mask(self) -> torch.Tensor:
        """The current 0/1 mask (all ones at sparsity 0), a constant: recomputed only when the
        scores or the sparsity change (an optimizer step, `scale_scores`, a loaded state), i.e.
        once per step in the prune phase instead of in every forward."""
        key = (self.scores._version, self.scores.data_ptr(), self.sparsity)
        if key != self._mask_key:
            with torch.no_grad():
                self._mask = _TopK.apply(self.scores.detach().abs(), n_pruned(self.scores.numel(), self.sparsity))
            self._mask_key = key
        return self._mask

    def effective(self) -> torch.Tensor:
        if self.sparsity == 0.0:
            return self.weight
        if self.reference:  # the authors' form: the top-k mask of |scores| in the graph of every forward
            pruned = n_pruned(self.scores.numel(), self.sparsity)
            if not self.scores.requires_grad:
                return self.weight * self.mask()
            return self.weight * _TopK.apply(self.scores.abs(), pruned)
        return _MaskedWeight.apply(self.weight, self.scores, self.mask())


class SparseConv2d(ScoredWeight):
    """DASS's SparseConv: a convolution (no bias) through `ScoredWeight`'s mask."""

    def __init__(
        self, c_in: int, c_out: int, kernel: int, stride: int = 1, padding: int = 0, dilation: int = 1, groups: int = 1
    ) -> None:
        super().__init__((c_out, c_in // groups, kernel, kernel), c_in // groups * kernel * kernel)
        self.stride, self.padding, self.dilation, self.groups = stride, padding, dilation, groups

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weight, d = self.effective(), self.dilation
        if d > 1 and not self.reference and self.stride == d and self.padding % d == 0:
            # Only every d-th pixel is read: the same sums as an undilated conv of the subsampled
            # input, which is 10-35x faster than oneDNN's strided dilated path (forward+backward).
            return F.conv2d(x[:, :, ::d, ::d], weight, None, 1, self.padding // d, 1, self.groups)
        if d > 1 and not self.reference and x.shape[-2] * x.shape[-1] <= SMALL_MAP:
            # On small maps the dilated kernel written out densely (zeros between taps) is 2-3x faster.
            k = weight.shape[-1]
            dense = weight.new_zeros(*weight.shape[:2], d * (k - 1) + 1, d * (k - 1) + 1)
            dense[:, :, ::d, ::d] = weight
            return F.conv2d(x, dense, None, self.stride, self.padding, 1, self.groups)
        return F.conv2d(x, weight, None, self.stride, self.padding, d, self.groups)


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
        return self.after_relu(F.relu(x))

    def after_relu(self, x: torch.Tensor) -> torch.Tensor:
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


class _WeightedSum(torch.autograd.Function):
    """``sum_i weights[i] * tensors[i]`` accumulated in one buffer (no product or partial sum
    tensors); the weights' gradients are dot products with the incoming gradient."""

    @staticmethod
    def forward(ctx: Any, weights: torch.Tensor, *tensors: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(weights, *tensors)
        w = weights.tolist()
        out = tensors[0] * w[0]
        for wi, t in zip(w[1:], tensors[1:], strict=True):
            out.add_(t, alpha=wi)
        return out

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        weights, *tensors = ctx.saved_tensors
        grad_weights = None
        if ctx.needs_input_grad[0]:
            g = _flat(grad, grad)
            grad_weights = torch.stack([torch.dot(g, _flat(t, grad)) for t in tensors])
        needs = ctx.needs_input_grad[1:]
        return grad_weights, *(grad * w if need else None for w, need in zip(weights.tolist(), needs, strict=True))


def _flat(t: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """``t`` as a vector in ``like``'s element order (a view when both are channels-last)."""
    if like.dim() == 4 and not like.is_contiguous() and like.is_contiguous(memory_format=torch.channels_last):
        return t.permute(0, 2, 3, 1).reshape(-1)
    return t.reshape(-1)


NONE = PRIMITIVES.index("none")
SHARED = {PRIMITIVES.index("max_pool_3x3"), PRIMITIVES.index("avg_pool_3x3")}
FROM_RELU = {i for i, p in enumerate(PRIMITIVES) if p.startswith(("sep", "dil"))}
SKIP = PRIMITIVES.index("skip_connect")


class _State:
    """What the edges reading one state share: its ReLU, and its pools followed by (non-affine)
    BatchNorm, which give the same output on every edge (same input, batch statistics); the
    running statistics of the edges' BNs receive the same update (copied)."""

    def __init__(self, h: torch.Tensor) -> None:
        self.h = h
        self._relu: torch.Tensor | None = None
        self._pools: dict[int, tuple[torch.Tensor, nn.BatchNorm2d]] = {}

    def relu(self) -> torch.Tensor:
        if self._relu is None:
            self._relu = F.relu(self.h)
        return self._relu

    def pool(self, index: int, op: nn.Sequential) -> torch.Tensor:
        pool, bn = op[0], op[1]
        if index not in self._pools:
            self._pools[index] = (bn(pool(self.h)), bn)
            return self._pools[index][0]
        out, first = self._pools[index]
        if bn.training and bn.track_running_stats:
            with torch.no_grad():
                bn.running_mean.copy_(first.running_mean)  # type: ignore[union-attr]
                bn.running_var.copy_(first.running_var)  # type: ignore[union-attr]
                bn.num_batches_tracked.copy_(first.num_batches_tracked)  # type: ignore[union-attr]
        return out


class MixedOp(nn.Module):
    """Sum of every primitive's output weighted by the edge's softmaxed architecture weights."""

    def __init__(self, c: int, stride: int) -> None:
        super().__init__()
        self.stride = stride
        self.ops = nn.ModuleList(primitive(p, c, stride) for p in PRIMITIVES)
        self.reference = False

    def forward(self, x: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        if self.reference:
            return sum(w * op(x) for w, op in zip(weights, self.ops, strict=True))  # type: ignore[return-value]
        index, outputs = self.outputs(_State(x))
        return _WeightedSum.apply(weights[index], *outputs)

    def outputs(self, state: _State) -> tuple[list[int], list[torch.Tensor]]:
        """The primitives' outputs on ``state`` (``none``, exactly zero, left out), and their indices."""
        index, outputs = [], []
        for i, op in enumerate(self.ops):
            if i == NONE:
                continue
            if i in SHARED:
                out = state.pool(i, op)  # type: ignore[arg-type]
            elif i in FROM_RELU:
                out = state.relu()
                for m in list(op)[1:]:  # type: ignore[call-overload]
                    out = F.relu_(out) if isinstance(m, nn.ReLU) else m(out)  # a BN output: in place is safe
            elif i == SKIP and self.stride != 1:
                out = op.after_relu(state.relu())  # type: ignore[operator]
            else:
                out = op(state.h)
            index.append(i)
            outputs.append(out)
        return index, outputs


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
        self.reference = False

    def forward(self, s0: torch.Tensor, s1: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        states = [self.preprocess0(s0), self.preprocess1(s1)]
        if self.reference:
            offset = 0
            for _ in range(NUM_NODES):
                states.append(sum(self.edges[offset + j](h, weights[offset + j]) for j, h in enumerate(states)))  # type: ignore[arg-type]
                offset += len(states) - 1
            return torch.cat(states[NUM_INPUTS:], dim=1)
        shared = [_State(h) for h in states]
        flat = weights.reshape(-1)
        offset = 0
        for _ in range(NUM_NODES):
            index: list[int] = []
            outputs: list[torch.Tensor] = []
            for j, state in enumerate(shared):
                i, o = self.edges[offset + j].outputs(state)
                index += [(offset + j) * len(PRIMITIVES) + k for k in i]
                outputs += o
            node = _WeightedSum.apply(flat[index], *outputs)
            states.append(node)
            shared.append(_State(node))
            offset += len(shared) - 1
        return torch.cat(states[NUM_INPUTS:], dim=1)


class SearchNetwork(nn.Module):
    """DARTS's one-shot network: CIFAR stem, ``layers`` cells (reductions at 1/3 and 2/3), global
    pool and classifier; `arch_parameters`, `weight_parameters` and `score_parameters` are the
    three groups the search optimises separately."""

    def __init__(
        self, *, channels: int, layers: int, num_classes: int, in_channels: int, seed: int = 0, reference: bool = False
    ) -> None:
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
        for m in self.modules():
            if isinstance(m, (ScoredWeight, MixedOp, SearchCell)):
                m.reference = reference

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
