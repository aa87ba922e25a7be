"""Seconds per step of the DARTS / DASS search (issue 25): the reference one-shot network against the default one.

One search step is an architecture step (Adam on the architecture weights, the validation loss)
and a weight step (SGD on the training loss; in DASS's prune phase the scores learn instead).
For the reduced CPU setting (one-shot network C=8, L=5, batch 32, 28x28x1 inputs, 10 classes) this
times both steps of `DifferentiableSearch` in three phases: DARTS (dense), DASS prune (90% sparse,
scores learning, masks change every step) and DASS finetune (90% sparse, masks fixed), for
``reference=True`` (the code before issue 25: per-primitive MixedOp, top-k in every forward,
oneDNN's dilated kernels, full backward in the architecture step) and the default path, on
one thread. Median of ``--steps`` steps after ``--warmup``; wall and CPU (process) seconds, the
latter less sensitive to other processes on the core. Pin the process to one core:

    taskset -c 0 .venv/bin/python -m benchmarks.dass_step [--steps 10] [--out benchmarks/results/dass_step.json]
    taskset -c 0 .venv/bin/python -m benchmarks.dass_step --traffic   # bytes one step moves, and the floor they set

Random images (the speed does not depend on the pixels): no dataset needed.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import time
from pathlib import Path

import numpy as np
import torch

from evaluators.dass.search import DifferentiableSearch, SearchConfig, memory_format
from evaluators.datasets import Arrays

PHASES = {"darts": ("darts", "pretrain"), "dass_prune": ("dass", "prune"), "dass_finetune": ("dass", "finetune")}


def _timed(fn: object) -> tuple[float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    fn()  # type: ignore[operator]
    return time.perf_counter() - wall, time.process_time() - cpu


def measure(name: str, *, reference: bool, steps: int, warmup: int, batch: int) -> dict[str, object]:
    method, phase = PHASES[name]
    rng = np.random.default_rng(0)
    n = 2 * batch * 4
    data = Arrays(rng.standard_normal((n, 1, 28, 28)).astype(np.float32), rng.integers(0, 10, n).astype(np.int64))
    config = SearchConfig(method=method, epochs=5, channels=8, layers=5, batch_size=batch, sparsity=0.9)
    search = DifferentiableSearch(config, train=data, num_classes=10, threads=1, reference=reference)
    if phase != "pretrain":
        search._enter("pretrain", 1)
    search._enter(phase, 1)
    search.net.train()
    xs, ys, xv, yv = search.x_train[:batch], search.y_train[:batch], search.x_val[:batch], search.y_val[:batch]
    rows: dict[str, list[float]] = {k: [] for k in ("arch_wall", "arch_cpu", "weight_wall", "weight_cpu")}
    for i in range(warmup + steps):
        aw, ac = _timed(lambda: search.arch_step(xv, yv))
        ww, wc = _timed(lambda: search.weight_step(xs, ys))
        if i >= warmup:
            for k, v in zip(rows, (aw, ac, ww, wc), strict=True):
                rows[k].append(v)
    med = {k: statistics.median(v) for k, v in rows.items()}
    return {
        "phase": name,
        "path": "reference" if reference else "default",
        **{f"{k}_s": round(v, 4) for k, v in med.items()},
        "step_wall_s": round(med["arch_wall"] + med["weight_wall"], 4),
        "step_cpu_s": round(med["arch_cpu"] + med["weight_cpu"], 4),
        "weight_wall_all_s": [round(v, 4) for v in rows["weight_wall"]],
    }


VIEWS = {"detach", "view", "slice", "permute", "_unsafe_view", "as_strided", "t", "transpose", "expand", "alias"}


def traffic(*, batch: int) -> dict[str, object]:
    """Bytes every aten call of one DARTS step (default path) reads and writes (tensors of more
    than 64 elements, view-only calls left out), beside this core's bandwidth for an
    elementwise add of step-sized tensors (cache-resident) and for a 64 MB copy (DRAM): the
    floor the step's memory traffic sets, whatever the kernels."""
    from collections import Counter

    from torch.utils._python_dispatch import TorchDispatchMode
    from torch.utils._pytree import tree_flatten

    class Count(TorchDispatchMode):
        def __init__(self) -> None:
            super().__init__()
            self.bytes: Counter[str] = Counter()

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # type: ignore[no-untyped-def]
            out = func(*args, **(kwargs or {}))
            name = func.__name__.split(".")[0]
            if name not in VIEWS:
                tensors = tree_flatten((args, kwargs, out))[0]
                self.bytes[name] += sum(
                    t.numel() * t.element_size() for t in tensors if isinstance(t, torch.Tensor) and t.numel() > 64
                )
            return out

    rng = np.random.default_rng(0)
    n = 2 * batch * 4
    data = Arrays(rng.standard_normal((n, 1, 28, 28)).astype(np.float32), rng.integers(0, 10, n).astype(np.int64))
    search = DifferentiableSearch(
        SearchConfig(method="darts", epochs=5, channels=8, layers=5, batch_size=batch), train=data, num_classes=10
    )
    search._enter("pretrain", 1)
    search.net.train()
    xs, ys, xv, yv = search.x_train[:batch], search.y_train[:batch], search.x_val[:batch], search.y_val[:batch]
    search.arch_step(xv, yv)
    search.weight_step(xs, ys)
    count = Count()
    with count:
        search.arch_step(xv, yv)
        search.weight_step(xs, ys)
    a, b = torch.randn(batch, 8, 28, 28), torch.randn(batch, 8, 28, 28)
    o = torch.empty_like(a)
    for _ in range(20):
        torch.add(a, b, out=o)
    t = time.perf_counter()
    for _ in range(2000):
        torch.add(a, b, out=o)
    cached = 3 * a.nbytes * 2000 / (time.perf_counter() - t)
    big = torch.randn(16 * 1024 * 1024)
    dst = torch.empty_like(big)
    dst.copy_(big)
    t = time.perf_counter()
    for _ in range(20):
        dst.copy_(big)
    dram = 2 * big.nbytes * 20 / (time.perf_counter() - t)
    total = sum(count.bytes.values())
    return {
        "bytes_per_step": total,
        "top": {k: v for k, v in count.bytes.most_common(10)},
        "bandwidth_cached_gb_s": round(cached / 1e9, 1),
        "bandwidth_dram_gb_s": round(dram / 1e9, 1),
        "floor_cached_s": round(total / cached, 3),
        "floor_dram_s": round(total / dram, 3),
    }


def machine() -> dict[str, object]:
    model = ""
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=False).stdout
        model = next((line.split(":", 1)[1].strip() for line in out.splitlines() if line.startswith("Model name")), "")
    except OSError:
        pass
    return {
        "cpu_model": model,
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "affinity": sorted(os.sched_getaffinity(0)),
        "load_average": os.getloadavg(),
        "memory_format": str(memory_format()),
        "python": platform.python_version(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--phases", nargs="+", default=list(PHASES), choices=list(PHASES))
    parser.add_argument("--paths", nargs="+", default=["reference", "default"], choices=["reference", "default"])
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/dass_step.json"))
    parser.add_argument("--traffic", action="store_true", help="Only count the DARTS step's memory traffic.")
    args = parser.parse_args()
    torch.set_num_threads(1)
    if args.traffic:
        t = traffic(batch=args.batch)
        moved = t["bytes_per_step"] / 1e9  # type: ignore[operator]
        print(f"one DARTS step moves {moved:.1f} GB; at {t['bandwidth_cached_gb_s']} GB/s (cache) "
              f"{t['floor_cached_s']} s, at {t['bandwidth_dram_gb_s']} GB/s (DRAM) {t['floor_dram_s']} s")  # fmt: skip
        for k, v in t["top"].items():  # type: ignore[union-attr]
            print(f"  {k:32s} {v / 1e9:6.2f} GB")
        out = args.out.with_name(args.out.stem + "-traffic.json")
        out.write_text(json.dumps({"machine": machine(), "batch": args.batch, **t}, indent=1) + "\n")
        print(f"wrote {out}")
        return
    results = []
    print(f"{'phase':14s} {'path':10s} {'arch s':>8s} {'weight s':>9s} {'step s':>8s}   (wall; cpu in brackets)")
    for name in args.phases:
        for path in args.paths:
            r = measure(name, reference=path == "reference", steps=args.steps, warmup=args.warmup, batch=args.batch)
            results.append(r)
            print(
                f"{name:14s} {path:10s} {r['arch_wall_s']:8.3f} {r['weight_wall_s']:9.3f} {r['step_wall_s']:8.3f}"
                f"   ({r['arch_cpu_s']:.3f} {r['weight_cpu_s']:.3f} {r['step_cpu_s']:.3f})",
                flush=True,
            )
    setting = {"channels": 8, "layers": 5, "batch": args.batch, "input": [1, 28, 28], "classes": 10, "sparsity": 0.9}
    record = {"machine": machine(), "setting": setting, "steps": args.steps, "warmup": args.warmup, "results": results}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(record, indent=1) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
