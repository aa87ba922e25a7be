"""Torch modules of the sparse MobileNet operators, their sparse inference path and dense export.

A sparse layer keeps its full weight as a parameter and a 0/1 ``mask`` buffer (saved with the
weights); the layer computes with ``weight * mask``. How:

* training, autograd, tracing (`torch.export`, ONNX, `torch.fx`, the flop counter, any dispatch mode) and
  non-CPU devices use the dense convolution of the masked weight, so every tool sees a standard
  graph and gradients reach only the kept weights;
* inference (eval mode without autograd, e.g. under `torch.inference_mode`) uses the masked weight
  computed once (again only after the weight or mask changed) and, on the CPU, the sparse kernels
  of `sparse_kernels`: the fastest of dense, torch CSR and the block-sparse kernel is measured
  per layer and input shape and used from then on. ``backend`` forces one.

A freshly built layer is already pruned to its target sparsity by weight magnitude, so a latency
measurement of a built operator or network measures the sparse computation; training with
gradual pruning (`evaluators.pruning`) starts from a full mask instead.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn
from torch.fx._symbolic_trace import is_fx_symbolic_tracing
from torch.utils._python_dispatch import is_in_torch_dispatch_mode

from search_spaces.ops import sparse_kernels as kernels
from search_spaces.ops.modules import Network
from search_spaces.ops.sparse import SparseSettings, block_segments, n_pruned
from search_spaces.ops.spec import OpSpec

BACKENDS = ("dense", *kernels.BACKENDS[1:])


def block_keep(weight: torch.Tensor, sparsity: float, block: int, *, keep: torch.Tensor | None = None) -> torch.Tensor:
    """Boolean keep-mask of a (rows, cols) weight pruning exactly `pruned_entries` entries: per part
    of `block_segments`, the ``round(sparsity * n)`` blocks of least mean magnitude. Blocks that
    ``keep`` (a previous mask) already prunes go first, so pruning never revives a block."""
    rows, cols = weight.shape
    out = torch.ones(rows, cols, dtype=torch.bool, device=weight.device)
    for start, end, b in block_segments(rows, block):
        nrb = (end - start) // b
        score = weight[start:end].detach().abs().reshape(nrb, b, cols).mean(dim=1)
        if keep is not None:
            score = torch.where(keep[start:end].reshape(nrb, b, cols).any(dim=1), score, -1.0)
        score = score.flatten()
        k = n_pruned(score.numel(), sparsity)
        if k:
            drop = torch.zeros(score.numel(), dtype=torch.bool, device=weight.device)
            drop[torch.topk(score, k, largest=False, sorted=False).indices] = True
            out[start:end] = ~drop.reshape(nrb, 1, cols).expand(nrb, b, cols).reshape(end - start, cols)
    return out


def _tracing() -> bool:
    return (
        is_fx_symbolic_tracing()
        or torch.jit.is_tracing()
        or torch.jit.is_scripting()
        or torch.compiler.is_compiling()
        or is_in_torch_dispatch_mode()
        or torch.onnx.is_in_onnx_export()
    )


def _version(t: torch.Tensor) -> int:
    """In-place change counter; tensors made under `torch.inference_mode` have none (their in-place
    changes go unnoticed: call `SparseWeight.invalidate` after editing such weights)."""
    return -1 if t.is_inference() else t._version


class SparseWeight(nn.Module):
    """A weight of ``rows`` x ``cols`` (stored in ``shape``) with a block mask; base of the sparse
    conv and linear. ``sparsity`` and ``block`` are the layer's targets."""

    def __init__(self, rows: int, cols: int, shape: tuple[int, ...], *, sparsity: float, block: int) -> None:
        super().__init__()
        self.rows, self.cols, self.sparsity, self.block = rows, cols, sparsity, block
        self.weight = nn.Parameter(torch.empty(shape))
        self.register_buffer("mask", torch.ones(shape))
        self.backend: str | None = None  # None: the fastest, measured; else one of BACKENDS
        self._dense = torch.empty(0)
        self._packed: kernels.PackedWeight | None = None
        self._cache_key: tuple = ()
        self._choice: dict[tuple[int, ...], str] = {}

    def masked_weight(self) -> torch.Tensor:
        return self.weight * self.mask

    def __getstate__(self) -> dict:
        """Copies and pickles leave the inference caches behind (CSR tensors cannot be copied)."""
        state = super().__getstate__()
        return {**state, "_dense": torch.empty(0), "_packed": None, "_cache_key": (), "_choice": {}}

    @torch.no_grad()
    def prune_to(self, sparsity: float) -> None:
        """Set the mask to prune ``sparsity`` of the weight's blocks by magnitude; blocks pruned
        already stay pruned (sparsity only rises during training)."""
        keep = self.mask.reshape(self.rows, self.cols) != 0
        out = block_keep(self.weight.reshape(self.rows, self.cols), sparsity, self.block, keep=keep)
        self.mask.copy_(out.reshape(self.mask.shape))

    @torch.no_grad()
    def reset_mask(self) -> None:
        """Keep every weight (the start of gradual pruning)."""
        self.mask.fill_(1.0)

    def nonzeros(self) -> int:
        """Weight entries the mask keeps."""
        return int(torch.count_nonzero(self.mask))

    def invalidate(self) -> None:
        """Forget the packed weights (they are rebuilt on the next inference call)."""
        self._cache_key = ()

    def _inference(self) -> bool:
        """Whether this call may use cached and sparse weights (not training, tracing or autograd)."""
        return not self.training and not torch.is_grad_enabled() and not _tracing()

    def _cached(self) -> tuple[torch.Tensor, kernels.PackedWeight | None]:
        """The masked weight and its sparse formats, rebuilt only after the weight or mask changed."""
        key = (_version(self.weight), _version(self.mask), self.weight.data_ptr(), self.mask.data_ptr())
        if key != self._cache_key:
            dense = (self.weight * self.mask).detach()
            packed = None
            if self.sparsity > 0 and dense.device.type == "cpu" and dense.dtype == torch.float32:
                keep = self.mask.reshape(self.rows, self.cols) != 0
                packed = kernels.pack(self.weight.detach().reshape(self.rows, self.cols), keep, self.block)
            self._dense, self._packed, self._cache_key, self._choice = dense, packed, key, {}
        return self._dense, self._packed

    def _sparse(
        self,
        x3: torch.Tensor,
        packed: kernels.PackedWeight,
        dense: Callable[[], torch.Tensor],
        bias: torch.Tensor | None = None,
        act: str = "none",
    ) -> torch.Tensor | None:
        """``act((N, cols, HW) -> (N, rows, HW) + bias)`` through the chosen sparse backend; None
        when dense is chosen."""
        backend = self.backend
        if backend is None:
            shape = tuple(x3.shape)
            if shape not in self._choice:
                runs = {"dense": dense, **{f: (lambda f=f: packed.matmul(x3, f, bias, act)) for f in packed.formats()}}
                key = (type(self).__name__, self.rows, self.cols, shape, self.block, packed.nnz, act)
                self._choice[shape] = kernels.fastest(key, runs)
            backend = self._choice[shape]
        if backend == "dense" or x3.dtype != torch.float32:
            return None
        return packed.matmul(x3, backend, bias, act)


class SparseConv1x1(SparseWeight):
    """1x1 convolution whose weight is pruned in blocks of output channels; no bias unless
    BatchNorm is folded into it (`fold_batchnorm`), no activation unless one is fused into it
    (`fuse_activations`: the kernel applies it as it stores the result)."""

    def __init__(self, c_in: int, c_out: int, *, sparsity: float, block: int) -> None:
        super().__init__(c_out, c_in, (c_out, c_in, 1, 1), sparsity=sparsity, block=block)
        self.register_parameter("bias", None)
        self.act = "none"
        nn.init.kaiming_normal_(self.weight, mode="fan_out", nonlinearity="relu")
        self.prune_to(sparsity)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self._inference():
            return kernels.activation(F.conv2d(x, self.masked_weight(), self.bias), self.act)
        dense, packed = self._cached()
        if packed is not None and x.device.type == "cpu":
            n, _, h, w = x.shape
            x3 = x.reshape(n, self.cols, h * w).contiguous()
            run_dense = lambda: kernels.activation(F.conv2d(x, dense, self.bias), self.act)  # noqa: E731
            y = self._sparse(x3, packed, run_dense, self.bias, self.act)
            if y is not None:
                return y.reshape(n, self.rows, h, w)
        return kernels.activation(F.conv2d(x, dense, self.bias), self.act)

    def to_dense(self) -> nn.Module:
        """The plain `nn.Conv2d` with the masked weight (followed by the fused activation, if any)."""
        conv = nn.Conv2d(self.cols, self.rows, 1, bias=self.bias is not None)
        conv.weight.data.copy_(self.masked_weight().detach())
        if self.bias is not None:
            conv.bias.data.copy_(self.bias.detach())
        if self.act == "none":
            return conv
        return nn.Sequential(conv, nn.ReLU6() if self.act == "relu6" else nn.ReLU())


class SparseLinear(SparseWeight):
    """Linear layer with bias whose weight is pruned in blocks of output features."""

    def __init__(self, c_in: int, c_out: int, *, sparsity: float, block: int) -> None:
        super().__init__(c_out, c_in, (c_out, c_in), sparsity=sparsity, block=block)
        self.bias = nn.Parameter(torch.zeros(c_out))
        bound = 1.0 / c_in**0.5
        nn.init.uniform_(self.weight, -bound, bound)
        self.prune_to(sparsity)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self._inference():
            return F.linear(x, self.masked_weight(), self.bias)
        dense, packed = self._cached()
        if packed is not None and x.device.type == "cpu":
            x3 = x.t().contiguous().unsqueeze(0)  # (1, c_in, N): the batch plays the pixels
            y = self._sparse(x3, packed, lambda: F.linear(x, dense, self.bias), self.bias)
            if y is not None:
                return y[0].t()
        return F.linear(x, dense, self.bias)

    def to_dense(self) -> nn.Linear:
        linear = nn.Linear(self.cols, self.rows)
        linear.weight.data.copy_(self.masked_weight().detach())
        linear.bias.data.copy_(self.bias.detach())
        return linear


def _conv_bn_relu6(c_in: int, c_out: int, kernel: int, stride: int, groups: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, kernel, stride, kernel // 2, groups=groups, bias=False),
        nn.BatchNorm2d(c_out),
        nn.ReLU6(inplace=True),
    )


def stem(spec: OpSpec) -> nn.Sequential:
    return _conv_bn_relu6(spec.c_in, spec.c_out, spec.kernel, spec.stride)


def depthwise(spec: OpSpec) -> nn.Sequential:
    return _conv_bn_relu6(spec.c_in, spec.c_in, spec.kernel, spec.stride, groups=spec.c_in)


def sparse_conv1x1(spec: OpSpec) -> nn.Sequential:
    s = SparseSettings.of(spec)
    layers: list[nn.Module] = [
        SparseConv1x1(spec.c_in, spec.c_out, sparsity=s.sparsity, block=s.block),
        nn.BatchNorm2d(spec.c_out),
    ]
    if spec.attr("act", "relu6") == "relu6":
        layers.append(nn.ReLU6(inplace=True))
    return nn.Sequential(*layers)


def sparse_classifier(spec: OpSpec) -> nn.Sequential:
    s = SparseSettings.of(spec)
    return nn.Sequential(
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(1),
        nn.Dropout(float(spec.attr("drop", 0.2))),
        SparseLinear(spec.c_in, spec.c_out, sparsity=s.sparsity, block=s.block),
    )


class ResidualNetwork(Network):
    """A `Network` whose ``residuals`` — (first, last) layer index pairs — add the input of layer
    ``first`` to the output of layer ``last`` (MobileNetV2's inverted residual blocks)."""

    def __init__(self, specs: Sequence[OpSpec], residuals: Sequence[tuple[int, int]] = ()) -> None:
        super().__init__(specs)
        for first, last in residuals:
            a, b = specs[first], specs[last]
            if not 0 <= first <= last < len(specs) or (a.c_in, a.hw) != (b.c_out, b.hw_out):
                raise ValueError(f"residual ({first}, {last}): layers {a.name}..{b.name} change the shape")
        self.residuals = tuple((int(a), int(b)) for a, b in residuals)
        self._ends = {last: first for first, last in self.residuals}
        self._starts = set(self._ends.values())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        saved = x
        for i, layer in enumerate(self):
            if i in self._starts:
                saved = x
            x = layer(x)
            if i in self._ends:
                x = x + saved
        return x


def sparse_layers(model: nn.Module) -> list[tuple[str, SparseWeight]]:
    """The sparse layers of ``model`` with their qualified names."""
    return [(name, m) for name, m in model.named_modules() if isinstance(m, SparseWeight)]


def set_backend(model: nn.Module, backend: str | None) -> None:
    """Force ``backend`` (one of `BACKENDS`) in every sparse layer, or None for the fastest."""
    if backend is not None and backend not in BACKENDS:
        raise ValueError(f"backend: {backend!r} is not allowed; allowed: {', '.join(BACKENDS)} or None")
    for _, layer in sparse_layers(model):
        layer.backend = backend


def to_dense(model: nn.Module) -> nn.Module:
    """A copy of ``model`` with every sparse layer replaced by the plain `nn.Conv2d` / `nn.Linear`
    carrying its masked weight: same outputs, only standard modules (for export and other runtimes)."""
    out = copy.deepcopy(model)
    for name, layer in sparse_layers(out):
        parent_name, _, attr = name.rpartition(".")
        parent = out.get_submodule(parent_name) if parent_name else out
        setattr(parent, attr, layer.to_dense())  # type: ignore[operator]
    return out


@torch.no_grad()
def fold_batchnorm(model: nn.Module) -> nn.Module:
    """A copy of ``model`` (in eval mode) where each BatchNorm that follows a convolution or sparse
    1x1 layer in a `nn.Sequential` is folded into it (scaled weight, added bias) and replaced by
    `nn.Identity`: the usual inference transformation, the same outputs up to rounding. Masks are
    kept, so a folded sparse layer stays exactly as sparse."""
    out = copy.deepcopy(model).eval()
    for seq in out.modules():
        if not isinstance(seq, nn.Sequential):
            continue
        for i in range(len(seq) - 1):
            conv, bn = seq[i], seq[i + 1]
            if not isinstance(bn, nn.BatchNorm2d) or not isinstance(conv, nn.Conv2d | SparseConv1x1):
                continue
            scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
            bias = conv.bias if conv.bias is not None else torch.zeros_like(bn.running_mean)
            conv.weight.mul_(scale.reshape(-1, *([1] * (conv.weight.dim() - 1))))
            conv.bias = nn.Parameter(bn.bias + (bias - bn.running_mean) * scale)
            seq[i + 1] = nn.Identity()
    return out


def fuse_activations(model: nn.Module) -> nn.Module:
    """A copy of ``model`` where each ReLU6 or ReLU that follows a sparse 1x1 layer in a
    `nn.Sequential` (with only `nn.Identity` between, i.e. after `fold_batchnorm`) is fused into it
    and replaced by `nn.Identity`: the sparse kernel clamps as it stores, saving a pass over the
    activations. Same outputs; for inference copies (`to_dense` of a fused layer adds the
    activation back as a module)."""
    out = copy.deepcopy(model)
    for seq in out.modules():
        if not isinstance(seq, nn.Sequential):
            continue
        for i, conv in enumerate(seq):
            if not isinstance(conv, SparseConv1x1) or conv.act != "none":
                continue
            j = i + 1
            while j < len(seq) and isinstance(seq[j], nn.Identity):
                j += 1
            if j < len(seq) and type(seq[j]) in (nn.ReLU6, nn.ReLU):
                conv.act = "relu6" if isinstance(seq[j], nn.ReLU6) else "relu"
                seq[j] = nn.Identity()
    return out
