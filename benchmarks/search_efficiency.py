"""Search efficiency on NAS-Bench-201, where the true Pareto front is known exactly.

    .venv/bin/python benchmarks/search_efficiency.py [--seeds 10] [--budgets 100,300] [--batch 10]

Every architecture's objectives are looked up in tables (the shipped CPU table, and the
NAS-Bench-201 accuracies in ../shared/data when present), so a search costs no training and
the true front's hypervolume is computed from all 15,625 rows. Strategies — random search,
NSGA-II (Optuna), predictor-guided NSGA-II (`guided`) and the same generator without the
predictor (`guided`, ``use_predictor=False``) — run the job runner's loop (distinct
architectures count against the budget; repeats are answered from the results) for each seed,
and the mean (± std) hypervolume of the evaluated front, relative to the true front's, is printed
for each budget. Problems: CPU latency x parameters; CPU latency x CIFAR-10 accuracy; Pixel 3
latency (HW-NAS-Bench) x CIFAR-10 accuracy. Parameters are *maximised* in the first (a
computed stand-in for capacity: minimising both would make the all-``none`` cell the whole
front). The reference point is the worst value of each objective over the whole space plus 10%
of its range.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from optuna.study._multi_objective import _is_pareto_front

from core.objectives import Objective
from evaluators.pareto import default_reference, hypervolume, non_dominated_mask
from predictors import Featurizer
from search_spaces import get_space
from workers.strategies import STRATEGIES, Proposal, Result, Strategy
from workers.strategies.guided import FEATURE_SHAPE

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
STALL = 500


def load_tables() -> dict[str, dict[str, float]]:
    """arch_str -> metrics (latency_ms, params, macs; accuracy and pixel3 latency when available)."""
    rows: dict[str, dict[str, float]] = {}
    with gzip.open(ROOT / "search_spaces" / "nb201" / "data" / "nb201_cpu.csv.gz", "rt") as f:
        for r in csv.DictReader(f):
            rows[r["arch_str"]] = {"latency_ms": float(r["latency_ms"]), "params": float(r["params"])}
    if (SHARED / "nb201_acc.csv").exists():
        with (SHARED / "nb201_acc.csv").open() as f:
            for r in csv.DictReader(f):
                rows[r["arch_str"]]["accuracy"] = float(r["cifar10_test"]) / 100
    if (SHARED / "nb201_device_latency.csv").exists():
        with (SHARED / "nb201_device_latency.csv").open() as f:
            for r in csv.DictReader(f):
                rows[r["arch_str"]]["pixel3_ms"] = float(r["hwnb_pixel3_lat_ms"])
    return rows


def simulate(strategy: Strategy, lookup: Callable[[Any], dict[str, float]], budget: int, batch: int) -> list[Any]:
    """The runner's loop: ask, answer repeats from the results, evaluate distinct ones, tell."""
    seen: dict[str, Result] = {}
    order: list[Any] = []
    stall = 0
    while len(order) < budget and stall < STALL:
        proposals: list[Proposal] = strategy.ask(min(batch, budget - len(order)))
        fresh: dict[str, list[Proposal]] = {}
        for p in proposals:
            if p.arch.arch_id in seen:
                strategy.tell(p, seen[p.arch.arch_id])
            else:
                fresh.setdefault(p.arch.arch_id, []).append(p)
        stall = stall + len(proposals) + (not proposals) if not fresh else 0
        for arch_id, group in fresh.items():
            result = Result(lookup(group[0].arch))
            seen[arch_id] = result
            order.append(group[0].arch)
            for p in group:
                strategy.tell(p, result)
    return order


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--budgets", default="100,300")
    parser.add_argument("--batch", type=int, default=10)
    parser.add_argument("--population", type=int, default=20, help="NSGA-II population size")
    parser.add_argument("--only", default="", help="run only the problems whose title contains this")
    args = parser.parse_args()
    budgets = sorted(int(b) for b in args.budgets.split(","))
    space = get_space("nb201")
    table = load_tables()
    archs = {s: space.from_arch_str(s) for s in table}
    by_id = {a.arch_id: table[s] for s, a in archs.items()}
    started = time.time()
    featurizer = Featurizer(space, FEATURE_SHAPE)
    featurizer.transform(list(archs.values()))  # every run shares these rows
    print(f"features of {len(archs)} architectures in {time.time() - started:.0f} s")
    # parameters as a computed stand-in for capacity (maximised): small-and-fast vs large is the trade-off
    problems = [("cpu latency x params (max)", ["latency_ms", "params"])]
    if all("accuracy" in m for m in table.values()):
        problems.append(("cpu latency x cifar10 accuracy", ["latency_ms", "accuracy"]))
    if all("pixel3_ms" in m for m in table.values()):
        problems.append(("pixel3 latency x cifar10 accuracy", ["pixel3_ms", "accuracy"]))
    problems = [p for p in problems if args.only in p[0]]
    strategies = {
        "random": ("random", {}),
        "nsga2": ("nsga2", {"population_size": args.population}),
        "guided (no predictor)": ("guided", {"use_predictor": False}),
        "guided nsga2 + xgboost": ("guided", {}),
    }
    for title, metrics in problems:
        names = {"pixel3_ms": "latency_ms"}  # metric names strategies know
        objectives = [Objective(metric=names.get(m, m), direction="max" if m == "params" else None) for m in metrics]
        signs = np.array([o.sign for o in objectives])
        everything = np.array([[by_id[a][m] for m in metrics] for a in by_id]) * signs
        reference = default_reference(everything)
        true_front = everything[_is_pareto_front(everything, assume_unique_lexsorted=False)]
        true_hv = hypervolume(true_front, reference)
        print(f"\n== {title}: true front {len(true_front)} architectures, HV {true_hv:.6g}")
        print(f"{'strategy':26}" + "".join(f"{f'{b} evals':>18}" for b in budgets) + f"{'s/run':>8}")
        for label, (name, options) in strategies.items():
            scores = {b: [] for b in budgets}
            seconds = []
            for seed in range(args.seeds):
                t0 = time.time()
                strategy = STRATEGIES.get(name)(space=space, objectives=objectives, seed=seed, **options)
                if hasattr(strategy, "featurizer"):
                    strategy.featurizer = featurizer

                def lookup(arch: Any, metrics: list[str] = metrics, names: dict[str, str] = names) -> dict[str, float]:
                    row = by_id[arch.arch_id]
                    return {names.get(m, m): row[m] for m in metrics}

                order = simulate(strategy, lookup, budgets[-1], args.batch)
                seconds.append(time.time() - t0)
                losses = np.array([[by_id[a.arch_id][m] for m in metrics] for a in order]) * signs
                for b in budgets:
                    found = losses[:b]
                    scores[b].append(hypervolume(found[non_dominated_mask(found)], reference) / true_hv)
            cells = "".join(f"{np.mean(scores[b]):>11.4f} ±{np.std(scores[b]):.3f}" for b in budgets)
            print(f"{label:26}{cells}{np.mean(seconds):>8.1f}", flush=True)
    print(f"\n{args.seeds} seeds, batch {args.batch}; total {time.time() - started:.0f} s")


if __name__ == "__main__":
    main()
