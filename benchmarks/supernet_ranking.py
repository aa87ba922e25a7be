"""Does the supernet rank MnasNet-space candidates like training from scratch does, and how much faster?

Trains a supernet on Fashion-MNIST (digits when Fashion-MNIST is not installed) through the Ray
Tune trainable, takes ``--archs`` architectures spread over the space (seeded samples at evenly
spaced MAC quantiles), scores each with the ``supernet`` evaluator (inherited weights, BN
recalibration; ``--val`` validation images; ``--readout``: by default a cross-validated linear
readout of each subnet's head features, and the inherited classifier's accuracy beside it) and
trains each from scratch with the ``train`` evaluator (scored on the whole validation split: the
ground truth should be as exact as it can). Prints the Kendall tau (and Spearman rho) between the
two rankings, the supernet's scoring time per candidate, the scratch time per candidate and their ratio.

CPU budget (defaults, documented in docs/supernet.md): width 0.5, the first 12,000 training
images for the supernet and for scratch training, supernet 4 epochs (752 steps of the largest,
the smallest and 4 random subnets), scratch 4 epochs with two seeds per candidate (ranked by the
mean), 12 architectures, 2,000 validation images for the supernet (the whole split for scratch),
128 recalibration images, 1,000 test images for the largest/smallest report, two threads
(measured: the two halves side by side, one thread each, 34-50 minutes on a 2-core machine).
The scratch schedule must cost at least 100 scorings for the speed-up goal to be reachable at
all: 3,000 images x 4 epochs costs about 40 (37-40x measured), 12,000 images x 4 epochs 106-117x.

    .venv/bin/python benchmarks/supernet_ranking.py [--subset 12000] [--epochs 4] [--scratch-epochs 4] [--home DIR]

``--scratch-seeds 2`` trains every candidate with two seeds, ranks them by the mean and prints
the Kendall tau between the seeds' rankings: the ground truth's own repeatability, which bounds
what any proxy can show (``--scratch-only`` measures just that, without a supernet). Scratch
outcomes are kept under ``--home`` per scratch recipe, and the supernet artifact per run, so a
rerun with another supernet recipe trains only the new supernet; ``--supernet-only`` and
``--scratch-only`` with the same ``--home`` run the two halves side by side (one thread each;
``--skip-seeds`` lets a second scratch process take later seeds). ``--supernet-seeds 3`` ranks
with three supernets of the same recipe and prints how alike they rank: one supernet's tau is one
draw from a wide spread (0.09-0.60 measured, docs/supernet.md); with several, every supernet also
scores ``--agreement-archs`` random candidates, so how alike they rank is measured over 60, not 12.
``--pick random`` ranks plain seeded samples of the space instead of the MAC-quantile spread.
Scratch outcomes measured before are kept in git (``benchmarks/results/``) and copied into a fresh
``--home``; their seconds come from the machine that measured them, so ``--time-scratch N`` also
trains N candidates (evenly spaced over the list) from scratch in the same run and prints the
speed-up measured on this machine.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from scipy.stats import kendalltau, spearmanr
from supernet_genes import gene_counts  # a sibling script: benchmarks/ is on the path

from evaluators.base import Outcome, Task
from evaluators.datasets import DatasetNotFoundError, dataset_info, load_split, recalibration_images
from evaluators.scratch import TrainEvaluator
from evaluators.supernet.evaluator import SupernetEvaluator
from evaluators.supernet.network import scaled_ops
from evaluators.supernet.readout import READOUTS
from evaluators.supernet.training import EXTREMES
from search_spaces import Architecture, get_space
from search_spaces.ops.spec import total_cost
from store import artifacts as repo
from store.session import Database
from store.settings import Settings
from workers.supernet_train import SupernetRun, train_supernet

RESULTS = Path(__file__).parent / "results"  # measured outcomes kept in git (benchmarks/results/README.md)
RECIPE = ("random_subnets", "plain_shortcut", "balanced", "extremes", "distill")  # recorded with the results


def spread_archs(n: int, *, shape: dict[str, int], width: float, seed: int, pool: int = 2000) -> list[Architecture]:
    """``n`` seeded samples of the space at evenly spaced quantiles of their MACs (small to large)."""
    space = get_space("mnasnet")
    rng = np.random.default_rng(seed)
    archs = list({a.arch_id: a for a in (space.sample(rng) for _ in range(pool))}.values())
    macs = np.array([total_cost(scaled_ops(space.ops(a, **shape), width)).macs for a in archs])
    order = np.argsort(macs)
    picks = np.linspace(0, len(order) - 1, n).round().astype(int)
    return [archs[order[i]] for i in picks]


def random_archs(n: int, *, seed: int) -> list[Architecture]:
    """``n`` distinct seeded samples of the space, as a search's first draws would be."""
    space, rng, picked = get_space("mnasnet"), np.random.default_rng(seed), {}
    while len(picked) < n:
        arch = space.sample(rng)
        picked.setdefault(arch.arch_id, arch)
    return list(picked.values())


def scratch_cache(args: argparse.Namespace, dataset: str) -> Path:
    """The file under ``--home`` that keeps scratch outcomes of this exact scratch recipe."""
    recipe = [
        dataset,
        args.width,
        args.subset,
        args.scratch_epochs,
        args.batch_size,
        args.lr,
        args.truth_val,
        args.recal,
    ]
    digest = hashlib.sha256(json.dumps(recipe).encode()).hexdigest()[:12]
    cache = args.home / f"scratch-{digest}.json"
    committed = RESULTS / cache.name
    if not cache.exists() and committed.exists() and not args.fresh_scratch:  # start from those kept in git
        args.home.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(committed, cache)
        print(
            f"scratch outcomes copied from {committed}: their seconds were measured on another machine, so the "
            "speed-up compares two machines (--fresh-scratch trains them here)"
        )
    return cache


def read_kept(cache: Path) -> dict:
    """The scratch outcomes kept so far (by ``seed/arch_id``); re-read before each write, since a
    second ``--scratch-only`` process may share the file."""
    return json.loads(cache.read_text()) if cache.exists() else {}


def scratch_evaluator(args: argparse.Namespace, task: Task, data_dirs: list, seed: int) -> TrainEvaluator:
    """The ground truth's schedule: train from scratch, score on the validation split."""
    return TrainEvaluator(
        task=task,
        data_dirs=data_dirs,
        epochs=args.scratch_epochs,
        train_limit=args.subset,
        val_limit=args.truth_val,
        batch_size=args.batch_size,
        lr=args.lr,
        width=args.width,
        seed=seed,
        recal_images=args.recal,
    )


def time_here(
    rows: list[dict], archs: list[Architecture], args: argparse.Namespace, task: Task, data_dirs: list
) -> dict:
    """Train ``--time-scratch`` candidates (evenly spaced over the list) from scratch in this run, so
    the speed-up compares times of one machine even when the kept ground truth came from another."""
    picks = sorted({int(i) for i in np.linspace(0, len(archs) - 1, args.time_scratch).round()})
    outcomes = scratch_evaluator(args, task, data_dirs, args.seed).evaluate([archs[i] for i in picks])
    scratch_s = float(np.mean([o.seconds for o in outcomes]))
    scored_s = float(np.mean([rows[i]["supernet_s"] for i in picks]))
    print(
        f"timed here, same run: {len(picks)} candidates ({', '.join(archs[i].arch_id for i in picks)}) from scratch "
        f"{scratch_s:.1f} s each, scored {scored_s:.2f} s each: speed-up {scratch_s / scored_s:.0f}x"
    )
    return {
        "archs": [archs[i].arch_id for i in picks],
        "scratch_seconds_per_candidate": round(scratch_s, 2),
        "supernet_seconds_per_candidate": round(scored_s, 3),
        "speedup": round(scratch_s / scored_s, 1),
    }


def scratch_train(
    archs: list[Architecture], args: argparse.Namespace, task: Task, data_dirs: list, cache: Path
) -> list[list]:
    """Each candidate trained from scratch once per seed: ``[seed][candidate]`` outcomes. Outcomes
    are kept in ``cache`` (by seed and arch id), so a rerun with another supernet trains none again."""
    runs = []
    for seed in range(args.seed + args.skip_seeds, args.seed + args.scratch_seeds):
        scratch = scratch_evaluator(args, task, data_dirs, seed)
        outcomes = []
        for i, arch in enumerate(archs):
            key = f"{seed}/{arch.arch_id}"
            kept = read_kept(cache)  # another process may have added outcomes
            cached = key in kept
            if cached:
                outcomes.append(Outcome(metrics=kept[key]["metrics"], seconds=kept[key]["seconds"]))
            else:
                outcomes.extend(scratch.evaluate([arch]))
                if outcomes[-1].ok:
                    kept = read_kept(cache)
                    kept[key] = {"metrics": outcomes[-1].metrics, "seconds": outcomes[-1].seconds}
                    cache.write_text(json.dumps(kept, indent=1))
            last = outcomes[-1]
            print(
                f"  scratch seed {seed} {i + 1}/{len(archs)}: {last.metrics.get('accuracy', last.error)}"
                f" ({last.seconds:.1f} s{', kept' if cached else ''})"
            )
        failed = [o.error for o in outcomes if not o.ok]
        if failed:
            raise SystemExit(f"scratch training failed: {failed}")
        runs.append(outcomes)
    return runs


def ground_truth_repeatability(trained: list[list]) -> float | None:
    """Mean Kendall tau between the seeds' scratch rankings: the most any proxy can agree with one seed."""
    if len(trained) < 2:
        return None
    accs = [np.array([o.metrics["accuracy"] for o in seed]) for seed in trained]
    taus = [float(kendalltau(a, b).statistic) for i, a in enumerate(accs) for b in accs[i + 1 :]]
    print(f"scratch ground truth: Kendall tau between seeds {np.mean(taus):.3f} ({len(taus)} pairs)")
    for seed, a in zip(trained, accs, strict=True):
        print(
            f"  seed accuracies: {' '.join(f'{x:.3f}' for x in a)}  ({np.mean([o.seconds for o in seed]):.1f} s each)"
        )
    return round(float(np.mean(taus)), 3)


def recal_draws(
    supernet: SupernetEvaluator, archs: list[Architecture], truth: np.ndarray, draws: int, data_dirs: list
) -> list[float]:
    """Kendall tau of the supernet ranking with ``draws`` other BatchNorm-recalibration samples (same
    size, other seeds): how much of the tau is the luck of the recalibration images."""
    train = load_split(str(supernet.task.dataset), "train", data_dirs=data_dirs)
    taus = []
    for seed in range(1, draws + 1):
        recal = recalibration_images(train, len(supernet.recal), seed=seed)
        scores = [supernet.score(a, recal=recal) for a in archs]
        taus.append(round(float(kendalltau(scores, truth).statistic), 3))
    if taus:
        print(f"Kendall tau with {draws} other recalibration samples: {taus} (mean {np.mean(taus):.3f})")
    return taus


def epoch_progress(done: int, total: int, _phase: str) -> None:
    print(f"  epoch {done}/{total} ({time.strftime('%H:%M:%S')})", flush=True)


def pick_dataset(name: str, settings: Settings) -> str:
    try:
        load_split(name, "val", data_dirs=settings.data_dirs, limit=1)
        return name
    except DatasetNotFoundError as e:
        print(f"{e}\nfalling back to digits")
        return "digits"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="fashion-mnist")
    parser.add_argument("--width", type=float, default=0.5)
    parser.add_argument("--subset", type=int, default=12000, help="training images (supernet and scratch)")
    parser.add_argument("--epochs", type=int, default=4, help="supernet epochs")
    parser.add_argument("--scratch-epochs", type=int, default=4)
    parser.add_argument(
        "--scratch-seeds",
        type=int,
        default=2,
        help="seeds per candidate (2+: the ground truth's own tau)",
    )
    parser.add_argument(
        "--skip-seeds",
        type=int,
        default=0,
        help="with --scratch-only: train only the seeds after the first N (a second process shares the work)",
    )
    parser.add_argument("--scratch-only", action="store_true", help="only the ground truth (no supernet)")
    parser.add_argument(
        "--supernet-only", action="store_true", help="only train (or find) the supernet; run beside --scratch-only"
    )
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=0.05)
    parser.add_argument(
        "--plain-shortcut", type=float, default=0.5, help="fraction of supernet steps plain layers get a shortcut"
    )
    parser.add_argument(
        "--balanced", action="store_true", help="random subnets with each gene's choices equally often per step"
    )
    parser.add_argument(
        "--extremes",
        choices=EXTREMES,
        default="fixed",
        help="the largest/smallest subnets' ConvOps: fixed (mb6 / dconv), drawn per block each step, cycled per step",
    )
    parser.add_argument(
        "--no-distill", action="store_true", help="train every subnet on the labels (no in-place distillation)"
    )
    parser.add_argument("--random-subnets", type=int, default=4, help="random subnets per supernet step")
    parser.add_argument("--archs", type=int, default=12)
    parser.add_argument(
        "--pick",
        choices=("spread", "random"),
        default="spread",
        help="candidates: seeded samples at evenly spaced MAC quantiles, or plain seeded samples of the space",
    )
    parser.add_argument("--val", type=int, default=2000, help="validation images the supernet scores on")
    parser.add_argument(
        "--truth-val",
        type=int,
        default=None,
        help="validation images the scratch-trained candidates are scored on (default: the whole split)",
    )
    parser.add_argument("--recal", type=int, default=128, help="BN recalibration images per candidate")
    parser.add_argument(
        "--readout",
        choices=READOUTS,
        default="ridge",
        help="how the supernet scores a subnet: a cross-validated linear readout of its head features, or the "
        "inherited classifier's accuracy (the other one is scored too, for comparison)",
    )
    parser.add_argument(
        "--score-recal",
        type=int,
        default=None,
        help="BN recalibration images for supernet scoring only (default: --recal, which the runs keep)",
    )
    parser.add_argument(
        "--recal-draws",
        type=int,
        default=4,
        help="also score with this many other recalibration samples and print each one's tau",
    )
    parser.add_argument("--test-limit", type=int, default=1000, help="test images for the largest/smallest report")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0, help="picks the candidates; first scratch seed")
    parser.add_argument(
        "--supernet-seed", type=int, default=None, help="the (first) supernet's training seed (default: --seed)"
    )
    parser.add_argument(
        "--supernet-seeds",
        type=int,
        default=1,
        help="supernets trained with consecutive seeds, each ranked (2+: the supernets' own agreement)",
    )
    parser.add_argument(
        "--agreement-archs",
        type=int,
        default=48,
        help="extra random candidates every supernet scores (no ground truth) to measure how alike supernets rank",
    )
    parser.add_argument(
        "--time-scratch",
        type=int,
        default=0,
        metavar="N",
        help="also train N candidates from scratch in this run and print the speed-up measured on this machine",
    )
    parser.add_argument(
        "--fresh-scratch",
        action="store_true",
        help="train the ground truth here instead of starting from the outcomes kept in benchmarks/results",
    )
    parser.add_argument("--home", type=Path, default=Path("var/bench-supernet"))
    parser.add_argument("--out", type=Path, default=None, help="write the results as JSON here")
    args = parser.parse_args()
    if args.scratch_seeds < 1 or args.supernet_seeds < 1:
        parser.error("--scratch-seeds and --supernet-seeds must be at least 1")
    torch.set_num_threads(args.threads)

    settings = Settings(home=args.home, ray_num_cpus=2)
    db = Database(settings.db_url)
    db.migrate()
    dataset = pick_dataset(args.dataset, settings)
    info = dataset_info(dataset)
    task = Task("mnasnet", info.in_channels, info.input_size, info.num_classes, dataset)
    run = SupernetRun(
        space="mnasnet",
        dataset=dataset,
        epochs=args.epochs,
        subset=args.subset,
        width=args.width,
        batch_size=args.batch_size,
        lr=args.lr,
        seed=args.seed if args.supernet_seed is None else args.supernet_seed,
        plain_shortcut=args.plain_shortcut,
        random_subnets=args.random_subnets,
        balanced=args.balanced,
        extremes=args.extremes,
        distill=not args.no_distill,
        recal_images=args.recal,
        val_limit=args.val,
        test_limit=args.test_limit,
    )
    print(f"load average at start: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    if args.pick == "spread":
        archs = spread_archs(args.archs, shape=task.shape, width=args.width, seed=args.seed + 1)
    else:
        archs = random_archs(args.archs, seed=args.seed + 3)
    data_dirs = list(settings.data_dirs)
    args.home.mkdir(parents=True, exist_ok=True)
    if args.supernet_only:
        artifact = train_supernet(run, db=db, settings=settings, threads=args.threads, progress=epoch_progress)
        print(f"supernet {artifact.id}: {json.dumps(artifact.info['accuracy'])}, {artifact.info['seconds']:.0f} s")
        return
    trained = scratch_train(archs, args, task, data_dirs, scratch_cache(args, dataset))
    seeds_tau = ground_truth_repeatability(trained)
    if args.scratch_only:
        if args.out:
            ground = {
                "archs": [a.arch_id for a in archs],
                "scratch_seed_kendall_tau": seeds_tau,
                "accuracy": [[o.metrics["accuracy"] for o in seed] for seed in trained],
                "seconds": [[o.seconds for o in seed] for seed in trained],
            }
            args.out.write_text(json.dumps(ground, indent=2))
        return

    truth = np.mean([[o.metrics["accuracy"] for o in seed] for seed in trained], axis=0)  # mean over seeds
    print(f"dataset {dataset}, width {args.width}, {args.subset} training images, supernet {args.epochs} epochs")
    # candidates without a ground truth that every supernet scores, so their agreement is measured
    # over more than the ranked few (tau's standard error is about 0.2 at 12 candidates, 0.09 at 60)
    extra = random_archs(args.agreement_archs, seed=args.seed + 2) if args.supernet_seeds > 1 else []
    ranked = [
        rank_with_supernet(
            replace(run, seed=seed), archs, truth, extra=extra, args=args, db=db, settings=settings, task=task
        )
        for seed in range(run.seed, run.seed + args.supernet_seeds)
    ]
    space = get_space("mnasnet")
    rows = []
    head = " ".join(f"{'sn ' + str(r['seed']):>6}" for r in ranked)
    print(f"\n{'arch':16} {'MMACs':>7} {'params':>8} {head} {'scratch':>8} {'s/cand':>7} {'scratch s':>9}")
    for i, (arch, acc_t) in enumerate(zip(archs, truth, strict=True)):
        cost = total_cost(scaled_ops(space.ops(arch, **task.shape), args.width))
        rows.append(
            {
                "arch_id": arch.arch_id,
                "genome": list(arch.genome),
                "macs": cost.macs,
                "params": cost.params,
                "supernet_acc": [r["scores"][i] for r in ranked],
                "scratch_acc": float(acc_t),
                "supernet_s": float(np.mean([r["seconds"][i] for r in ranked])),
                "scratch_s": float(np.mean([seed[i].seconds for seed in trained])),
            }
        )
        scores = " ".join(f"{x:6.3f}" for x in rows[-1]["supernet_acc"])
        print(
            f"{arch.arch_id:16} {cost.macs / 1e6:7.2f} {cost.params:8d} {scores} "
            f"{acc_t:8.3f} {rows[-1]['supernet_s']:7.2f} {rows[-1]['scratch_s']:9.1f}"
        )
    zero_cost = baselines(rows, truth, task.shape)
    agreement = wide = None
    if len(ranked) > 1:
        agreement = mean_pairwise_tau([r["scores"] for r in ranked])
        wide = mean_pairwise_tau([r["scores"] + r["extra_scores"] for r in ranked])
    per_sup = float(np.mean([r["supernet_s"] for r in rows]))
    per_scr = float(np.mean([r["scratch_s"] for r in rows]))
    tau = float(np.mean([r["kendall_tau"] for r in ranked]))
    other = next(r for r in READOUTS if r != args.readout)
    other_tau = float(np.mean([r[f"kendall_tau_{other}_readout"] for r in ranked]))
    summary = {
        "dataset": dataset,
        "pick": args.pick,
        "width": args.width,
        "train_images": args.subset,
        "supernet_epochs": args.epochs,
        "scratch_epochs": args.scratch_epochs,
        "scratch_seeds": args.scratch_seeds,
        "scratch_seed_kendall_tau": seeds_tau,
        "val_images": args.val,
        "truth_val_images": args.truth_val or "the whole validation split",
        "recal_images": args.recal,
        "score_recal_images": args.score_recal or args.recal,
        "readout": args.readout,
        "recipe": {k: getattr(run, k) for k in RECIPE},
        "zero_cost_kendall_tau": zero_cost,
        "supernets": [{k: v for k, v in r.items() if k not in ("scores", "extra_scores", "seconds")} for r in ranked],
        "supernet_seed_kendall_tau": agreement,
        "supernet_seed_kendall_tau_wide": wide,
        "agreement_archs": len(archs) + len(extra),
        "kendall_tau": round(tau, 3),
        f"kendall_tau_{other}_readout": round(other_tau, 3),
        "supernet_seconds_per_candidate": round(per_sup, 3),
        "scratch_seconds_per_candidate": round(per_scr, 2),
        "speedup": round(per_scr / per_sup, 1),
        "candidates": rows,
    }
    print()
    for r in ranked:
        print(
            f"supernet seed {r['seed']}: Kendall tau {r['kendall_tau']:.3f} (Spearman {r['spearman_rho']:.3f}), "
            f"with {len(r['kendall_tau_other_recal_draws'])} other recalibration samples "
            f"{r['kendall_tau_other_recal_draws']}"
        )
    if agreement is not None:
        print(
            f"the supernets rank the candidates alike at Kendall tau {agreement:.3f} (mean over pairs); "
            f"over these and {len(extra)} random candidates at {wide:.3f}"
        )
    print(f"for comparison, Kendall tau of counting what a candidate has (no training): {zero_cost}")
    print(
        f"Kendall tau {tau:.3f} over {len(rows)} architectures (mean over {len(ranked)} supernet(s); "
        f"{args.readout} readout; {other} readout: {other_tau:.3f})\n"
        f"supernet {per_sup:.2f} s per candidate, scratch {per_scr:.1f} s per candidate (mean over seeds): "
        f"speed-up {per_scr / per_sup:.0f}x (load average at the end {os.getloadavg()[0]:.1f})"
    )
    if args.time_scratch:
        summary["speedup_same_run"] = time_here(rows, archs, args, task, data_dirs)
    if args.out:
        args.out.write_text(json.dumps(summary, indent=2))
        print(f"wrote {args.out}")


def baselines(rows: list[dict], truth: np.ndarray, shape: dict[str, int]) -> dict[str, float]:
    """Kendall tau against the truth of costless rankings: more parameters, more MACs, more layers
    with a shortcut (the ground truth's strongest gene, docs/supernet.md). A proxy worth training
    should beat them."""
    counts = {
        "params": [r["params"] for r in rows],
        "macs": [r["macs"] for r in rows],
        "residual_layers": [gene_counts(r["genome"], shape)["with shortcut"] for r in rows],
    }
    return {name: round(float(kendalltau(v, truth).statistic), 3) for name, v in counts.items()}


def mean_pairwise_tau(rankings: list[list[float]]) -> float:
    """Mean Kendall tau over every pair of score lists (how alike several proxies rank)."""
    pairs = [kendalltau(a, b).statistic for i, a in enumerate(rankings) for b in rankings[i + 1 :]]
    return round(float(np.mean(pairs)), 3)


def rank_with_supernet(
    run: SupernetRun,
    archs: list[Architecture],
    truth: np.ndarray,
    *,
    extra: list[Architecture],
    args: argparse.Namespace,
    db: Database,
    settings: Settings,
    task: Task,
) -> dict:
    """Train (or find) the supernet of ``run``, score ``archs`` with it and rank them against ``truth``."""
    data_dirs = list(settings.data_dirs)
    start = time.perf_counter()
    artifact = train_supernet(run, db=db, settings=settings, threads=args.threads, progress=epoch_progress)
    wall = time.perf_counter() - start
    acc = artifact.info["accuracy"]
    print(
        f"supernet {artifact.id} (seed {run.seed}): trained in {artifact.info['seconds']:.0f} s (wall {wall:.0f} s); "
        f"largest val {acc['largest']['val']:.3f} test {acc['largest']['test']:.3f}; "
        f"smallest val {acc['smallest']['val']:.3f} test {acc['smallest']['test']:.3f}"
    )
    start = time.perf_counter()
    supernet = SupernetEvaluator(
        task=task,
        checkpoint=repo.verify(settings.artifacts, artifact),
        data_dirs=data_dirs,
        artifact_id=artifact.id,
        recal_images=args.score_recal or args.recal,
        val_limit=args.val,
        readout=args.readout,
    )
    load_s = time.perf_counter() - start
    supernet.evaluate(random_archs(1, seed=args.seed + 4))  # warm-up (first-call set-up), not timed per candidate
    scored = supernet.evaluate(archs)
    failed = [o.error for o in scored if not o.ok]
    if failed:
        raise SystemExit(f"evaluations failed: {failed}")
    scores = [o.metrics["accuracy"] for o in scored]
    extra_scores = [o.metrics["accuracy"] for o in supernet.evaluate(extra)]
    other = next(r for r in READOUTS if r != supernet.readout)
    other_scores = [supernet.score(a, readout=other) for a in archs]
    other_tau = round(float(kendalltau(other_scores, truth).statistic), 3)
    print(f"supernet seed {run.seed}: with the {other} readout instead, Kendall tau {other_tau:.3f}")
    return {
        "seed": run.seed,
        "artifact": artifact.id,
        "train_seconds": artifact.info["seconds"],
        "accuracy": acc,
        "checkpoint_load_seconds": round(load_s, 2),
        "kendall_tau": round(float(kendalltau(scores, truth).statistic), 3),
        "spearman_rho": round(float(spearmanr(scores, truth).statistic), 3),
        "kendall_tau_other_recal_draws": recal_draws(supernet, archs, truth, args.recal_draws, data_dirs),
        f"kendall_tau_{other}_readout": other_tau,
        f"{other}_readout_scores": other_scores,
        "scores": scores,
        "extra_scores": extra_scores,
        "seconds": [o.seconds for o in scored],
    }


if __name__ == "__main__":
    main()
