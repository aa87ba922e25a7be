"""Sparse-times-dense matrix multiplication for sparse 1x1 convolutions, on the CPU.

A 1x1 convolution of a batch-1 NCHW input is ``Y (c_out, HW) = W (c_out, c_in) @ X (c_in, HW)``.
With a sparse ``W`` this is an SpMM; Fast Sparse ConvNets (Elsen et al., CVPR 2020) computes it
with the dense activations in CHW order, vector loads along HW and, for block sparsity, one
input row shared by the ``block`` output channels of a block. Backends:

* ``dense``: the masked weight through the ordinary (oneDNN) convolution — the baseline, and what
  wins at low sparsity;
* ``csr``: PyTorch's CSR tensor and `torch.sparse.mm` (MKL sparse BLAS on x86 builds);
* ``block``: a small C++ kernel in the paper's style (output-channel blocks of 1, 2 or 4, tiles of
  HW accumulated in registers, bias and activation fused into the store, `at::parallel_for` over
  tiles and block rows compiled with OpenMP against PyTorch's own runtime, so it uses PyTorch's
  thread pool and follows `torch.set_num_threads`), compiled once with
  `torch.utils.cpp_extension.load_inline` into a cache folder and reused by every process; when
  no compiler is available it is simply absent.

`fastest` times the available backends on the layer itself and keeps the fastest.
"""

from __future__ import annotations

import hashlib
import logging
import os
import platform
import threading
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import torch

log = logging.getLogger(__name__)

BACKENDS = ("dense", "csr", "block")
BLOCKS = (1, 2, 4)

_SOURCE = r"""
#include <ATen/Parallel.h>
#include <cstring>

// 8 floats: GCC/Clang vector extensions, so one source compiles to AVX, AVX-512 or NEON. Loops over
// compile-time bounds are unrolled so accumulators stay in registers.
typedef float v8 __attribute__((vector_size(32)));

// The activation fused into the store: 0 none, 1 ReLU, 2 ReLU6.
template <int V>
static inline void clamp(v8 (&a)[V], int act) {
  if (act == 0) return;
  const v8 zero = (v8){};
  const v8 six = (v8){} + 6.f;
  _Pragma("GCC unroll 16") for (int v = 0; v < V; ++v) {
    a[v] = a[v] < zero ? zero : a[v];
    if (act == 2) a[v] = a[v] > six ? six : a[v];
  }
}

// One tile of V x 8 output pixels for the R output channels of row block rb:
// acc[r] += w[j][r] * x[col[j], p:p+8V] over the row block's nonzero blocks j, held in registers.
template <int R, int V>
static inline void tile_vec(const int32_t* col, const float* vals, const float* bias, int32_t j0, int32_t j1,
                            const float* x, float* y, int64_t hw, int64_t p, int64_t rb, int act) {
  v8 acc[R][V];
  _Pragma("GCC unroll 16") for (int r = 0; r < R; ++r)
    _Pragma("GCC unroll 16") for (int v = 0; v < V; ++v) acc[r][v] = (v8){} + (bias ? bias[rb * R + r] : 0.f);
  for (int32_t j = j0; j < j1; ++j) {
    const float* xs = x + (int64_t)col[j] * hw + p;
    const float* w = vals + (int64_t)j * R;
    v8 wr[R];
    _Pragma("GCC unroll 16") for (int r = 0; r < R; ++r) wr[r] = (v8){} + w[r];
    _Pragma("GCC unroll 16") for (int v = 0; v < V; ++v) {
      v8 xv;
      std::memcpy(&xv, xs + 8 * v, sizeof(v8));
      _Pragma("GCC unroll 16") for (int r = 0; r < R; ++r) acc[r][v] += wr[r] * xv;
    }
  }
  _Pragma("GCC unroll 16") for (int r = 0; r < R; ++r) {
    clamp<V>(acc[r], act);
    _Pragma("GCC unroll 16") for (int v = 0; v < V; ++v)
      std::memcpy(y + (rb * R + r) * hw + p + 8 * v, &acc[r][v], sizeof(v8));
  }
}

// The last n < 8 pixels.
template <int R>
static inline void tile_scalar(const int32_t* col, const float* vals, const float* bias, int32_t j0, int32_t j1,
                               const float* x, float* y, int64_t hw, int64_t p, int64_t n, int64_t rb, int act) {
  float acc[R][8];
  _Pragma("GCC unroll 16") for (int r = 0; r < R; ++r)
    for (int t = 0; t < 8; ++t) acc[r][t] = bias ? bias[rb * R + r] : 0.f;
  for (int32_t j = j0; j < j1; ++j) {
    const float* xs = x + (int64_t)col[j] * hw + p;
    const float* w = vals + (int64_t)j * R;
    _Pragma("GCC unroll 16") for (int r = 0; r < R; ++r)
      for (int64_t t = 0; t < n; ++t) acc[r][t] += w[r] * xs[t];
  }
  _Pragma("GCC unroll 16") for (int r = 0; r < R; ++r)
    for (int64_t t = 0; t < n; ++t) {
      float a = acc[r][t];
      if (act >= 1 && a < 0.f) a = 0.f;
      if (act == 2 && a > 6.f) a = 6.f;
      y[(rb * R + r) * hw + p + t] = a;
    }
}

template <int R>
static inline void tile_rest(int64_t nv, const int32_t* col, const float* vals, const float* bias, int32_t j0,
                             int32_t j1, const float* x, float* y, int64_t hw, int64_t p, int64_t rb, int act) {
  switch (nv) {
    case 1: tile_vec<R, 1>(col, vals, bias, j0, j1, x, y, hw, p, rb, act); break;
    case 2: tile_vec<R, 2>(col, vals, bias, j0, j1, x, y, hw, p, rb, act); break;
    case 3: tile_vec<R, 3>(col, vals, bias, j0, j1, x, y, hw, p, rb, act); break;
    case 4: tile_vec<R, 4>(col, vals, bias, j0, j1, x, y, hw, p, rb, act); break;
    case 5: tile_vec<R, 5>(col, vals, bias, j0, j1, x, y, hw, p, rb, act); break;
    case 6: tile_vec<R, 6>(col, vals, bias, j0, j1, x, y, hw, p, rb, act); break;
    case 7: tile_vec<R, 7>(col, vals, bias, j0, j1, x, y, hw, p, rb, act); break;
  }
}

// Work items: (pixel chunk, row block), chunk-major. Chunks: full tiles of 8V pixels, then one tile
// of the remaining whole vectors (1..V-1 of them, so 7x7 and 14x14 maps keep several accumulators),
// then the last < 8 pixels.
template <int R, int V>
static void spmm_image(const int32_t* rowptr, const int32_t* col, const float* vals, const float* bias,
                       const float* x, float* y, int64_t nrb, int64_t hw, int act) {
  constexpr int64_t T = 8 * V;
  const int64_t nmain = hw / T, rest = hw - nmain * T, nv = rest / 8, tail = rest % 8;
  const int64_t nchunks = nmain + (nv ? 1 : 0) + (tail ? 1 : 0);
  at::parallel_for(0, nchunks * nrb, 1, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      const int64_t chunk = i / nrb, rb = i % nrb;
      const int32_t j0 = rowptr[rb], j1 = rowptr[rb + 1];
      if (chunk < nmain)
        tile_vec<R, V>(col, vals, bias, j0, j1, x, y, hw, chunk * T, rb, act);
      else if (nv && chunk == nmain)
        tile_rest<R>(nv, col, vals, bias, j0, j1, x, y, hw, nmain * T, rb, act);
      else
        tile_scalar<R>(col, vals, bias, j0, j1, x, y, hw, hw - tail, tail, rb, act);
    }
  });
}

// x: (N, c_in, hw) contiguous float32 -> act((N, nrb * block, hw) + bias[row]); W is block-CSR with
// row blocks of `block` output channels: rowptr[nrb + 1], col[nnzb] (the input channel of each
// block), vals[nnzb * block]. at::parallel_for shares PyTorch's OpenMP pool and thread count.
torch::Tensor spmm(torch::Tensor rowptr, torch::Tensor col, torch::Tensor vals, torch::Tensor x, int64_t block,
                   torch::Tensor bias, int64_t act) {
  TORCH_CHECK(x.dim() == 3 && x.is_contiguous() && x.scalar_type() == torch::kFloat, "x must be (N, C, HW) float32");
  TORCH_CHECK(rowptr.scalar_type() == torch::kInt && col.scalar_type() == torch::kInt, "indices must be int32");
  TORCH_CHECK(act >= 0 && act <= 2, "act: 0 none, 1 relu, 2 relu6");
  const int64_t batch = x.size(0), c_in = x.size(1), hw = x.size(2), nrb = rowptr.size(0) - 1;
  auto out = torch::empty({batch, nrb * block, hw}, x.options());
  const int32_t* rp = rowptr.data_ptr<int32_t>();
  const int32_t* cl = col.data_ptr<int32_t>();
  const float* vl = vals.data_ptr<float>();
  TORCH_CHECK(bias.numel() == 0 || (bias.numel() == nrb * block && bias.is_contiguous()), "bias: one per row");
  const float* bs = bias.numel() ? bias.data_ptr<float>() : nullptr;
  const int a = (int)act;
  for (int64_t b = 0; b < batch; ++b) {
    const float* xb = x.data_ptr<float>() + b * c_in * hw;
    float* yb = out.data_ptr<float>() + b * nrb * block * hw;
    if (block == 1) spmm_image<1, 8>(rp, cl, vl, bs, xb, yb, nrb, hw, a);
    else if (block == 2) spmm_image<2, 4>(rp, cl, vl, bs, xb, yb, nrb, hw, a);
    else if (block == 4) spmm_image<4, 2>(rp, cl, vl, bs, xb, yb, nrb, hw, a);
    else TORCH_CHECK(false, "block must be 1, 2 or 4, got ", block);
  }
  return out;
}
"""
_FLAGS = ("-O3", "-march=native", "-fno-math-errno", "-ffp-contract=fast", "-fopenmp")
_LDFLAGS = ("-fopenmp",)  # the same libgomp.so.1 PyTorch loaded: one thread pool, its thread count
ACTIVATIONS = {"none": 0, "relu": 1, "relu6": 2}

_EMPTY = torch.empty(0)
_lock = threading.Lock()
_extension: ModuleType | None = None
_extension_error: str | None = None


def cache_dir() -> Path:
    """Where compiled kernels live: ``$NAS_KERNEL_CACHE``, else ``$NAS_HOME/kernels``, else
    ``~/.cache/nas/kernels``; one subfolder per (source, flags, torch, CPU), so a folder shared
    between machines never hands out code built for another CPU."""
    if root := os.environ.get("NAS_KERNEL_CACHE"):
        base = Path(root)
    elif home := os.environ.get("NAS_HOME"):
        base = Path(home) / "kernels"
    else:
        base = Path.home() / ".cache" / "nas" / "kernels"
    return base / f"spmm_{_build_key()}"


def _cpu_flags() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                return line
    except OSError:
        pass
    return platform.processor()


def _build_key() -> str:
    text = "\n".join([_SOURCE, " ".join((*_FLAGS, *_LDFLAGS)), torch.__version__, platform.machine(), _cpu_flags()])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def block_extension() -> ModuleType | None:
    """The compiled block-sparse kernel (built on first use, then loaded from the cache), or
    None when it cannot be built here (no compiler); the reason is in `extension_error`."""
    global _extension, _extension_error
    if _extension is not None or _extension_error is not None:
        return _extension
    with _lock:
        if _extension is None and _extension_error is None:
            if os.environ.get("NAS_SPARSE_NO_EXTENSION"):
                _extension_error = "disabled by NAS_SPARSE_NO_EXTENSION"
                return None
            from torch.utils.cpp_extension import load_inline

            folder = cache_dir()
            folder.mkdir(parents=True, exist_ok=True)
            try:
                _extension = load_inline(
                    name=f"nas_spmm_{_build_key()}",
                    cpp_sources=[_SOURCE],
                    functions=["spmm"],
                    extra_cflags=list(_FLAGS),  # copies: load_inline appends to its lists
                    extra_ldflags=list(_LDFLAGS),
                    build_directory=str(folder),
                    verbose=False,
                )
            except Exception as e:  # no compiler, no ninja, unsupported flags: CSR remains
                _extension_error = f"{type(e).__name__}: {e}"
                log.warning("block-sparse kernel unavailable (%s); using torch CSR", _extension_error)
    return _extension


def extension_error() -> str | None:
    """Why the compiled kernel is unavailable (None when it loaded or was not tried yet)."""
    return _extension_error


@dataclass(frozen=True)
class BlockCsr:
    """A (rows, cols) weight as block-CSR with row blocks of ``block`` output channels.

    Rows that do not fill a whole block (``rows % block`` at the end) form a second, unstructured
    part, as the pruning treats them (see `search_spaces.ops.sparse.block_segments`).
    """

    rows: int
    cols: int
    block: int
    rowptr: torch.Tensor
    col: torch.Tensor
    vals: torch.Tensor
    tail: BlockCsr | None

    @property
    def nnz(self) -> int:
        return int(self.vals.numel()) + (self.tail.nnz if self.tail is not None else 0)

    @classmethod
    def from_dense(cls, weight: torch.Tensor, keep: torch.Tensor, block: int) -> BlockCsr:
        """Pack ``weight`` (rows, cols) where ``keep`` is true; a block is stored when any of its
        entries is kept (the others are stored as zeros)."""
        rows, cols = weight.shape
        full = rows - rows % block
        w = (weight * keep).detach().float()
        tail = cls.from_dense(weight[full:], keep[full:], 1) if full < rows else None
        blocks = w[:full].reshape(full // block, block, cols)  # (row block, r, col)
        present = keep[:full].reshape(full // block, block, cols).any(dim=1)  # (row block, col)
        counts = present.sum(dim=1)
        rowptr = torch.zeros(full // block + 1, dtype=torch.int32)
        rowptr[1:] = torch.cumsum(counts, 0)
        rb, col = present.nonzero(as_tuple=True)
        vals = blocks.permute(0, 2, 1)[rb, col].contiguous()  # (nnzb, block)
        return cls(rows, cols, block, rowptr, col.to(torch.int32).contiguous(), vals.reshape(-1), tail)

    def matmul(self, x: torch.Tensor, bias: torch.Tensor | None = None, act: str = "none") -> torch.Tensor:
        """``act((N, cols, HW) -> (N, rows, HW) + bias)`` through the compiled kernel (``act``: one
        of `ACTIVATIONS`, applied as the result is stored)."""
        ext = block_extension()
        if ext is None:
            raise RuntimeError(f"block-sparse kernel unavailable: {extension_error()}")
        full = self.rows - (self.tail.rows if self.tail is not None else 0)
        b = _EMPTY if bias is None else bias[:full].contiguous()
        out = ext.spmm(self.rowptr, self.col, self.vals, x, self.block, b, ACTIVATIONS[act])
        if self.tail is None:
            return out
        return torch.cat([out, self.tail.matmul(x, None if bias is None else bias[full:], act)], dim=1)


@dataclass
class PackedWeight:
    """One layer's masked (rows, cols) weight in the sparse formats available here."""

    rows: int
    cols: int
    nnz: int
    csr: torch.Tensor | None
    block: BlockCsr | None

    def formats(self) -> list[str]:
        """Sparse backends that can run this layer here."""
        return [name for name, packed in (("csr", self.csr), ("block", self.block)) if packed is not None]

    def matmul(
        self, x: torch.Tensor, backend: str, bias: torch.Tensor | None = None, act: str = "none"
    ) -> torch.Tensor:
        """``act((N, cols, HW) -> (N, rows, HW) + bias)`` with the ``csr`` or ``block`` backend."""
        if backend == "block" and self.block is not None:
            return self.block.matmul(x, bias, act)
        if backend == "csr" and self.csr is not None:
            out = torch.stack([torch.sparse.mm(self.csr, xi) for xi in x])
            out = out if bias is None else out + bias[:, None]
            return activation(out, act)
        raise ValueError(f"backend: {backend!r} is not available for this layer; available: {self.formats()}")


def activation(x: torch.Tensor, act: str) -> torch.Tensor:
    """``x`` through the activation named ``act`` (one of `ACTIVATIONS`), in place where possible."""
    if act == "relu6":
        return torch.nn.functional.relu6(x, inplace=not x.requires_grad)
    if act == "relu":
        return torch.relu(x)
    if act != "none":
        raise ValueError(f"act: {act!r} is not allowed; allowed: {', '.join(ACTIVATIONS)}")
    return x


def pack(weight: torch.Tensor, keep: torch.Tensor, block: int) -> PackedWeight:
    """``weight * keep`` (rows, cols) as torch CSR and, when the kernel is available, block-CSR."""
    if block not in BLOCKS:
        raise ValueError(f"block: {block} is not allowed; allowed: {', '.join(map(str, BLOCKS))}")
    with warnings.catch_warnings():  # "sparse CSR support is in beta": we test what we use
        warnings.simplefilter("ignore", UserWarning)
        csr = (weight * keep).detach().float().contiguous().to_sparse_csr()
    packed_block = BlockCsr.from_dense(weight, keep, block) if block_extension() is not None else None
    rows, cols = weight.shape
    return PackedWeight(rows, cols, int(csr.values().numel()), csr, packed_block)


_choices: dict[tuple, str] = {}


def fastest(key: tuple, runs: dict[str, Callable[[], object]], *, repeats: int = 3) -> str:
    """The name of the fastest of ``runs``, measured once per ``key`` and thread count in this
    process: after a warm-up the candidates run round-robin ``repeats`` times and each keeps its
    best time, so a burst of load from other processes does not decide the choice."""
    key = (*key, torch.get_num_threads())
    if key not in _choices:
        for fn in runs.values():
            fn()
        best = dict.fromkeys(runs, float("inf"))
        for _ in range(repeats):
            for name, fn in runs.items():
                start = time.perf_counter()
                fn()
                best[name] = min(best[name], time.perf_counter() - start)
        _choices[key] = min(best, key=best.__getitem__)
    return _choices[key]
