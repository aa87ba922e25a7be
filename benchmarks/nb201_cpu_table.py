"""Measure the whole NAS-Bench-201 space on this CPU once and write the shipped benchmark table.

    .venv/bin/python benchmarks/nb201_cpu_table.py [--e2e 200] [--out search_spaces/nb201/data]

For every one of the 15,625 architectures at CIFAR-10 size (3x32x32, 10 classes): exact
parameters and MACs (from the space's layer list), and CPU latency from a lookup table measured
through the device agent on the built-in ``cpu`` device (PyTorch eager, batch 1) with
``--threads`` threads (default 1: on a shared 2-core machine two spinning OpenMP threads make
timings swing by orders of magnitude):
the 19 distinct operators are timed alone, the per-network overhead is fitted on 10 networks
measured end to end, and each architecture's latency is the sum of its 96 operators plus that
overhead. A seeded sample of ``--e2e`` architectures is also measured end to end (same agent,
same settings) and stored, so the table's error is known. The benchmark's ``arch_index`` comes
from ``../shared/data/nb201_acc.csv`` when present (else -1).

Writes ``nb201_cpu.csv.gz`` (``arch_index, arch_str, params, macs, latency_ms,
latency_e2e_ms``; the last is empty outside the sample) and ``nb201_cpu.json`` (how, where and
when it was measured, the LUT, and the end-to-end check).
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import gzip
import itertools
import json
import os
import platform
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import torch

from evaluators.devices import CPU
from predictors.validation import quality
from search_spaces import get_space
from search_spaces.nb201.ops import EDGE_OPS
from search_spaces.nb201.space import to_arch_str
from store.session import Database
from store.settings import Settings
from workers.latency import measure_table, validate_table
from workers.ray_runtime import ensure_ray

ROOT = Path(__file__).resolve().parents[1]
SHAPE = {"in_channels": 3, "input_size": 32, "num_classes": 10}
INDEX_FILE = ROOT.parent / "shared" / "data" / "nb201_acc.csv"


def benchmark_index() -> dict[str, int]:
    if not INDEX_FILE.exists():
        return {}
    with INDEX_FILE.open() as f:
        return {row["arch_str"]: int(row["arch_index"]) for row in csv.DictReader(f)}


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--e2e", type=int, default=200, help="architectures measured end to end")
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--threads", type=int, default=1, help="PyTorch threads of the measuring agent")
    parser.add_argument("--out", type=Path, default=ROOT / "search_spaces" / "nb201" / "data")
    args = parser.parse_args()
    torch.set_num_threads(1)
    space = get_space("nb201")
    device = dataclasses.replace(
        CPU, threads=args.threads, description=f"this host's CPU, PyTorch eager, {args.threads} thread(s)"
    )
    started, load_before = time.time(), os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(home=Path(tmp), ray_num_cpus=2)
        ensure_ray(settings)
        db = Database(settings.db_url)
        db.migrate()
        progress = lambda d, t, p: print(f"\r{p}: {d}/{t}", end="", flush=True)  # noqa: E731
        table = measure_table(db, space="nb201", device=device, shape=SHAPE, warmup=args.warmup, repeats=args.repeats)
        print(f"LUT: {len(table.entries)} operators, overhead {table.overhead_ms:.3f} ms")
        report = validate_table(
            db, table=table, device=device, n=args.e2e, warmup=args.warmup, repeats=args.repeats,
            out_dir=Path(tmp) / "validation", progress=progress,
        )  # fmt: skip
        points = json.loads((Path(tmp) / "validation" / "report.json").read_text())["points"]
        db.dispose()
    print(f"\nend to end: {report.summary()}")
    e2e = {p["arch_id"]: p["measured_ms"] for p in points}
    index = benchmark_index()
    args.out.mkdir(parents=True, exist_ok=True)
    rows = []
    for genome in itertools.product(EDGE_OPS, repeat=6):
        arch = space.from_genome(genome)
        ops = space.ops(arch, **SHAPE)
        cost = space.cost(arch, **SHAPE)
        text = to_arch_str(genome)
        measured = e2e.get(arch.arch_id)
        rows.append(
            [index.get(text, -1), text, cost.params, cost.macs, round(table.predict(ops), 5),
             "" if measured is None else round(measured, 5)]
        )  # fmt: skip
    rows.sort(key=lambda r: (r[0], r[1]))
    with gzip.open(args.out / "nb201_cpu.csv.gz", "wt", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["arch_index", "arch_str", "params", "macs", "latency_ms", "latency_e2e_ms"])
        writer.writerows(rows)
    sample = [(r[4], r[5]) for r in rows if r[5] != ""]
    check = quality(np.array([m for _, m in sample]), np.array([p for p, _ in sample]))
    meta = {
        "what": "NAS-Bench-201 (15,625 archs) at 3x32x32 -> 10 classes on this host's CPU",
        "produced_by": "benchmarks/nb201_cpu_table.py",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "device": device.to_dict(),
        "cpu": cpu_model(),
        "torch": torch.__version__,
        "load_average_before_after": [list(load_before), list(os.getloadavg())],
        "lut": {
            "operators": len(table.entries),
            "overhead_ms": table.overhead_ms,
            "warmup": args.warmup,
            "repeats": args.repeats,
            "entries_ms": {sig: e.median_ms for sig, e in sorted(table.entries.items())},
        },
        "end_to_end_check": {"n": len(sample), "seed": 1, **check.to_dict(), "report": report.summary()},
        "seconds": round(time.time() - started, 1),
        "columns": {
            "params": "trainable parameters (exact)",
            "macs": "multiply-accumulates of convs and the linear layer (exact)",
            "latency_ms": "LUT prediction: sum of the operators' median latencies + fitted overhead",
            "latency_e2e_ms": "median end-to-end latency, measured (seeded sample only)",
        },
    }
    (args.out / "nb201_cpu.json").write_text(json.dumps(meta, indent=1) + "\n")
    print(f"wrote {args.out / 'nb201_cpu.csv.gz'} ({len(rows)} rows); LUT vs end to end: {check}")


if __name__ == "__main__":
    main()
