"""Training and scoring throughput against this CPU's GEMM peak: today's path and the best path, side by side.

Prints this CPU's fp32 GEMM peak (``torch.mm`` of 2048x2048 matrices) and copy bandwidth (a
256 MiB tensor copy), then for each workload the images/s of the path the service took before
issue 25 ("today", frozen here as it was) and of the product code now ("best"), measured in the
same run and alternated, with the achieved GFLOP/s (training 3 x 2 x MACs per image for forward
and backward, inference 2 x MACs; MACs from the spaces' exact ``ops``/``cost``) and its share
of the peak:

* ``train``: the ``train`` evaluator's training loop (`evaluators.scratch.TrainEvaluator`,
  `evaluators.training.train_epochs`) on three fixed MnasNet-space subnets at width 0.5
  (the MnasNet-A1 and B1 references and MobileNetV2);
* ``sandwich``: one `SandwichTrainer` step on the MnasNet supernet at width 0.5 (largest,
  smallest and 4 random subnets; images/s counts each batch image once);
* ``dass_oneshot``: the DARTS/DASS one-shot step, reported from ``benchmarks/results/dass_step.json``
  (`benchmarks/dass_step.py`) when it exists;
* ``nasnet``: the ``train`` evaluator's loop on a NASNet-A cell network (N=2, f=16);
* ``sparse_train``: `evaluators.dass.sparse_train.train_sparse` (gradual pruning masks) on
  DARTS-V2 cells in the reduced CPU setting (C=8, L=5, 90% sparse; dense MACs counted: the masks
  do not skip work);
* ``scoring``: the ``supernet`` evaluator's per-candidate work (extract, BatchNorm recalibration
  on 256 images, fold, validation pass of ``--val`` images, ridge readout) on three subnets.

For the training step it also prints a bound: per operator, the larger of its FLOPs at the GEMM
peak and its minimum memory traffic at the measured copy bandwidth, summed over the step.

    taskset -c 1 .venv/bin/python -m benchmarks.training_throughput [--threads 1] [--images 640] [--repeats 3]

Results go to ``benchmarks/results/training_throughput.json`` (with the CPU model, flags summary,
torch version, threads and the load average, which says whether other work was running).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from evaluators.base import Task
from evaluators.dass import sparse_train
from evaluators.datasets import Arrays, DatasetNotFoundError, load_split, recalibration_images
from evaluators.scratch import TrainEvaluator
from evaluators.supernet import build_supernet
from evaluators.supernet import training as supernet_training
from evaluators.supernet.network import ElasticLayer, StagedSupernet, scaled_ops, zero_init_residuals
from evaluators.supernet.readout import readout_accuracy, ridge_cv_accuracy
from evaluators.training import cosine, sgd, steps_per_epoch, train_epochs
from search_spaces import Architecture, get_space
from search_spaces.cells.network import CellNetwork
from search_spaces.dass.presets import REFERENCES as DASS_REFERENCES
from search_spaces.mnasnet.presets import REFERENCES as MNASNET_REFERENCES
from search_spaces.nasnet.presets import REFERENCES as NASNET_REFERENCES
from search_spaces.ops.modules import Network

SHAPE = {"in_channels": 1, "input_size": 28, "num_classes": 10}
WIDTH = 0.5
RESULTS = Path(__file__).parent / "results" / "training_throughput.json"
DASS_STEP = Path(__file__).parent / "results" / "dass_step.json"
SUBNETS = ("mnasnet-a1", "mnasnet-b1", "mobilenet-v2")
NASNET_MACRO = "N=2 f=16 stem=1"


# -- the machine ---------------------------------------------------------------------------------
def gemm_peak(threads: int, n: int = 2048, repeats: int = 5) -> float:
    """fp32 GFLOP/s of ``torch.mm`` on n x n matrices (best of ``repeats``)."""
    torch.set_num_threads(threads)
    a, b = torch.randn(n, n), torch.randn(n, n)
    torch.mm(a, b)
    best = math.inf
    for _ in range(repeats):
        start = time.perf_counter()
        torch.mm(a, b)
        best = min(best, time.perf_counter() - start)
    return 2 * n**3 / best / 1e9


def copy_bandwidth(threads: int, mib: int = 256, repeats: int = 5) -> float:
    """GB/s read + written by ``Tensor.copy_`` of a ``mib`` MiB float32 tensor (best of ``repeats``)."""
    torch.set_num_threads(threads)
    x = torch.randn(mib * 2**20 // 4)
    y = torch.empty_like(x)
    y.copy_(x)
    best = math.inf
    for _ in range(repeats):
        start = time.perf_counter()
        y.copy_(x)
        best = min(best, time.perf_counter() - start)
    return 2 * x.numel() * 4 / best / 1e9


def machine() -> dict[str, Any]:
    try:
        lscpu = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        lscpu = ""
    fields = dict(line.split(":", 1) for line in lscpu.splitlines() if ":" in line)
    flags = set(fields.get("Flags", "").split())
    simd = [f for f in ("avx2", "fma", "avx512f", "avx512bw", "avx512_vnni", "avx512_bf16", "amx_tile") if f in flags]
    return {
        "cpu_model": fields.get("Model name", platform.processor()).strip(),
        "cpus": os.cpu_count(),
        "flags_summary": simd,
        "torch_cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "torch": torch.__version__,
        "python": platform.python_version(),
    }


def loadavg() -> list[float]:
    return [float(v) for v in Path("/proc/loadavg").read_text().split()[:3]]


# -- today's paths, frozen as they were before issue 25 -----------------------------------------
def today_batches(data: Arrays, batch_size: int, order: np.ndarray | None = None) -> Iterator[tuple[torch.Tensor, ...]]:
    index = np.arange(len(data)) if order is None else order
    for i in range(0, len(index), batch_size):
        take = index[i : i + batch_size]
        yield torch.from_numpy(data.x[take]), torch.from_numpy(data.y[take])


def today_sgd(model: nn.Module, *, lr: float, momentum: float, weight_decay: float, nesterov: bool) -> torch.optim.SGD:
    decay, plain = [], []
    for name, p in model.named_parameters():
        (plain if p.dim() <= 1 or "kernel_transforms" in name else decay).append(p)
    groups = [{"params": decay, "weight_decay": weight_decay}, {"params": plain, "weight_decay": 0.0}]
    return torch.optim.SGD(groups, lr=lr, momentum=momentum, nesterov=nesterov)


def today_train_epochs(
    model: nn.Module,
    data: Arrays,
    *,
    optimizer: torch.optim.Optimizer,
    scheduler: Any,
    epochs: int,
    batch_size: int,
    grad_clip: float,
    seed: int = 0,
    memory_format: torch.memory_format = torch.channels_last,
    on_epoch: Callable[[int], None] | None = None,
    on_step: Callable[[int], None] | None = None,
) -> Iterator[float]:
    torch.manual_seed(seed)
    step = 0
    for epoch in range(epochs):
        if on_epoch is not None:
            on_epoch(epoch)
        model.train()
        order = np.random.default_rng([seed, epoch]).permutation(len(data))
        loss_sum, count = 0.0, 0
        for x, y in today_batches(data, batch_size, order):
            if on_step is not None:
                on_step(step)
            optimizer.zero_grad(set_to_none=True)
            loss = F.cross_entropy(model(x.contiguous(memory_format=memory_format)), y)
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
            optimizer.step()
            scheduler.step()
            step += 1
            loss_sum, count = loss_sum + float(loss.detach()) * len(y), count + len(y)
        model.eval()
        yield loss_sum / max(1, count)


@torch.no_grad()
def today_recalibrate_bn(model: nn.Module, x: np.ndarray, batch_size: int = 256) -> None:
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    for bn in norms:
        bn.reset_running_stats()
        bn.momentum = None
    model.train()
    with model.no_drop_path() if isinstance(model, CellNetwork) else nullcontext():
        for i in range(0, len(x), batch_size):
            model(torch.from_numpy(x[i : i + batch_size]).contiguous(memory_format=torch.channels_last))
    model.eval()


@torch.no_grad()
def today_readout(model: nn.Module, data: Arrays, batch_size: int) -> float:
    model.eval()
    classifier = [m for m in model.modules() if isinstance(m, nn.Linear)][-1]
    seen: list[torch.Tensor] = []
    hook = classifier.register_forward_hook(lambda _m, inputs, _out: seen.append(inputs[0]))
    try:
        for x, _ in today_batches(data, batch_size):
            model(x.contiguous(memory_format=torch.channels_last))
    finally:
        hook.remove()
    return ridge_cv_accuracy(torch.cat(seen), torch.as_tensor(data.y))


@contextmanager
def today_supernet_layout() -> Iterator[None]:
    """The supernet as it was: batch and sliced weights made channels-last with ``.contiguous``,
    which leaves tensors of ambiguous layout (one channel, 1x1 kernels, unsliced weights) NCHW."""

    def active(self: Any, template: nn.Module, key: str, *, channels_last: bool = False) -> dict[str, torch.Tensor]:
        out = elastic_active(self, template, key)
        if channels_last:
            out = {k: t.contiguous(memory_format=torch.channels_last) if t.dim() == 4 else t for k, t in out.items()}
        return out

    def forward(self: Any, x: torch.Tensor, arch: Architecture) -> torch.Tensor:
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        for spec in self.ops(arch):
            x = self.layer(spec, x)
        return x

    elastic_active, staged_forward = ElasticLayer.active, StagedSupernet.forward
    ElasticLayer.active, StagedSupernet.forward = active, forward  # type: ignore[method-assign]
    try:
        yield
    finally:
        ElasticLayer.active, StagedSupernet.forward = elastic_active, staged_forward  # type: ignore[method-assign]


# -- workloads -----------------------------------------------------------------------------------
def mnasnet_macs(arch: Architecture, width: float = WIDTH) -> int:
    space = get_space("mnasnet")
    return sum(op.cost().macs for op in scaled_ops(space.ops(arch, **SHAPE), width))


def epoch_seconds(epochs: Iterator[float]) -> float:
    """Seconds of the fastest epoch after the first (warm-up: oneDNN primitives, allocator)."""
    times, start = [], time.perf_counter()
    for _ in epochs:
        times.append(time.perf_counter() - start)
        start = time.perf_counter()
    return min(times[1:])


def scratch_images_per_s(ev: TrainEvaluator, arch: Architecture, *, today: bool, epochs: int) -> float:
    """One `TrainEvaluator` training loop (``epochs`` over ``ev.train``); images/s of its fastest epoch
    after the first."""
    schedule = ev.schedule
    if today:
        torch.manual_seed(ev.seed)
        if ev.width == 1.0:
            model = zero_init_residuals(ev.space.build(arch, **ev.task.shape))
        else:
            model = zero_init_residuals(Network(scaled_ops(ev.space.ops(arch, **ev.task.shape), ev.width)))
        model = model.to(memory_format=torch.channels_last)
        optimizer = today_sgd(
            model, lr=schedule.lr, momentum=schedule.momentum, weight_decay=schedule.weight_decay, nesterov=True
        )
        run: Callable[..., Iterator[float]] = today_train_epochs
    else:
        model, optimizer = ev.prepare(arch)
        run = train_epochs
    scheduler = cosine(optimizer, epochs * steps_per_epoch(ev.train, schedule.batch_size))
    losses = run(
        model,
        ev.train,
        optimizer=optimizer,
        scheduler=scheduler,
        epochs=epochs,
        batch_size=schedule.batch_size,
        grad_clip=schedule.grad_clip,
        seed=ev.seed,
    )
    return len(ev.train) / epoch_seconds(losses)


def sandwich_images_per_s(net: Any, data: Arrays, *, today: bool, steps: int, seed: int = 0) -> tuple[float, float]:
    """Images/s of `SandwichTrainer` steps and the MACs per image summed over the step's subnets."""
    trainer = supernet_training.SandwichTrainer(net, data, supernet_training.Schedule(epochs=1), seed=seed)
    rng = np.random.default_rng(seed)
    drawn: list[Architecture] = []

    def counting(self: Any, x: torch.Tensor, arch: Architecture) -> torch.Tensor:
        drawn.append(arch)
        return type(self).forward(self, x, arch)

    net.forward = counting.__get__(net)
    net.train()
    batch = trainer.schedule.batch_size
    x_all, y_all = torch.from_numpy(data.x), torch.from_numpy(data.y)
    times = []
    try:
        if today:
            net.channels_last = True
            with today_supernet_layout():
                for i in range(steps + 1):
                    x, y = x_all[i * batch : (i + 1) * batch], y_all[i * batch : (i + 1) * batch]
                    start = time.perf_counter()
                    trainer.step(x, y, rng)
                    times.append(time.perf_counter() - start)
        else:
            with trainer.running():
                for i in range(steps + 1):
                    x, y = x_all[i * batch : (i + 1) * batch], y_all[i * batch : (i + 1) * batch]
                    start = time.perf_counter()
                    trainer.step(x, y, rng)
                    times.append(time.perf_counter() - start)
    finally:
        net.channels_last = False
        del net.forward
    macs = sum(mnasnet_macs(a) for a in drawn) / (steps + 1)
    return batch / float(np.median(times[1:])), macs


def scoring_images_per_s(
    net: Any, arch: Architecture, recal: np.ndarray, val: Arrays, *, today: bool
) -> tuple[float, float]:
    """Images/s (recalibration and validation images) of one candidate's scoring, and its score."""
    start = time.perf_counter()
    if today:
        model = net.extract(arch).to(memory_format=torch.channels_last)
        today_recalibrate_bn(model, recal, 256)
        score = today_readout(supernet_training.fold_batchnorm(model), val, 64)
    else:
        model = supernet_training.scoring_model(net, arch, recal=recal)
        score = readout_accuracy(model, val, readout="ridge", batch_size=64)
    return (len(recal) + len(val)) / (time.perf_counter() - start), score


def sparse_images_per_s(arch: Architecture, data: Arrays, *, today: bool, epochs: int) -> float:
    space = get_space("dass")
    torch.manual_seed(0)
    model = space.build(arch, **SHAPE)
    schedule = sparse_train.SparseSchedule(epochs=epochs)
    # train_sparse's setup (pruning schedule, optimizer) with today's or the product's loop and SGD
    fmt = sparse_train.memory_format()
    model.to(memory_format=fmt)
    total = schedule.epochs * steps_per_epoch(data, schedule.batch_size)
    end = max(1, int(schedule.prune_end * total))
    pruner = sparse_train.GradualPruning(model, begin=0, end=end, frequency=max(1, end // schedule.prune_updates))
    make, run = (today_sgd, today_train_epochs) if today else (sgd, train_epochs)
    optimizer = make(
        model, lr=schedule.lr, momentum=schedule.momentum, weight_decay=schedule.weight_decay, nesterov=False
    )
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, total, eta_min=schedule.lr_min)
    losses = run(
        model,
        data,
        optimizer=optimizer,
        scheduler=scheduler,
        epochs=schedule.epochs,
        batch_size=schedule.batch_size,
        grad_clip=schedule.grad_clip,
        memory_format=fmt,
        on_step=pruner.step,
    )
    return len(data) / epoch_seconds(losses)


# -- the bound -----------------------------------------------------------------------------------
def step_bound(model: nn.Module, batch: torch.Tensor, peak: float, bandwidth: float) -> dict[str, float]:
    """A lower bound on one training step's seconds: per leaf operator max(FLOPs / peak, bytes /
    bandwidth), forward and backward. Bytes are the least each operator must move in float32:
    forward reads its input and writes its output (BatchNorm reads its input twice: statistics,
    then normalisation); backward reads the saved input and the output's gradient and writes the
    input's gradient (BatchNorm: reads both twice). Weights are small and not counted."""
    rows: list[tuple[str, float, float]] = []

    def hook(mod: nn.Module, inputs: tuple[torch.Tensor, ...], out: torch.Tensor) -> None:
        x = inputs[0]
        n_in, n_out = x.numel(), out.numel()
        if isinstance(mod, nn.Conv2d):
            macs = n_out * (mod.in_channels // mod.groups) * mod.kernel_size[0] * mod.kernel_size[1]
            rows.append(("conv", 6.0 * macs, 4.0 * (n_in + n_out + 3 * (n_in + n_out))))
        elif isinstance(mod, nn.Linear):
            rows.append(("linear", 6.0 * n_out * mod.in_features, 4.0 * 4 * (n_in + n_out)))
        elif isinstance(mod, nn.BatchNorm2d):
            rows.append(("batchnorm", 10.0 * n_in, 4.0 * (3 * n_in + 5 * n_in)))
        elif not list(mod.children()):
            rows.append(("elementwise", 2.0 * n_out, 4.0 * (n_in + n_out + 3 * n_out)))

    handles = [m.register_forward_hook(hook) for m in model.modules() if not list(m.children())]
    try:
        model.train()
        with torch.no_grad():
            model(batch)
    finally:
        for h in handles:
            h.remove()
    out: dict[str, float] = {}
    for kind, flops, nbytes in rows:
        compute, memory = flops / (peak * 1e9), nbytes / (bandwidth * 1e9)
        out[f"{kind}_s"] = out.get(f"{kind}_s", 0.0) + max(compute, memory)
        out[f"{kind}_bytes"] = out.get(f"{kind}_bytes", 0.0) + nbytes
        out[f"{kind}_flops"] = out.get(f"{kind}_flops", 0.0) + flops
    out["bound_s"] = sum(v for k, v in out.items() if k.endswith("_s"))
    out["bytes"] = sum(v for k, v in out.items() if k.endswith("_bytes"))
    return out


# -- the run -------------------------------------------------------------------------------------
def load_data(images: int, val: int) -> tuple[Arrays, Arrays, np.ndarray, str]:
    from store.settings import Settings

    dirs = tuple(Settings().data_dirs)
    try:
        train = load_split("fashion-mnist", "train", data_dirs=dirs, limit=max(images, 1024))
        valid = load_split("fashion-mnist", "val", data_dirs=dirs, limit=val)
        source = "fashion-mnist"
    except DatasetNotFoundError:
        rng = np.random.default_rng(0)
        n = max(images, 1024)
        train = Arrays(rng.standard_normal((n, 1, 28, 28), dtype=np.float32), rng.integers(0, 10, n))
        valid = Arrays(rng.standard_normal((val, 1, 28, 28), dtype=np.float32), rng.integers(0, 10, val))
        source = "random (Fashion-MNIST not found)"
    return train, valid, recalibration_images(train, 256), source


def row(name: str, today: float, best: float, flops_per_image: float, peak: float, **extra: Any) -> dict[str, Any]:
    gflops = best * flops_per_image / 1e9
    result = {
        "workload": name,
        "today_images_per_s": round(today, 1),
        "best_images_per_s": round(best, 1),
        "ratio": round(best / today, 2),
        "today_gflops": round(today * flops_per_image / 1e9, 2),
        "best_gflops": round(gflops, 2),
        "today_share_of_peak": round(today * flops_per_image / 1e9 / peak, 3),
        "best_share_of_peak": round(gflops / peak, 3),
        **extra,
    }
    print(
        f"{name:28} {today:9.1f} {best:9.1f} {best / today:6.2f}x {result['today_gflops']:7.2f} "
        f"{gflops:7.2f} {result['today_share_of_peak']:6.1%} {result['best_share_of_peak']:6.1%}",
        flush=True,
    )
    return result


def alternate(today: Callable[[], float], best: Callable[[], float], repeats: int) -> tuple[float, float]:
    """Best of ``repeats`` of each, alternating (so drifting load hits both alike)."""
    t, b = 0.0, 0.0
    for _ in range(repeats):
        t, b = max(t, today()), max(b, best())
    return t, b


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1, help="intra-op threads of the workloads (peak: 1 and this)")
    parser.add_argument("--images", type=int, default=640, help="training images per epoch (train, nasnet, sparse)")
    parser.add_argument("--val", type=int, default=2000, help="validation images per scored candidate")
    parser.add_argument("--steps", type=int, default=4, help="timed sandwich steps")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--only", nargs="*", default=None, help="workloads to run (default: all)")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    load_before = loadavg()
    peaks = {1: gemm_peak(1)}
    bandwidths = {1: copy_bandwidth(1)}
    if args.threads > 1:
        peaks[args.threads], bandwidths[args.threads] = gemm_peak(args.threads), copy_bandwidth(args.threads)
    torch.set_num_threads(args.threads)
    peak, bandwidth = peaks[args.threads], bandwidths[args.threads]
    for t in peaks:
        print(f"fp32 GEMM peak, {t} thread(s): {peaks[t]:.1f} GFLOP/s; copy bandwidth {bandwidths[t]:.1f} GB/s")
    train, val, recal, source = load_data(args.images, args.val)
    task = Task(space="mnasnet", dataset="fashion-mnist", **SHAPE)
    wanted = set(args.only or ("train", "sandwich", "dass_oneshot", "nasnet", "sparse_train", "scoring"))
    rows, bounds = [], {}
    print(f"\n{'workload':28} {'today':>9} {'best':>9} {'ratio':>7} {'GF/s':>7} {'GF/s':>7} {'peak':>6} {'peak':>6}")
    print(f"{'':28} {'img/s':>9} {'img/s':>9} {'':7} {'today':>7} {'best':>7} {'today':>6} {'best':>6}")
    mnasnet = get_space("mnasnet")
    if "train" in wanted:
        ev = _scratch_evaluator(task, train.head(args.images), width=WIDTH)
        for name in SUBNETS:
            arch = mnasnet.from_genome(list(MNASNET_REFERENCES[name]))
            macs = mnasnet_macs(arch)
            today, best = alternate(
                lambda a=arch: scratch_images_per_s(ev, a, today=True, epochs=2),
                lambda a=arch: scratch_images_per_s(ev, a, today=False, epochs=2),
                args.repeats,
            )
            rows.append(row(f"train {name}", today, best, 6.0 * macs, peak, macs_per_image=macs))
            model = zero_init_residuals(Network(scaled_ops(mnasnet.ops(arch, **SHAPE), WIDTH)))
            batch = torch.from_numpy(train.x[:64]).contiguous(memory_format=torch.channels_last)
            bounds[name] = step_bound(model.to(memory_format=torch.channels_last), batch, peak, bandwidth)
            bounds[name]["measured_step_s"] = 64 / best
    if "sandwich" in wanted:
        net = build_supernet("mnasnet", shape=SHAPE, width=WIDTH)
        result: dict[str, tuple[float, float]] = {}

        def sandwich(today: bool) -> float:
            ips, macs = sandwich_images_per_s(net, train, today=today, steps=args.steps)
            result["macs"] = (macs, macs)
            return ips

        today, best = alternate(lambda: sandwich(True), lambda: sandwich(False), args.repeats)
        macs = result["macs"][0]
        rows.append(row("sandwich step (6 subnets)", today, best, 6.0 * macs, peak, macs_per_image=macs))
    if "dass_oneshot" in wanted:
        if DASS_STEP.exists():
            kept = json.loads(DASS_STEP.read_text())
            print(f"{'dass one-shot step':28} see {DASS_STEP.name}: {json.dumps(kept)[:200]}")
            rows.append({"workload": "dass one-shot step", "from": str(DASS_STEP.name), "result": kept})
        else:
            print(f"{'dass one-shot step':28} {DASS_STEP.name} not there (benchmarks/dass_step.py writes it)")
    if "nasnet" in wanted:
        nasnet = get_space("nasnet")
        normal, reduction, _ = NASNET_REFERENCES["nasnet-a-mobile"]
        arch = nasnet.from_genome((normal, reduction, NASNET_MACRO))
        macs = nasnet.cost(arch, **SHAPE).macs
        ev = _scratch_evaluator(Task(space="nasnet", dataset="fashion-mnist", **SHAPE), train.head(args.images), 1.0)
        today, best = alternate(
            lambda: scratch_images_per_s(ev, arch, today=True, epochs=2),
            lambda: scratch_images_per_s(ev, arch, today=False, epochs=2),
            args.repeats,
        )
        rows.append(row(f"train nasnet-a {NASNET_MACRO}", today, best, 6.0 * macs, peak, macs_per_image=macs))
    if "sparse_train" in wanted:
        dass = get_space("dass")
        arch = dass.from_genome(DASS_REFERENCES["darts-v2-cpu"])
        macs = dass.cost(arch, **SHAPE).macs
        data = train.head(args.images)
        today, best = alternate(
            lambda: sparse_images_per_s(arch, data, today=True, epochs=2),
            lambda: sparse_images_per_s(arch, data, today=False, epochs=2),
            args.repeats,
        )
        kept = sparse_train.nonzero_cost(dass.ops(arch, **SHAPE)).macs
        rows.append(
            row("sparse_train darts-v2 90%", today, best, 6.0 * macs, peak, macs_per_image=macs, nonzero_macs=kept)
        )
    if "scoring" in wanted:
        net = build_supernet("mnasnet", shape=SHAPE, width=WIDTH).eval()
        for name in SUBNETS:
            arch = mnasnet.from_genome(list(MNASNET_REFERENCES[name]))
            macs = mnasnet_macs(arch)
            scores: dict[bool, float] = {}

            def score(today: bool, a: Architecture = arch, scores: dict[bool, float] = scores) -> float:
                ips, scores[today] = scoring_images_per_s(net, a, recal, val, today=today)
                return ips

            today, best = alternate(lambda: score(True), lambda: score(False), args.repeats)
            rows.append(
                row(
                    f"scoring {name}",
                    today,
                    best,
                    2.0 * macs,
                    peak,
                    macs_per_image=macs,
                    score_today=scores[True],
                    score_best=scores[False],
                )
            )
    if bounds:
        print("\ntraining-step bound (batch 64): max(FLOPs/peak, bytes/bandwidth) per operator, summed")
        for name, b in bounds.items():
            print(
                f"  {name:14} bound {b['bound_s'] * 1e3:6.1f} ms (conv {b['conv_s'] * 1e3:5.1f}, batchnorm "
                f"{b['batchnorm_s'] * 1e3:5.1f}, elementwise {b.get('elementwise_s', 0) * 1e3:5.1f}); "
                f"{b['bytes'] / 1e6:6.0f} MB moved; measured best {b['measured_step_s'] * 1e3:6.1f} ms "
                f"= {b['measured_step_s'] / b['bound_s']:.2f}x the bound"
            )
    load_after = loadavg()
    print(f"\nload average before {load_before}, after {load_after}; data: {source}")
    report = {
        "machine": machine(),
        "threads": args.threads,
        "gemm_peak_gflops": {str(t): round(p, 1) for t, p in peaks.items()},
        "copy_bandwidth_gbs": {str(t): round(b, 1) for t, b in bandwidths.items()},
        "loadavg_before": load_before,
        "loadavg_after": load_after,
        "other_work_running": max(load_before[0], load_after[0]) > 0.5 * args.threads + 0.3,
        "data": source,
        "images": args.images,
        "val_images": args.val,
        "width": WIDTH,
        "rows": rows,
        "step_bounds": {k: {kk: round(vv, 6) for kk, vv in v.items()} for k, v in bounds.items()},
        "date": time.strftime("%Y-%m-%d %H:%M"),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.out}")


def _scratch_evaluator(task: Task, data: Arrays, width: float) -> TrainEvaluator:
    """A `TrainEvaluator` with its defaults and ``data`` as its training split (no dataset read)."""
    ev = TrainEvaluator.__new__(TrainEvaluator)
    ev.schedule = supernet_training.Schedule(epochs=3)
    ev.width, ev.task, ev.seed, ev.space = width, task, 0, get_space(task.space)
    ev.train, ev.val, ev.recal, ev.cache = data, data, data.x[:256], {}
    return ev


if __name__ == "__main__":
    main()
