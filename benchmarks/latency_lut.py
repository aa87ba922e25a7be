"""Measure the MnasNet-space latency table on this CPU and validate it end to end.

Measures every operator configuration of the space (warm-up, repeated runs, median; drift-corrected
against the probe network; two passes over the catalogue, a third measurement where they disagree)
through the device agent on a local Ray, fits the per-network overhead on 10 architectures, then
samples ``--n`` other architectures, measures each end to end (median of three passes) and compares
with the table's prediction: share within ±5% / ±10%, RMSE, Kendall tau (also against the raw,
uncorrected measurements), and the wall time of the full measurement.

    .venv/bin/python benchmarks/latency_lut.py [--device cpu] [--input-size 224] [--n 100] [--home DIR]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from evaluators.devices import builtin_device
from store import latency as repo
from store.session import Database
from store.settings import Settings
from workers.latency import measure_table, validate_table
from workers.ray_runtime import ensure_ray


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--space", default="mnasnet")
    parser.add_argument("--input-size", type=int, default=224)
    parser.add_argument("--in-channels", type=int, default=3)
    parser.add_argument("--num-classes", type=int, default=1000)
    parser.add_argument("--n", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=10, help="timed samples per operator or network and pass")
    parser.add_argument("--passes", type=int, default=2, help="passes over the operator catalogue")
    parser.add_argument("--validation-passes", type=int, default=3, help="passes over the validation networks")
    parser.add_argument("--home", type=Path, default=Path("var/bench-latency"))
    args = parser.parse_args()
    settings = Settings(home=args.home, ray_num_cpus=2)
    db = Database(settings.db_url)
    db.migrate()
    ensure_ray(settings)
    device = builtin_device(args.device)
    shape = {"in_channels": args.in_channels, "input_size": args.input_size, "num_classes": args.num_classes}

    start = time.perf_counter()
    table = measure_table(db, space=args.space, device=device, shape=shape, repeats=args.repeats, passes=args.passes)
    measure_s = time.perf_counter() - start
    with db.session() as s:
        table = repo.load_table(s, table.id)
    out = settings.artifacts / "lut-validation" / table.id
    start = time.perf_counter()
    report = validate_table(
        db, table=table, device=device, n=args.n, repeats=args.repeats, passes=args.validation_passes, out_dir=out
    )
    validate_s = time.perf_counter() - start

    print(f"device {device.name} ({device.runtime}, {device.threads} threads), {table.describe()}")
    print(
        f"latency table: {len(table.entries)} operators measured in {measure_s:.0f} s "
        f"(overhead {table.overhead_ms:+.3f} ms per network)"
    )
    print(f"validation ({validate_s:.0f} s): {report.summary()}")
    print(f"within ±10%: {report.within_10pct:.1%}   Kendall tau: {report.kendall_tau:.3f}")
    print(f"report: {out / 'report.json'}  plot: {out / 'scatter.png'}")


if __name__ == "__main__":
    main()
