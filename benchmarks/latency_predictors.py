"""Latency predictors against measured latency, and few-shot onboarding of a held-out device.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/latency_predictors.py [--seeds 3]
        [--spaces nb201,fbnet] [--sizes 10,20,50,100,1000] [--devices COL,...] [--part all|fit|onboard]

1. Per space (NAS-Bench-201 at 3x32x32/10 classes, FBNet at 3x32x32/100 classes as in
   HW-NAS-Bench) and per device column of ../shared/data (plus, for NAS-Bench-201, this CPU
   measured end to end: the ~200 networks of the shipped table's ``latency_e2e_ms``), train on
   n measured architectures (seeded draws) and score on the others: Kendall tau, Spearman,
   share within ±10% / ±5%, MAPE, means over the draws. Each function is scored once
   (`predictors.validation.function_key`), and test architectures whose function is in the
   training set are left out. Methods: ``service`` (the additive predictor: per-operator base +
   boosted residual), ``opcount`` (least squares on the counts of each operation type plus an
   intercept), ``macs+params`` (least squares on MACs and parameters), ``xgboost-f1`` (the
   previous service predictor, n = 1,000 only), and ``table sum`` (the shipped LUT sum, CPU).
2. Onboarding, leave one device out: the held-out device contributes only the K architectures
   `predictors.onboarding.design` picks (K = 5, 10, 20, 50); the other devices' latencies are
   the sources; scored on every other architecture of the space's table (one per function).

Writes benchmarks/results/latency_predictors-<date>.json after each device; a rerun with the same
``--out`` resumes (the devices already in it are skipped).
"""

from __future__ import annotations

import argparse
import csv
import gzip
import json
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from predictors import PREDICTORS, Featurizer
from predictors.onboarding import Transfer, design
from predictors.validation import function_key, quality
from search_spaces import get_space

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
SHAPES = {
    "nb201": {"in_channels": 3, "input_size": 32, "num_classes": 10},
    "fbnet": {"in_channels": 3, "input_size": 32, "num_classes": 100},
}
OPS = {
    "nb201": ("skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3"),
    "fbnet": ("k3_e1", "k3_e1_g2", "k3_e3", "k3_e6", "k5_e1", "k5_e1_g2", "k5_e3", "k5_e6"),
}
CPU_E2E = "cpu_e2e_ms (this host, end to end)"
WHOLE_MS = ("pixel2_lat_ms", "galaxy_s7_lat_ms")


def load(space_name: str) -> tuple[list, dict[str, np.ndarray], np.ndarray | None]:
    """Architectures, latency columns (NaN where not measured) and the CPU LUT sum (NB201)."""
    space = get_space(space_name)
    if space_name == "nb201":
        with gzip.open(ROOT / "search_spaces" / "nb201" / "data" / "nb201_cpu.csv.gz", "rt") as f:
            cpu = sorted(csv.DictReader(f), key=lambda r: int(r["arch_index"]))
        strings = [r["arch_str"] for r in cpu]
        archs = [space.from_arch_str(s) for s in strings]
        pos = {s: i for i, s in enumerate(strings)}
        with (SHARED / "nb201_device_latency.csv").open() as f:
            rows = list(csv.DictReader(f))
        cols = {c: np.full(len(archs), np.nan) for c in rows[0] if c.endswith("_ms")}
        for r in rows:
            for c in cols:
                cols[c][pos[r["arch_str"]]] = float(r[c])
        cols[CPU_E2E] = np.array([float(r["latency_e2e_ms"]) if r["latency_e2e_ms"] else np.nan for r in cpu])
        return archs, cols, np.array([float(r["latency_ms"]) for r in cpu])
    with (SHARED / "fbnet_device_latency.csv").open() as f:
        rows = list(csv.DictReader(f))
    archs = [space.from_genome(r["op_names"].split()) for r in rows]
    cols = {c: np.array([float(r[c]) for r in rows]) for c in rows[0] if c.endswith("_ms")}
    return archs, cols, None


def lstsq(a: np.ndarray, y: np.ndarray) -> np.ndarray:
    a1 = np.column_stack([a, np.ones(len(a))])
    return np.linalg.lstsq(a1, y, rcond=None)[0]


def apply(a: np.ndarray, coef: np.ndarray) -> np.ndarray:
    return np.column_stack([a, np.ones(len(a))]) @ coef


def scores(y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    q = quality(y, np.maximum(p, 1e-9))
    return {"tau": q.kendall_tau, "spearman": q.spearman, "w10": q.within_10, "w5": q.within_5, "mape": q.mape}


def held_out(keys: np.ndarray, measured: np.ndarray, train: np.ndarray) -> np.ndarray:
    """One architecture per function among the measured ones, functions seen in training left out."""
    seen = set(keys[train])
    out, taken = [], set()
    for i in measured:
        k = keys[i]
        if k in seen or k in taken:
            continue
        taken.add(k)
        out.append(i)
    return np.asarray(out)


def fit_part(space_name, archs, cols, lut, x, fz, keys, op_counts, sizes, seeds, devices, out, save) -> dict:
    """Per device column; ``out`` holds the columns already done (a resumed run skips them), ``save`` keeps progress."""
    macs_params = 10 ** x[:, [fz.names().index("log10_macs"), fz.names().index("log10_params")]]
    for col, y in cols.items():
        if (devices and col not in devices) or col in out:
            continue
        measured = np.flatnonzero(np.isfinite(y))
        res: dict = {}
        for n in sizes:
            if n >= len(measured) * 0.8:
                continue
            acc: dict[str, list] = {}
            info: dict[str, list] = {"n_test": [], "test_sharing_a_training_target": []}
            for seed in range(seeds):
                train = np.random.default_rng(seed).choice(measured, size=n, replace=False)
                test = held_out(keys, measured, train)
                info["n_test"].append(len(test))
                info["test_sharing_a_training_target"].append(int(np.isin(y[test], y[train]).sum()))
                preds = {}
                model = PREDICTORS.get("additive")(featurizer=fz, metric="latency_ms", seed=seed)
                preds["service"] = model.fit(x[train], y[train]).predict(x[test]).mean
                preds["opcount"] = apply(op_counts[test], lstsq(op_counts[train], y[train]))
                preds["macs+params"] = apply(macs_params[test], lstsq(macs_params[train], y[train]))
                if n == max(sizes):
                    preds["xgboost-f1"] = _xgb_f1(space_name, archs, train, test, y, seed)
                if col == CPU_E2E and lut is not None:
                    preds["table sum"] = lut[test]
                for k, p in preds.items():
                    acc.setdefault(k, []).append(scores(y[test], p))
            res[str(n)] = {
                **{k: {m: float(np.mean([d[m] for d in v])) for m in v[0]} for k, v in acc.items()},
                "n_test": float(np.mean(info["n_test"])),
                "test_sharing_a_training_target": float(np.mean(info["test_sharing_a_training_target"])),
            }
            print_row(space_name, col, n, res[str(n)])
        out[col] = res
        save()
    return out


_F1: dict[str, np.ndarray] = {}


def _xgb_f1(space_name, archs, train, test, y, seed) -> np.ndarray:
    """The previous service predictor: XGBoost on the f1 features (no operator counts)."""
    fz = Featurizer(space_name, SHAPES[space_name])
    if space_name not in _F1:
        _F1[space_name] = fz.transform(archs)
    x = _F1[space_name]
    model = PREDICTORS.get("xgboost")(featurizer=fz, metric="latency_ms", seed=seed)
    return model.fit(x[train], y[train]).predict(x[test]).mean


def print_row(space_name: str, col: str, n: int, r: dict) -> None:
    cells = "  ".join(
        f"{k}: {v['tau']:.3f}/{v['spearman']:.3f}/{v['w10']:.1%}/{v['w5']:.1%}/{v['mape']:.1%}"
        for k, v in r.items()
        if isinstance(v, dict)
    )
    print(f"{space_name} {col:28} n={n:<5} test={r['n_test']:.0f} shared={r['test_sharing_a_training_target']:.0f}  "
          f"{cells}", flush=True)  # fmt: skip


def onboard_part(space_name, cols, keys, ks, devices, same_hardware: bool) -> dict:
    names = [c for c in cols if c != CPU_E2E]
    table = np.column_stack([cols[c] for c in names])
    out: dict = {}
    for j, held in enumerate(names):
        if devices and held not in devices:
            continue
        hw = held.split("_bs")[0]
        src = [i for i, c in enumerate(names) if i != j and (same_hardware or c.split("_bs")[0] != hw)]
        s = table[:, src]
        res = {}
        for k in ks:
            pick = design(np.log(s), k, seed=0)
            tr = Transfer.fit(s[pick], table[pick, j], [names[i] for i in src])
            test = held_out(keys, np.arange(len(table)), pick)
            res[str(k)] = scores(table[test, j], tr.predict(s[test]))
        out[held] = res
        print(f"onboard {space_name} {'' if same_hardware else '(other hardware only) '}{held:26} "
              + "  ".join(f"K={k}: rho {v['spearman']:.3f} ±10% {v['w10']:.1%}" for k, v in res.items()),
              flush=True)  # fmt: skip
    for k in ks:
        rhos = [out[d][str(k)]["spearman"] for d in out]
        frac = [out[d][str(k)]["w10"] for d in out if d not in WHOLE_MS]
        tag = "" if same_hardware else "(other hardware only) "
        print(f"onboard {space_name} {tag}K={k}: mean Spearman {np.mean(rhos):.3f}, mean ±10% on sub-ms-resolution "
              f"devices {np.mean(frac):.1%}")  # fmt: skip
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--spaces", default="nb201,fbnet")
    parser.add_argument("--sizes", default="10,20,50,100,1000")
    parser.add_argument("--ks", default="5,10,20,50")
    parser.add_argument("--devices", default="")
    parser.add_argument("--part", choices=("all", "fit", "onboard"), default="all")
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    sizes = tuple(int(v) for v in args.sizes.split(","))
    ks = tuple(int(v) for v in args.ks.split(","))
    devices = set(filter(None, args.devices.split(",")))
    when = datetime.now(UTC).isoformat(timespec="seconds")
    out = Path(args.out) if args.out else ROOT / "benchmarks" / "results" / f"latency_predictors-{when[:10]}.json"
    result: dict = {"when": when, "seeds": args.seeds, "sizes": list(sizes), "spaces": {}}
    if out.exists():  # resume: keep what an interrupted run with the same settings finished
        kept = json.loads(out.read_text())
        if (kept.get("seeds"), kept.get("sizes")) != (args.seeds, list(sizes)):
            raise SystemExit(f"{out} holds a run with other --seeds/--sizes; pass another --out")
        result = kept
        print(f"resuming {out}", flush=True)

    def save() -> None:
        tmp = out.with_suffix(".tmp")
        tmp.write_text(json.dumps(result, indent=1))
        tmp.replace(out)

    for space_name in args.spaces.split(","):
        started = time.time()
        space = get_space(space_name)
        archs, cols, lut = load(space_name)
        fz = Featurizer(space, SHAPES[space_name], op_counts=True)
        x = fz.transform(archs)
        keys = np.array([function_key(space, a, SHAPES[space_name]) for a in archs])
        op_counts = np.array([[a.genome.count(op) for op in OPS[space_name]] for a in archs], dtype=float)
        print(f"{space_name}: {len(archs)} architectures, {len(set(keys))} functions, {x.shape[1]} features "
              f"({time.time() - started:.0f} s)", flush=True)  # fmt: skip
        entry: dict = result["spaces"].setdefault(space_name, {})
        entry.update({"architectures": len(archs), "functions": len(set(keys))})
        if args.part in ("all", "fit"):
            fitted = entry.setdefault("fit", {})
            fit_part(space_name, archs, cols, lut, x, fz, keys, op_counts, sizes, args.seeds, devices, fitted, save)
        if args.part in ("all", "onboard"):
            entry["onboard"] = onboard_part(space_name, cols, keys, ks, devices, True)
            entry["onboard_other_hardware"] = onboard_part(space_name, cols, keys, ks, devices, False)
        entry["seconds"] = entry.get("seconds", 0) + round(time.time() - started)
        save()
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
