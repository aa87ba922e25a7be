"""How well cheap evaluators rank a space's ground truth, with bootstrap intervals beside the ceiling.

    .venv/bin/python -m benchmarks.proxy_ranking --space mnasnet|nasnet|sparse [--supernet]
        [--supernet-epochs E] [--supernet-seeds S] [--score '{"finetune_images": 512}'] [--proxy-seeds 3]

Reads the records of `benchmarks.ground_truth` (``benchmarks/results/ground_truth/<space>/<recipe>``)
— the truth of an architecture is its validation accuracy averaged over its seeds — and ranks it
with every cheap evaluator on the same architectures:

* baselines: parameters, MACs, the number of layers with a shortcut (of the network trained);
* zero-cost proxies (the ``zero_cost`` evaluator: synflow, NASWOT, grad-norm; one batch, at the
  recipe's width), each with ``--proxy-seeds`` seeds of initialisation and batch (mean tau);
* with ``--supernet``, the space's supernet at the ground truth's width or macro setting (MnasNet:
  `benchmarks.supernet_ranking`'s recipe; trained once under ``--home``, or found there; one per
  ``--supernet-seeds``), scored with the ridge readout, once per ``--score`` (the evaluator's
  options: ``recal_images``, ``val_limit``, ``finetune_images`` of a short fixed fine-tune...).

For each: Kendall tau, Spearman, and top-10% precision (how many of the truly best 10% the
evaluator puts in its own top 10%), each with a bootstrap 95% interval over architectures; the
ceiling (Kendall tau between seed 0's and seed 1's rankings — how well the truth agrees with
itself), the tau a perfect evaluator would reach against the seeds' mean (`attainable_tau`), and
each tau's ratio to the ceiling (``test tau``: against the test split's accuracy instead); and
the cost per candidate: scoring seconds, plus, for the
supernet, its training amortised over 1,000 candidates, against the mean seconds of one
scratch training. Figures are also given on each half of the architectures (``half 0`` /
``half 1``, a seeded split) so that choices fixed on one half can be reported on the other, and
issue 27's goals for each supernet with how far each is from being met. Writes
``benchmarks/results/proxy_ranking-<space>.json``.
"""

from __future__ import annotations

import argparse
import itertools
import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from scipy.stats import kendalltau, rankdata, spearmanr

from benchmarks.ground_truth import HOME, RECIPES, read
from evaluators import EVALUATORS, Task
from evaluators.datasets import dataset_info
from evaluators.supernet.network import scaled_ops
from search_spaces import get_space
from search_spaces.ops.spec import total_cost
from store.settings import Settings
from workers.supernet_train import SupernetRun

# single-path (NASNet) and dense (sparse) supernets, 12,000 images: epochs for about 20-25 minutes of
# this 2-core machine (NASNet N=1 f=8: one architecture per step, 12 s per 2,000 image-epochs)
SUPERNET_EPOCHS = {"nasnet": 8, "sparse": 3}
SCORING = {"recal_images": 128, "val_limit": 2000, "readout": "ridge"}  # the supernet benchmark's
SHORT = {"recal_images": "r", "val_limit": "v", "finetune_images": "ft", "readout": ""}

ROOT = Path(__file__).resolve().parents[1]
BOOT = 2000
AMORTISED_OVER = 1000
THREADS = {"supernet": 2, "zero_cost": 1}  # costs are core-seconds: seconds x the threads that ran them
BASELINES = ("params", "macs", "shortcut_layers", "synflow", "naswot", "grad_norm")
GOALS = {"mnasnet": {"tau": 0.65, "low": 0.55, "ratio": 0.8}, "nasnet": {"tau": 0.6}, "sparse": {"tau": 0.6}}


def truth_table(records: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per architecture: its genome, validation and test accuracy per seed, and core-seconds."""
    out: dict[str, dict[str, Any]] = {}
    for r in records:
        row = out.setdefault(r["arch_id"], {"genome": r["genome"], "val": {}, "test": {}, "seconds": []})
        row["val"][r["seed"]], row["test"][r["seed"]] = r["val_accuracy"], r["test_accuracy"]
        row["seconds"].append(r["seconds"] * r["machine"]["threads"])  # core-seconds
    return {k: v for k, v in out.items() if 0 in v["val"] and 1 in v["val"]}  # both seeds trained


def top_precision(truth: np.ndarray, score: np.ndarray, share: float = 0.1) -> float:
    k = max(1, round(share * len(truth)))
    return len(set(np.argsort(-truth)[:k]) & set(np.argsort(-score)[:k])) / k


def stats(truth: np.ndarray, scores: np.ndarray | Sequence[np.ndarray], rng: np.random.Generator) -> dict[str, Any]:
    """Kendall tau, Spearman and top-10% precision, each with a bootstrap 95% interval over the
    architectures. ``scores`` may hold several seeds' scores: each figure is then the mean over the
    seeds' rankings, in every resample alike."""
    runs = [scores] if isinstance(scores, np.ndarray) else list(scores)

    def all3(i: np.ndarray) -> tuple[float, float, float]:
        t = truth[i]
        per = [(kendalltau(s[i], t).statistic, spearmanr(s[i], t).statistic, top_precision(t, s[i])) for s in runs]
        return tuple(np.mean(per, axis=0))

    point = all3(np.arange(len(truth)))
    boot = np.array([all3(rng.integers(len(truth), size=len(truth))) for _ in range(BOOT)])
    lo, hi = np.nanpercentile(boot, [2.5, 97.5], axis=0)
    return {
        name: {"value": round(float(point[j]), 3), "ci95": [round(float(lo[j]), 3), round(float(hi[j]), 3)]}
        for j, name in enumerate(("kendall_tau", "spearman", "top10_precision"))
    }


def attainable_tau(seed_tau: float, seeds: float) -> float | None:
    """The Kendall tau a perfect evaluator would reach against the truth averaged over ``seeds``
    seeds, given one seed's tau against another (Gaussian model: Greiner's r = sin(pi tau / 2),
    Spearman-Brown for the mean, the error-free score correlating sqrt(r_mean) with it)."""
    if seed_tau <= 0:
        return None
    r = np.sin(np.pi * seed_tau / 2)
    r_mean = seeds * r / (1 + (seeds - 1) * r)
    return round(float(2 / np.pi * np.arcsin(np.sqrt(r_mean))), 3)


def goals(r: dict[str, Any]) -> dict[str, Any]:
    """Issue 27's goals for the supernet(s) of ``r``, each with how far it is from being met."""
    want = GOALS[r["space"]]
    everything = r["all"]["evaluators"]
    base = max(everything[b]["kendall_tau"]["value"] for b in BASELINES if b in everything)
    out = {}
    for name, e in everything.items():
        if not name.startswith("supernet"):
            continue
        tau, low, ratio = e["kendall_tau"]["value"], e["kendall_tau"]["ci95"][0], e["ratio_to_ceiling"] or 0.0
        speed = r["cost"][name]["speedup_vs_scratch"] or 0.0
        checks = {"tau": (tau, want["tau"]), "speedup": (speed, 100.0), "beats_baselines": (tau, base)}
        if "low" in want:
            checks |= {"ci95_low": (low, want["low"]), "ratio_to_ceiling": (ratio, want["ratio"])}
        out[name] = {k: {"value": v, "goal": g, "met": v >= g if k != "beats_baselines" else v > g,
                         "short_by": round(max(0.0, g - v), 3)} for k, (v, g) in checks.items()}  # fmt: skip
    return out


def baselines(space_name: str, genomes: list[list[str]], shape: dict[str, int], width: float) -> dict[str, np.ndarray]:
    """Free signals of the network trained: parameters, MACs, layers with a shortcut."""
    space = get_space(space_name)
    rows = []
    for g in genomes:
        ops = space.ops(space.from_genome(g), **shape)
        cost = total_cost(scaled_ops(ops, width) if width != 1.0 else ops)
        rows.append((cost.params, cost.macs, sum(op.skip not in ("none", "") for op in ops)))
    a = np.asarray(rows, dtype=float)
    return {"params": a[:, 0], "macs": a[:, 1], "shortcut_layers": a[:, 2]}


def zero_cost(space_name: str, genomes: list[list[str]], task: Task, width: float, seeds: int) -> dict[str, Any]:
    """Each zero-cost score per seed, and the core-seconds per candidate (all three scores)."""
    space = get_space(space_name)
    archs = [space.from_genome(g) for g in genomes]
    dirs = list(Settings().data_dirs)
    per_seed: dict[str, list[np.ndarray]] = {}
    seconds = []
    for seed in range(seeds):
        evaluator = EVALUATORS.get("zero_cost")(task=task, data_dirs=dirs, width=width, seed=seed,
                                               threads=THREADS["zero_cost"])  # fmt: skip
        start = time.perf_counter()
        outcomes = evaluator.evaluate(archs)
        seconds.append((time.perf_counter() - start) / len(archs) * THREADS["zero_cost"])
        bad = [o.error for o in outcomes if not o.ok]
        if bad:
            raise SystemExit(f"zero_cost failed: {bad[:3]}")
        for metric in evaluator.metrics:
            per_seed.setdefault(metric, []).append(np.array([o.metrics[metric] for o in outcomes]))
    return {"scores": per_seed, "seconds_per_candidate": float(np.mean(seconds))}


def supernet_run(space: str, dataset: str, *, epochs: int | None, seed: int) -> SupernetRun:
    """The supernet each space is ranked with, at the ground truth's recipe (width, macro setting)."""
    if space == "mnasnet":  # the supernet benchmark's recipe (sandwich rule, distillation)
        from benchmarks.supernet_ranking import RankingConfig

        return RankingConfig(epochs=epochs or 4, supernet_seed=seed).run(dataset)
    recipe = RECIPES[space]
    macro = {"nasnet": "N={cells} f={filters} stem={stem}", "sparse": "{backbone} w{width}"}[space]
    fixed = dict(recipe.fixed)
    return SupernetRun(space=space, dataset=dataset, epochs=epochs or SUPERNET_EPOCHS[space], subset=12000,
                       seed=seed, macro=macro.format(**fixed), recal_images=128, val_limit=2000,
                       test_limit=1000)  # fmt: skip


def supernet_scores(
    space_name: str, genomes: list[list[str]], run: SupernetRun, home: Path, options: dict[str, Any]
) -> dict[str, Any]:
    """The supernet of ``run`` (trained once under ``home``, or found there) scoring the genomes with
    the `SupernetEvaluator` options ``options`` over `SCORING` (ridge readout, BatchNorm
    re-estimated on 128 images, 2,000 validation images)."""
    from evaluators.supernet.evaluator import SupernetEvaluator
    from store import artifacts as repo
    from store.session import Database
    from workers.supernet_train import train_supernet

    settings = Settings(home=home, ray_num_cpus=2)
    db = Database(settings.db_url)
    db.migrate()

    def progress(done: int, total: int, _: str) -> None:
        print(f"  supernet epoch {done}/{total} ({time.strftime('%H:%M:%S')})", flush=True)

    threads = THREADS["supernet"]
    artifact = train_supernet(run, db=db, settings=settings, threads=threads, progress=progress)
    info = dataset_info(run.dataset)
    evaluator = SupernetEvaluator(
        task=Task(space_name, info.in_channels, info.input_size, info.num_classes, run.dataset),
        checkpoint=repo.verify(settings.artifacts, artifact),
        data_dirs=list(settings.data_dirs),
        artifact_id=artifact.id,
        threads=threads,
        **(SCORING | options),
    )
    space = get_space(space_name)
    archs = [space.from_genome(g) for g in genomes]
    evaluator.evaluate(archs[:1])  # warm-up
    evaluator.cache.clear()
    start = time.perf_counter()
    outcomes = evaluator.evaluate(archs)
    per = (time.perf_counter() - start) / len(archs) * threads
    bad = [o.error for o in outcomes if not o.ok]
    if bad:
        raise SystemExit(f"supernet failed on {len(bad)} architectures: {bad[:3]}")
    return {
        "scores": np.array([o.metrics["accuracy"] for o in outcomes]),
        "seconds_per_candidate": per,
        "train_seconds": float(artifact.info["seconds"]) * threads,
        "artifact": artifact.id,
        "run": run.experiment,
        "accuracy": artifact.info.get("accuracy"),
    }


def measured(
    space_name: str,
    genomes: list[list[str]],
    *,
    supernets: Sequence[SupernetRun],
    scoring: Sequence[dict[str, Any]],
    proxy_seeds: int,
    home: Path,
) -> dict[str, dict[str, Any]]:
    """Every cheap evaluator's scores of ``genomes`` (one array per seed) and its cost."""
    recipe = RECIPES[space_name]
    info = dataset_info(recipe.dataset)
    task = Task(space_name, info.in_channels, info.input_size, info.num_classes, recipe.dataset)
    width = float(recipe.options.get("width", 1.0))
    candidates: dict[str, dict[str, Any]] = {}
    for name, score in baselines(space_name, genomes, task.shape, width).items():
        candidates[name] = {"scores": [score], "seconds_per_candidate": 0.0}
    zc = zero_cost(space_name, genomes, task, width, proxy_seeds)
    for name, scores in zc["scores"].items():
        candidates[name] = {"scores": scores, "seconds_per_candidate": zc["seconds_per_candidate"]}

    def variant(options: dict[str, Any]) -> str:
        return "".join(f" {SHORT.get(o, o)}{v}" for o, v in options.items()) if len(scoring) > 1 else ""

    for (k, run), options in itertools.product(enumerate(supernets), scoring):
        sn = supernet_scores(space_name, genomes, run, home, options)
        candidates["supernet" + (f" {k}" if len(supernets) > 1 else "") + variant(options)] = {
            "scores": [sn.pop("scores")],
            "seconds_per_candidate": sn["seconds_per_candidate"] + sn["train_seconds"] / AMORTISED_OVER,
            "scoring_seconds": sn.pop("seconds_per_candidate"),
            "options": SCORING | options,
            **sn,
        }
    for options in scoring if len(supernets) > 1 else ():  # the supernets' mean rank: one score, all costs
        members = [candidates[f"supernet {k}{variant(options)}"] for k in range(len(supernets))]
        candidates[f"supernet ensemble{variant(options)}"] = {
            "scores": [np.mean([rankdata(m["scores"][0]) for m in members], axis=0)],
            "seconds_per_candidate": sum(m["seconds_per_candidate"] for m in members),
            "members": [m["artifact"] for m in members],
        }
    return candidates


def stored(previous: dict[str, Any], ids: list[str]) -> dict[str, dict[str, Any]]:
    """The scores and costs of an earlier result (``--reuse``), for the same architectures."""
    if previous.get("cost_units") != "core-seconds":
        raise SystemExit("--reuse: that result's costs are not in core-seconds; run without it")
    if previous["arch_ids"] != ids:
        raise SystemExit("--reuse: that result ranked other architectures; run without it")
    return {
        name: {"scores": [np.asarray(s) for s in scores]}
        | {k: v for k, v in previous["cost"][name].items() if k != "speedup_vs_scratch"}
        for name, scores in previous["scores"].items()
        if " + " not in name  # combinations are derived again
    }


def with_prior(candidates: dict[str, dict[str, Any]], truth: np.ndarray, choose_on: np.ndarray) -> None:
    """Add, for each supernet, its mean rank with the free baseline that ranks best on the rows
    ``choose_on`` (half 0: the other half reports it): a prior the supernet's scores may lack."""
    free = [n for n, c in candidates.items() if c["seconds_per_candidate"] == 0.0]
    if not free:
        return
    best = max(free, key=lambda n: kendalltau(candidates[n]["scores"][0][choose_on], truth[choose_on]).statistic)
    for name in [n for n in candidates if n.startswith("supernet") and " + " not in n]:
        c = candidates[name]
        candidates[f"{name} + {best}"] = {
            "scores": [(rankdata(s) + rankdata(candidates[best]["scores"][0])) / 2 for s in c["scores"]],
            "seconds_per_candidate": c["seconds_per_candidate"],
            "prior": best,
        }


def evaluate(
    space_name: str,
    *,
    supernets: Sequence[SupernetRun] = (),
    scoring: Sequence[dict[str, Any]] = ({},),
    proxy_seeds: int,
    home: Path,
    gt_home: Path,
    reuse: dict[str, Any] | None = None,
) -> dict[str, Any]:
    recipe = RECIPES[space_name]
    folder = gt_home / space_name / recipe.name
    table = truth_table(read(folder))
    if len(table) < 10:
        raise SystemExit(f"{folder}: {len(table)} architectures with both seeds; train more (benchmarks.ground_truth)")
    ids = sorted(table)
    genomes = [table[i]["genome"] for i in ids]
    truth = np.array([np.mean(list(table[i]["val"].values())) for i in ids])
    seeds = np.array([len(table[i]["val"]) for i in ids])
    scratch_s = float(np.mean([s for i in ids for s in table[i]["seconds"]]))
    rng = np.random.default_rng(0)
    halves = np.array_split(np.random.default_rng(1).permutation(len(ids)), 2)
    if reuse is not None:
        candidates = stored(reuse, ids)
    else:
        candidates = measured(space_name, genomes, supernets=supernets, scoring=scoring, proxy_seeds=proxy_seeds,
                              home=home)  # fmt: skip
    with_prior(candidates, truth, halves[0])

    def score_all(rows: np.ndarray, split: str = "val") -> dict[str, Any]:
        s0, s1 = (np.array([table[i][split][seed] for i in ids]) for seed in (0, 1))
        truth = np.array([np.mean(list(table[i][split].values())) for i in ids])
        ceiling = stats(s0[rows], s1[rows], rng)
        attainable = attainable_tau(ceiling["kendall_tau"]["value"], float(np.mean(seeds[rows])))
        out: dict[str, Any] = {"n": len(rows), "ceiling": ceiling, "attainable_tau": attainable, "evaluators": {}}
        for name, c in candidates.items():
            merged = stats(truth[rows], [sc[rows] for sc in c["scores"]], rng)  # several seeds: their mean
            tau, top = merged["kendall_tau"]["value"], ceiling["kendall_tau"]["value"]
            merged["ratio_to_ceiling"] = round(tau / top, 3) if top > 0 else None
            out["evaluators"][name] = merged
        return out

    result = {
        "space": space_name,
        "recipe": recipe.name,
        "architectures": len(ids),
        "truth": "validation accuracy, mean over seeds",
        "cost_units": "core-seconds",  # seconds x the threads that ran them, on both sides
        "scratch_seconds_per_candidate": round(scratch_s, 1),
        "all": score_all(np.arange(len(ids))),
        "half 0": score_all(halves[0]),
        "half 1": score_all(halves[1]),
        "all, test accuracy": score_all(np.arange(len(ids)), "test"),  # the truth on the test split instead
        "cost": {
            name: {
                **{k: v for k, v in c.items() if k != "scores"},
                "speedup_vs_scratch": round(scratch_s / c["seconds_per_candidate"], 1)
                if c["seconds_per_candidate"] > 0
                else None,
            }
            for name, c in candidates.items()
        },
        "scores": {name: [s.tolist() for s in c["scores"]] for name, c in candidates.items()},
        "arch_ids": ids,
        "seeds": seeds.tolist(),
        "truth_values": truth.tolist(),
    }
    result["goals"] = goals(result)
    return result


def print_table(r: dict[str, Any]) -> None:
    a = r["all"]
    c = a["ceiling"]["kendall_tau"]
    ceiling = f"{c['value']:.3f} [{c['ci95'][0]:.3f}, {c['ci95'][1]:.3f}]"
    print(f"{r['space']}: {r['architectures']} architectures; ceiling (seed 0 vs seed 1) tau {ceiling}, "
          f"attainable against the seeds' mean {a['attainable_tau']}; "
          f"scratch {r['scratch_seconds_per_candidate']:.0f} s/candidate")  # fmt: skip
    print(f"{'evaluator':34s} {'tau [95% CI]':24s} {'/ceiling':>8s} {'spearman':>9s} {'top-10%':>8s} "
          f"{'half0 tau':>9s} {'half1 tau':>9s} {'test tau':>9s} {'s/cand':>8s} {'speed-up':>9s}")  # fmt: skip
    for name, e in a["evaluators"].items():
        t = e["kendall_tau"]
        cost = r["cost"][name]
        speed = f"{cost['speedup_vs_scratch']:.0f}x" if cost["speedup_vs_scratch"] else "free"
        print(f"{name:34s} {t['value']:6.3f} [{t['ci95'][0]:6.3f}, {t['ci95'][1]:6.3f}]   "
              f"{e['ratio_to_ceiling'] if e['ratio_to_ceiling'] is not None else '-':>8} "
              f"{e['spearman']['value']:9.3f} {e['top10_precision']['value']:8.2f} "
              f"{r['half 0']['evaluators'][name]['kendall_tau']['value']:9.3f} "
              f"{r['half 1']['evaluators'][name]['kendall_tau']['value']:9.3f} "
              f"{r['all, test accuracy']['evaluators'][name]['kendall_tau']['value']:9.3f} "
              f"{cost['seconds_per_candidate']:8.2f} {speed:>9s}")  # fmt: skip
    for name, checks in r["goals"].items():
        print(f"{name} goals: " + "; ".join(
            f"{k} {c['value']} vs {c['goal']}: " + ("met" if c["met"] else f"short by {c['short_by']}")
            for k, c in checks.items()))  # fmt: skip


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--space", choices=sorted(RECIPES), required=True)
    parser.add_argument("--supernet", action="store_true", help="also rank with the space's supernet")
    parser.add_argument("--supernet-epochs", type=int, default=None, help="its training epochs (default per space)")
    parser.add_argument("--supernet-seeds", type=int, default=1, help="supernets trained with seeds 0..n-1")
    parser.add_argument("--score", action="append", type=json.loads, default=None,
                        help='supernet evaluator options (JSON: \'{"finetune_images": 512}\'); repeat')  # fmt: skip
    parser.add_argument("--proxy-seeds", type=int, default=3)
    parser.add_argument("--home", type=Path, default=Path("var/bench-supernet"), help="where the supernet is kept")
    parser.add_argument("--ground-truth", type=Path, default=HOME)
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--reuse", type=Path, default=None,
                        help="an earlier result's JSON: its scores again, against today's ground truth")  # fmt: skip
    args = parser.parse_args(argv)
    dataset = RECIPES[args.space].dataset
    runs = [supernet_run(args.space, dataset, epochs=args.supernet_epochs, seed=k) for k in range(args.supernet_seeds)]
    result = evaluate(args.space, supernets=runs if args.supernet else (), scoring=args.score or [{}],
                      proxy_seeds=args.proxy_seeds, home=args.home, gt_home=args.ground_truth,
                      reuse=json.loads(args.reuse.read_text()) if args.reuse else None)  # fmt: skip
    print_table(result)
    out = args.out or ROOT / "benchmarks" / "results" / f"proxy_ranking-{args.space}.json"
    out.write_text(json.dumps(result, indent=1))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
