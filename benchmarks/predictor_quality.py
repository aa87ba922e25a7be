"""Predictor quality: latency on NAS-Bench-201 devices, accuracy on a supernet-scored MnasNet job.

    .venv/bin/python benchmarks/predictor_quality.py [--seeds 3] [--db URL] [--job ID] [--part all|tables|job]

1. For the shipped NAS-Bench-201 CPU latency table and every external device table in
   ../shared/data (Raspberry Pi 4 and Pixel 3 from HW-NAS-Bench, Pixel 2 and GTX 1080 Ti from
   HELP), an XGBoost predictor (defaults: 5 bagged members, 500 trees) is trained on 100, 500
   and 1,000 randomly drawn architectures and scored on all the remaining ones: Kendall tau and
   the share within ±10%, mean over ``--seeds`` draws. CIFAR-10 accuracy is scored the same way.
2. On the candidates a supernet-scored MnasNet job stored (``--job``, else the newest such job in
   ``--db``), the 5-fold cross-validated Kendall tau of the accuracy predictor trained on 200 and
   1,000 candidates.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import time
from pathlib import Path

import numpy as np

from evaluators.datasets import dataset_info
from predictors import PREDICTORS, Featurizer
from predictors.validation import cross_validate, quality
from search_spaces import Architecture, get_space

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
CIFAR10 = {"in_channels": 3, "input_size": 32, "num_classes": 10}
DEVICES = {
    "hwnb_raspi4_lat_ms": "Raspberry Pi 4 (HW-NAS-Bench)",
    "hwnb_pixel3_lat_ms": "Pixel 3 (HW-NAS-Bench)",
    "pixel2_lat_ms": "Pixel 2 (HELP, whole ms)",
    "gtx1080ti_bs1_lat_ms": "GTX 1080 Ti, batch 1 (HELP)",
}


def nb201_targets() -> tuple[list[str], dict[str, tuple[str, np.ndarray]]]:
    """Architecture strings and, per table, (metric, values in that order)."""
    with gzip.open(ROOT / "search_spaces" / "nb201" / "data" / "nb201_cpu.csv.gz", "rt") as f:
        rows = list(csv.DictReader(f))
    strings = [r["arch_str"] for r in rows]
    out = {"CPU, this host (LUT)": ("latency_ms", np.array([float(r["latency_ms"]) for r in rows]))}
    position = {s: i for i, s in enumerate(strings)}
    if (SHARED / "nb201_device_latency.csv").exists():
        with (SHARED / "nb201_device_latency.csv").open() as f:
            ext = list(csv.DictReader(f))
        for column, label in DEVICES.items():
            y = np.empty(len(strings))
            for r in ext:
                y[position[r["arch_str"]]] = float(r[column])
            out[label] = ("latency_ms", y)
    if (SHARED / "nb201_acc.csv").exists():
        with (SHARED / "nb201_acc.csv").open() as f:
            y = np.empty(len(strings))
            for r in csv.DictReader(f):
                y[position[r["arch_str"]]] = float(r["cifar10_test"]) / 100
        out["CIFAR-10 accuracy, 200 epochs"] = ("accuracy", y)
    return strings, out


def latency_tables(seeds: int, sizes: tuple[int, ...]) -> None:
    space = get_space("nb201")
    strings, targets = nb201_targets()
    started = time.time()
    featurizer = Featurizer(space, CIFAR10)
    x = featurizer.transform([space.from_arch_str(s) for s in strings])
    print(f"NAS-Bench-201: {len(strings)} architectures, {x.shape[1]} features ({time.time() - started:.0f} s)")
    print(f"{'table':34}" + "".join(f"{f'n={n}: tau  ±10%':>20}" for n in sizes))
    for label, (metric, y) in targets.items():
        cells = []
        for n in sizes:
            taus, within = [], []
            for seed in range(seeds):
                order = np.random.default_rng(seed).permutation(len(y))
                train, test = order[:n], order[n:]
                model = PREDICTORS.get("xgboost")(featurizer=featurizer, metric=metric, seed=seed)
                q = quality(y[test], model.fit(x[train], y[train]).predict(x[test]).mean)
                taus.append(q.kendall_tau)
                within.append(q.within_10)
            cells.append(f"{np.mean(taus):>13.3f} {np.mean(within):>5.1%}")
        print(f"{label:34}" + "".join(cells), flush=True)


def supernet_job(db_url: str, job_id: str | None, sizes: tuple[int, ...]) -> None:
    from store import jobs as repo
    from store.session import Database

    db = Database(db_url)
    with db.session() as s:
        jobs = [repo.get_job(s, job_id)] if job_id else repo.list_jobs(s, limit=1000)[0]
        for job in jobs:
            if job.spec.get("space") != "mnasnet":
                continue
            cands = [
                c
                for c in repo.all_candidates(s, job.id)
                if c.status == "ok" and (c.provenance.get("accuracy") or {}).get("evaluator") == "supernet"
            ]
            if cands:
                break
        else:
            print(f"\nno supernet-scored MnasNet job in {db_url}; see docs/predictors.md for how to make one")
            return
    archs = [Architecture.from_dict(c.arch, validate=False) for c in cands]
    y = np.array([float(c.metrics["accuracy"]) for c in cands])
    info = dataset_info(job.spec["dataset"])
    shape = {"in_channels": info.in_channels, "input_size": info.input_size, "num_classes": info.num_classes}
    featurizer = Featurizer("mnasnet", shape)
    x = featurizer.transform(archs)
    print(f"\nMnasNet job {job.id} ({job.spec['dataset']}): {len(y)} supernet-scored candidates, accuracy "
          f"{y.min():.3f}..{y.max():.3f}")  # fmt: skip
    for n in sizes:
        if n > len(y):
            print(f"  n={n}: only {len(y)} candidates")
            continue
        pick = np.random.default_rng(0).choice(len(y), size=n, replace=False)
        model = PREDICTORS.get("xgboost")(featurizer=featurizer, metric="accuracy", seed=0)
        report = cross_validate(model.unfitted_twin, x[pick], y[pick], k=5, seed=0)
        m = report.mean
        print(f"  n={n}: 5-fold Kendall tau {m['kendall_tau']:.3f} (folds "
              f"{', '.join(f'{f.kendall_tau:.3f}' for f in report.folds)}), Spearman {m['spearman']:.3f}, "
              f"within ±5% {m['within_5']:.1%}")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--db", default=None, help="database with the MnasNet job (default: the configured one)")
    parser.add_argument("--job", default=None, help="the supernet-scored MnasNet job (default: the newest)")
    parser.add_argument("--part", choices=("all", "tables", "job"), default="all")
    args = parser.parse_args()
    if args.part in ("all", "tables"):
        latency_tables(args.seeds, (100, 500, 1000))
    if args.part == "tables":
        return
    if args.db is None:
        from store.settings import get_settings

        args.db = get_settings().db_url
    supernet_job(args.db, args.job, (200, 1000))


if __name__ == "__main__":
    main()
