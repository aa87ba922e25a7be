"""Timing on a device: warm-up, repeated runs, median and interquartile spread.

Tiny operators run many times per sample so each sample lasts at least ``min_sample_s``; the
sample is the mean of that inner loop, and the reported value is the median over samples.

Drift correction: a shared machine (a cloud VM, a phone that throttles) changes speed over
seconds to minutes — the same network measured here varied up to 2x within ten minutes on a
quiet 2-core VM. So each sample of the subject is followed by a sample of a fixed **probe**
network (`probe_network`), and `Stats.ratio` is the median of subject/probe over the pairs:
a speed-independent latency. `Stats.at` converts it to milliseconds at a reference probe time
(a latency table keeps one, measured when its measurement started), so every entry and every
end-to-end measurement of a table is expressed at the same machine speed.

Allocator: with glibc's default malloc, a network whose activations are megabytes (MnasNet's
112x112 layers with expansion 6: 9.6 MB tensors) returns its heap to the kernel after every
call and page-faults it back on the next — on this VM that doubled some networks' latency and
made it depend on what ran before (an operator measured alone did not pay it). CPU measurers
therefore run with `tune_allocator` (freed memory stays in the heap), as an inference server
with jemalloc/tcmalloc or tuned glibc does; the measured latencies are those of such a deployment.
"""

from __future__ import annotations

import math
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
import torch
from torch import nn


@dataclass(frozen=True)
class Stats:
    """Latency in milliseconds: median, interquartile range, number of samples; with a probe, the
    probe's median (ms) and the median subject/probe ratio of the interleaved samples."""

    median_ms: float
    spread_ms: float
    runs: int
    probe_ms: float | None = None
    ratio: float | None = None

    def at(self, reference_ms: float | None) -> tuple[float, float]:
        """(median, spread) in ms at a machine speed where the probe takes ``reference_ms``; the raw
        values when there was no probe or no reference."""
        if self.ratio is None or self.probe_ms is None or reference_ms is None:
            return self.median_ms, self.spread_ms
        return self.ratio * reference_ms, self.spread_ms * reference_ms / self.probe_ms


def _inner_loops(fn: Callable[[], object], min_sample_s: float) -> int:
    start = time.perf_counter()
    fn()
    return max(1, math.ceil(min_sample_s / max(time.perf_counter() - start, 1e-7)))


def _sample(fn: Callable[[], object], inner: int) -> float:
    start = time.perf_counter()
    for _ in range(inner):
        fn()
    return (time.perf_counter() - start) / inner * 1e3


def time_call(
    fn: Callable[[], object],
    *,
    warmup: int,
    repeats: int,
    min_sample_s: float = 2e-3,
    probe: Callable[[], object] | None = None,
) -> Stats:
    """Median (and IQR) over ``repeats`` samples of ``fn``; with ``probe``, each sample is paired
    with one of the probe and the median subject/probe ratio is reported too."""
    for _ in range(max(1, warmup)):
        fn()
    inner = _inner_loops(fn, min_sample_s)
    probe_inner = _inner_loops(probe, min_sample_s) if probe is not None else 0
    samples, probes = [], []
    for _ in range(repeats):
        samples.append(_sample(fn, inner))
        if probe is not None:
            probes.append(_sample(probe, probe_inner))
    q1, med, q3 = np.percentile(samples, [25, 50, 75])
    if probe is None:
        return Stats(float(med), float(q3 - q1), repeats)
    ratio = float(np.median(np.asarray(samples) / np.asarray(probes)))
    return Stats(float(med), float(q3 - q1), repeats, float(np.median(probes)), ratio)


def probe_network() -> nn.Module:
    """The fixed probe: conv 3x3, depthwise 3x3 and pointwise layers with BatchNorm and ReLU at
    56x56 (about 1.5 ms on one core of a recent x86 CPU), seeded so every agent runs the same."""
    gen = torch.Generator().manual_seed(0)
    net = nn.Sequential(
        nn.Conv2d(16, 32, 3, padding=1),
        nn.BatchNorm2d(32),
        nn.ReLU(),
        nn.Conv2d(32, 32, 3, padding=1, groups=32),
        nn.ReLU(),
        nn.Conv2d(32, 64, 1),
        nn.BatchNorm2d(64),
    )
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(torch.randn(p.shape, generator=gen) * 0.1)
    return net.eval()


PROBE_INPUT = (16, 56, 56)


class Measurer(Protocol):
    def measure(self, module: nn.Module, shape: tuple[int, int, int], *, warmup: int, repeats: int) -> Stats:
        """Latency of ``module`` on an input of (channels, height, width) at the device's batch size."""
        ...

    def reference(self, *, repeats: int = 50) -> float | None:
        """The probe's median latency now (ms), or None for a measurer without drift correction."""
        ...


def tune_allocator() -> bool:
    """Keep freed memory in the heap (glibc: mmap threshold 32 MB, no trimming) so repeated
    inference does not page-fault its activations back every call; False where not glibc."""
    import ctypes
    import ctypes.util

    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name or "libc.so.6")
        m_trim_threshold, m_mmap_threshold = -1, -3
        return bool(libc.mallopt(m_mmap_threshold, 32 << 20)) and bool(libc.mallopt(m_trim_threshold, 1 << 30))
    except (OSError, AttributeError):
        return False


def _cpu_probe() -> Callable[[], object]:
    net, x = probe_network(), torch.randn(1, *PROBE_INPUT)

    def run() -> None:
        with torch.inference_mode():
            net(x)

    return run


def _reference(probe: Callable[[], object] | None, repeats: int) -> float | None:
    return None if probe is None else time_call(probe, warmup=5, repeats=repeats).median_ms


class TorchMeasurer:
    """PyTorch eager, inference mode, on the CPU (drift-corrected by the probe) or the first CUDA
    device."""

    def __init__(self, *, threads: int, batch_size: int, cuda: bool = False) -> None:
        self.batch_size = batch_size
        self.device = torch.device("cuda" if cuda else "cpu")
        self.probe = None if cuda else _cpu_probe()
        if not cuda:
            torch.set_num_threads(threads)
            tune_allocator()

    def measure(self, module: nn.Module, shape: tuple[int, int, int], *, warmup: int, repeats: int) -> Stats:
        module = module.eval().to(self.device)
        x = torch.randn(self.batch_size, *shape, device=self.device)
        sync = torch.cuda.synchronize if self.device.type == "cuda" else (lambda: None)

        def run() -> None:
            module(x)
            sync()

        with torch.inference_mode():
            return time_call(run, warmup=warmup, repeats=repeats, probe=self.probe)

    def reference(self, *, repeats: int = 50) -> float | None:
        return _reference(self.probe, repeats)


class OnnxRuntimeMeasurer:
    """ONNX Runtime on the CPU: the module is exported (TorchScript-based exporter: fast per
    operator) and run with full graph optimisations, as a deployed model would be; drift-corrected
    by the probe (run in PyTorch: it gauges the CPU's speed, not the runtime's)."""

    def __init__(self, *, threads: int, batch_size: int) -> None:
        import onnxruntime as ort

        self.batch_size = batch_size
        self.options = ort.SessionOptions()
        self.options.intra_op_num_threads = threads
        self.options.inter_op_num_threads = 1
        self.options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self.probe = _cpu_probe()  # PyTorch, at the runtime's thread count
        torch.set_num_threads(threads)
        tune_allocator()

    def measure(self, module: nn.Module, shape: tuple[int, int, int], *, warmup: int, repeats: int) -> Stats:
        import onnxruntime as ort

        x = torch.randn(self.batch_size, *shape)
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "op.onnx"
            torch.onnx.export(module.eval(), (x,), str(path), dynamo=False, input_names=["x"])
            session = ort.InferenceSession(str(path), self.options, providers=["CPUExecutionProvider"])
        feed = {"x": x.numpy()}
        return time_call(lambda: session.run(None, feed), warmup=warmup, repeats=repeats, probe=self.probe)

    def reference(self, *, repeats: int = 50) -> float | None:
        return _reference(self.probe, repeats)
