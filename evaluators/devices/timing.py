"""Timing on a device: warm-up, repeated runs, median and interquartile spread.

Tiny operators run many times per sample so each sample lasts at least ``min_sample_s``; the
sample is the mean of that inner loop, and the reported value is the median over samples.
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
    """Latency in milliseconds: median, interquartile range, number of samples."""

    median_ms: float
    spread_ms: float
    runs: int


def time_call(fn: Callable[[], object], *, warmup: int, repeats: int, min_sample_s: float = 2e-3) -> Stats:
    for _ in range(max(1, warmup)):
        fn()
    start = time.perf_counter()
    fn()
    inner = max(1, math.ceil(min_sample_s / max(time.perf_counter() - start, 1e-7)))
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(inner):
            fn()
        samples.append((time.perf_counter() - start) / inner * 1e3)
    q1, med, q3 = np.percentile(samples, [25, 50, 75])
    return Stats(float(med), float(q3 - q1), repeats)


class Measurer(Protocol):
    def measure(self, module: nn.Module, shape: tuple[int, int, int], *, warmup: int, repeats: int) -> Stats:
        """Latency of ``module`` on an input of (channels, height, width) at the device's batch size."""
        ...


class TorchMeasurer:
    """PyTorch eager, inference mode, on the CPU (or the first CUDA device)."""

    def __init__(self, *, threads: int, batch_size: int, cuda: bool = False) -> None:
        self.batch_size = batch_size
        self.device = torch.device("cuda" if cuda else "cpu")
        if not cuda:
            torch.set_num_threads(threads)

    def measure(self, module: nn.Module, shape: tuple[int, int, int], *, warmup: int, repeats: int) -> Stats:
        module = module.eval().to(self.device)
        x = torch.randn(self.batch_size, *shape, device=self.device)
        sync = torch.cuda.synchronize if self.device.type == "cuda" else (lambda: None)

        def run() -> None:
            module(x)
            sync()

        with torch.inference_mode():
            return time_call(run, warmup=warmup, repeats=repeats)


class OnnxRuntimeMeasurer:
    """ONNX Runtime on the CPU: the module is exported (TorchScript-based exporter: fast per
    operator) and run with full graph optimisations, as a deployed model would be."""

    def __init__(self, *, threads: int, batch_size: int) -> None:
        import onnxruntime as ort

        self.batch_size = batch_size
        self.options = ort.SessionOptions()
        self.options.intra_op_num_threads = threads
        self.options.inter_op_num_threads = 1
        self.options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL

    def measure(self, module: nn.Module, shape: tuple[int, int, int], *, warmup: int, repeats: int) -> Stats:
        import onnxruntime as ort

        x = torch.randn(self.batch_size, *shape)
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "op.onnx"
            torch.onnx.export(module.eval(), (x,), str(path), dynamo=False, input_names=["x"])
            session = ort.InferenceSession(str(path), self.options, providers=["CPUExecutionProvider"])
        feed = {"x": x.numpy()}
        return time_call(lambda: session.run(None, feed), warmup=warmup, repeats=repeats)
