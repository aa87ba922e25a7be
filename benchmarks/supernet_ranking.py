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

    .venv/bin/python -m benchmarks.supernet_ranking [--subset 12000] [--epochs 4] [--scratch-epochs 4] [--home DIR]

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

Run it from the repository root as a module (``-m``): it imports the shared helpers from
``benchmarks._common``. The flags become a `RankingConfig`; `main` only wires the steps.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from scipy.stats import kendalltau, spearmanr

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

try:
    from benchmarks._common import gene_counts
except ModuleNotFoundError as e:  # started as a file: the repository root is not on the path
    raise SystemExit("run it from the repository root as a module: python -m benchmarks.supernet_ranking") from e

if TYPE_CHECKING:
    from store.models import Artifact

RESULTS = Path(__file__).parent / "results"  # measured outcomes kept in git (benchmarks/results/README.md)
RECIPE = ("random_subnets", "plain_shortcut", "balanced", "extremes", "distill")  # recorded with the results


# -- configuration ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class RankingConfig:
    """Every flag of the benchmark (``--scratch-epochs`` is ``scratch_epochs``; ``--no-distill`` is
    ``distill=False``)."""

    dataset: str = "fashion-mnist"
    width: float = 0.5
    subset: int = 12000
    epochs: int = 4
    scratch_epochs: int = 4
    scratch_seeds: int = 2
    skip_seeds: int = 0
    scratch_only: bool = False
    supernet_only: bool = False
    batch_size: int = 64
    lr: float = 0.05
    plain_shortcut: float = 0.5
    balanced: bool = False
    extremes: str = "fixed"
    distill: bool = True
    random_subnets: int = 4
    archs: int = 12
    pick: str = "spread"
    val: int = 2000
    truth_val: int | None = None
    recal: int = 128
    readout: str = "ridge"
    score_recal: int | None = None
    recal_draws: int = 4
    test_limit: int = 1000
    threads: int = 2
    seed: int = 0
    supernet_seed: int | None = None
    supernet_seeds: int = 1
    agreement_archs: int = 48
    time_scratch: int = 0
    fresh_scratch: bool = False
    home: Path = Path("var/bench-supernet")
    out: Path | None = None

    @classmethod
    def from_args(cls, argv: Sequence[str] | None = None) -> RankingConfig:
        parser = build_parser()
        args = vars(parser.parse_args(argv))
        args["distill"] = not args.pop("no_distill")
        config = cls(**args)
        if config.scratch_seeds < 1 or config.supernet_seeds < 1:
            parser.error("--scratch-seeds and --supernet-seeds must be at least 1")
        return config

    def run(self, dataset: str) -> SupernetRun:
        """The (first) supernet's training run."""
        return SupernetRun(
            space="mnasnet",
            dataset=dataset,
            epochs=self.epochs,
            subset=self.subset,
            width=self.width,
            batch_size=self.batch_size,
            lr=self.lr,
            seed=self.seed if self.supernet_seed is None else self.supernet_seed,
            plain_shortcut=self.plain_shortcut,
            random_subnets=self.random_subnets,
            balanced=self.balanced,
            extremes=self.extremes,
            distill=self.distill,
            recal_images=self.recal,
            val_limit=self.val,
            test_limit=self.test_limit,
        )

    def scratch_recipe(self, dataset: str) -> list[Any]:
        """What the scratch outcomes depend on (its digest names their cache file)."""
        return [dataset, self.width, self.subset, self.scratch_epochs, self.batch_size, self.lr, self.truth_val,
                self.recal]  # fmt: skip


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    _training_flags(parser)
    _scratch_flags(parser)
    _scoring_flags(parser)
    _run_flags(parser)
    return parser


def _training_flags(parser: argparse.ArgumentParser) -> None:
    """The supernet's (and partly the scratch) training recipe."""
    add = parser.add_argument
    add("--dataset", default="fashion-mnist")
    add("--width", type=float, default=0.5)
    add("--subset", type=int, default=12000, help="training images (supernet and scratch)")
    add("--epochs", type=int, default=4, help="supernet epochs")
    add("--batch-size", type=int, default=64)
    add("--lr", type=float, default=0.05)
    add("--plain-shortcut", type=float, default=0.5, help="fraction of supernet steps plain layers get a shortcut")
    add("--balanced", action="store_true", help="random subnets with each gene's choices equally often per step")
    add(
        "--extremes",
        choices=EXTREMES,
        default="fixed",
        help="the largest/smallest subnets' ConvOps: fixed (mb6 / dconv), drawn per block each step, cycled per step",
    )
    add("--no-distill", action="store_true", help="train every subnet on the labels (no in-place distillation)")
    add("--random-subnets", type=int, default=4, help="random subnets per supernet step")
    add("--test-limit", type=int, default=1000, help="test images for the largest/smallest report")


def _scratch_flags(parser: argparse.ArgumentParser) -> None:
    """The ground truth: candidates trained from scratch."""
    add = parser.add_argument
    add("--scratch-epochs", type=int, default=4)
    add("--scratch-seeds", type=int, default=2, help="seeds per candidate (2+: the ground truth's own tau)")
    add(
        "--skip-seeds",
        type=int,
        default=0,
        help="with --scratch-only: train only the seeds after the first N (a second process shares the work)",
    )
    add("--scratch-only", action="store_true", help="only the ground truth (no supernet)")
    add("--supernet-only", action="store_true", help="only train (or find) the supernet; run beside --scratch-only")
    add(
        "--truth-val",
        type=int,
        default=None,
        help="validation images the scratch-trained candidates are scored on (default: the whole split)",
    )
    add(
        "--time-scratch",
        type=int,
        default=0,
        metavar="N",
        help="also train N candidates from scratch in this run and print the speed-up measured on this machine",
    )
    add(
        "--fresh-scratch",
        action="store_true",
        help="train the ground truth here instead of starting from the outcomes kept in benchmarks/results",
    )


def _scoring_flags(parser: argparse.ArgumentParser) -> None:
    """Which candidates, and how the supernet scores them."""
    add = parser.add_argument
    add("--archs", type=int, default=12)
    add(
        "--pick",
        choices=("spread", "random"),
        default="spread",
        help="candidates: seeded samples at evenly spaced MAC quantiles, or plain seeded samples of the space",
    )
    add("--val", type=int, default=2000, help="validation images the supernet scores on")
    add("--recal", type=int, default=128, help="BN recalibration images per candidate")
    add(
        "--readout",
        choices=READOUTS,
        default="ridge",
        help="how the supernet scores a subnet: a cross-validated linear readout of its head features, or the "
        "inherited classifier's accuracy (the other one is scored too, for comparison)",
    )
    add(
        "--score-recal",
        type=int,
        default=None,
        help="BN recalibration images for supernet scoring only (default: --recal, which the runs keep)",
    )
    add(
        "--recal-draws",
        type=int,
        default=4,
        help="also score with this many other recalibration samples and print each one's tau",
    )


def _run_flags(parser: argparse.ArgumentParser) -> None:
    """Seeds, threads, supernets, where things go."""
    add = parser.add_argument
    add("--threads", type=int, default=2)
    add("--seed", type=int, default=0, help="picks the candidates; first scratch seed")
    add("--supernet-seed", type=int, default=None, help="the (first) supernet's training seed (default: --seed)")
    add(
        "--supernet-seeds",
        type=int,
        default=1,
        help="supernets trained with consecutive seeds, each ranked (2+: the supernets' own agreement)",
    )
    add(
        "--agreement-archs",
        type=int,
        default=48,
        help="extra random candidates every supernet scores (no ground truth) to measure how alike supernets rank",
    )
    add("--home", type=Path, default=Path("var/bench-supernet"))
    add("--out", type=Path, default=None, help="write the results as JSON here")


@dataclass(frozen=True)
class Bench:
    """One benchmark run's config and what it runs against."""

    config: RankingConfig
    settings: Settings
    db: Database
    dataset: str
    task: Task

    @property
    def data_dirs(self) -> list[Path]:
        return list(self.settings.data_dirs)


def open_bench(config: RankingConfig) -> Bench:
    settings = Settings(home=config.home, ray_num_cpus=2)
    db = Database(settings.db_url)
    db.migrate()
    dataset = pick_dataset(config.dataset, settings)
    info = dataset_info(dataset)
    task = Task("mnasnet", info.in_channels, info.input_size, info.num_classes, dataset)
    return Bench(config=config, settings=settings, db=db, dataset=dataset, task=task)


def pick_dataset(name: str, settings: Settings) -> str:
    try:
        load_split(name, "val", data_dirs=settings.data_dirs, limit=1)
        return name
    except DatasetNotFoundError as e:
        print(f"{e}\nfalling back to digits")
        return "digits"


# -- candidates -------------------------------------------------------------------------------------
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


def candidates(bench: Bench) -> list[Architecture]:
    c = bench.config
    if c.pick == "spread":
        return spread_archs(c.archs, shape=bench.task.shape, width=c.width, seed=c.seed + 1)
    return random_archs(c.archs, seed=c.seed + 3)


# -- the ground truth: training from scratch --------------------------------------------------------
def scratch_cache(bench: Bench) -> Path:
    """The file under ``--home`` that keeps scratch outcomes of this exact scratch recipe."""
    c = bench.config
    digest = hashlib.sha256(json.dumps(c.scratch_recipe(bench.dataset)).encode()).hexdigest()[:12]
    cache = c.home / f"scratch-{digest}.json"
    committed = RESULTS / cache.name
    if not cache.exists() and committed.exists() and not c.fresh_scratch:  # start from those kept in git
        c.home.mkdir(parents=True, exist_ok=True)
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


def scratch_evaluator(bench: Bench, seed: int) -> TrainEvaluator:
    """The ground truth's schedule: train from scratch, score on the validation split."""
    c = bench.config
    return TrainEvaluator(
        task=bench.task,
        data_dirs=bench.data_dirs,
        epochs=c.scratch_epochs,
        train_limit=c.subset,
        val_limit=c.truth_val,
        batch_size=c.batch_size,
        lr=c.lr,
        width=c.width,
        seed=seed,
        recal_images=c.recal,
    )


def scratch_outcome(scratch: TrainEvaluator, arch: Architecture, key: str, cache: Path) -> tuple[Outcome, bool]:
    """One candidate's outcome for one seed, from ``cache`` or trained now (and kept); (outcome, kept)."""
    kept = read_kept(cache)  # another process may have added outcomes
    if key in kept:
        return Outcome(metrics=kept[key]["metrics"], seconds=kept[key]["seconds"]), True
    [outcome] = scratch.evaluate([arch])
    if outcome.ok:
        kept = read_kept(cache)
        kept[key] = {"metrics": outcome.metrics, "seconds": outcome.seconds}
        cache.write_text(json.dumps(kept, indent=1))
    return outcome, False


def scratch_train(bench: Bench, archs: list[Architecture], cache: Path) -> list[list[Outcome]]:
    """Each candidate trained from scratch once per seed: ``[seed][candidate]`` outcomes. Outcomes
    are kept in ``cache`` (by seed and arch id), so a rerun with another supernet trains none again."""
    c, runs = bench.config, []
    for seed in range(c.seed + c.skip_seeds, c.seed + c.scratch_seeds):
        scratch = scratch_evaluator(bench, seed)
        outcomes = []
        for i, arch in enumerate(archs):
            last, cached = scratch_outcome(scratch, arch, f"{seed}/{arch.arch_id}", cache)
            outcomes.append(last)
            print(
                f"  scratch seed {seed} {i + 1}/{len(archs)}: {last.metrics.get('accuracy', last.error)}"
                f" ({last.seconds:.1f} s{', kept' if cached else ''})"
            )
        failed = [o.error for o in outcomes if not o.ok]
        if failed:
            raise SystemExit(f"scratch training failed: {failed}")
        runs.append(outcomes)
    return runs


def ground_truth_repeatability(trained: list[list[Outcome]]) -> float | None:
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


def scratch_only_summary(archs: list[Architecture], trained: list[list[Outcome]], seeds_tau: float | None) -> dict:
    return {
        "archs": [a.arch_id for a in archs],
        "scratch_seed_kendall_tau": seeds_tau,
        "accuracy": [[o.metrics["accuracy"] for o in seed] for seed in trained],
        "seconds": [[o.seconds for o in seed] for seed in trained],
    }


def time_here(bench: Bench, rows: list[dict], archs: list[Architecture]) -> dict:
    """Train ``--time-scratch`` candidates (evenly spaced over the list) from scratch in this run, so
    the speed-up compares times of one machine even when the kept ground truth came from another."""
    picks = sorted({int(i) for i in np.linspace(0, len(archs) - 1, bench.config.time_scratch).round()})
    outcomes = scratch_evaluator(bench, bench.config.seed).evaluate([archs[i] for i in picks])
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


# -- the supernet -----------------------------------------------------------------------------------
def epoch_progress(done: int, total: int, _phase: str) -> None:
    print(f"  epoch {done}/{total} ({time.strftime('%H:%M:%S')})", flush=True)


def train_one(bench: Bench, run: SupernetRun) -> Artifact:
    """Train (or find) the supernet of ``run``; print its time and the extremes' accuracy."""
    start = time.perf_counter()
    artifact = train_supernet(
        run, db=bench.db, settings=bench.settings, threads=bench.config.threads, progress=epoch_progress
    )
    wall = time.perf_counter() - start
    acc = artifact.info["accuracy"]
    print(
        f"supernet {artifact.id} (seed {run.seed}): trained in {artifact.info['seconds']:.0f} s (wall {wall:.0f} s); "
        f"largest val {acc['largest']['val']:.3f} test {acc['largest']['test']:.3f}; "
        f"smallest val {acc['smallest']['val']:.3f} test {acc['smallest']['test']:.3f}"
    )
    return artifact


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


def rank_with_supernet(
    bench: Bench, run: SupernetRun, archs: list[Architecture], truth: np.ndarray, *, extra: list[Architecture]
) -> dict:
    """Train (or find) the supernet of ``run``, score ``archs`` with it and rank them against ``truth``."""
    c = bench.config
    artifact = train_one(bench, run)
    start = time.perf_counter()
    supernet = SupernetEvaluator(
        task=bench.task,
        checkpoint=repo.verify(bench.settings.artifacts, artifact),
        data_dirs=bench.data_dirs,
        artifact_id=artifact.id,
        recal_images=c.score_recal or c.recal,
        val_limit=c.val,
        readout=c.readout,
    )
    load_s = time.perf_counter() - start
    supernet.evaluate(random_archs(1, seed=c.seed + 4))  # warm-up (first-call set-up), not timed per candidate
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
        "accuracy": artifact.info["accuracy"],
        "checkpoint_load_seconds": round(load_s, 2),
        "kendall_tau": round(float(kendalltau(scores, truth).statistic), 3),
        "spearman_rho": round(float(spearmanr(scores, truth).statistic), 3),
        "kendall_tau_other_recal_draws": recal_draws(supernet, archs, truth, c.recal_draws, bench.data_dirs),
        f"kendall_tau_{other}_readout": other_tau,
        f"{other}_readout_scores": other_scores,
        "scores": scores,
        "extra_scores": extra_scores,
        "seconds": [o.seconds for o in scored],
    }


# -- comparison -------------------------------------------------------------------------------------
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


def candidate_rows(
    bench: Bench, archs: list[Architecture], truth: np.ndarray, ranked: list[dict], trained: list[list[Outcome]]
) -> list[dict]:
    """One row per candidate (cost, every supernet's score, the truth, the times), printed as a table."""
    space, rows = get_space("mnasnet"), []
    head = " ".join(f"{'sn ' + str(r['seed']):>6}" for r in ranked)
    print(f"\n{'arch':16} {'MMACs':>7} {'params':>8} {head} {'scratch':>8} {'s/cand':>7} {'scratch s':>9}")
    for i, (arch, acc_t) in enumerate(zip(archs, truth, strict=True)):
        cost = total_cost(scaled_ops(space.ops(arch, **bench.task.shape), bench.config.width))
        row = {
            "arch_id": arch.arch_id,
            "genome": list(arch.genome),
            "macs": cost.macs,
            "params": cost.params,
            "supernet_acc": [r["scores"][i] for r in ranked],
            "scratch_acc": float(acc_t),
            "supernet_s": float(np.mean([r["seconds"][i] for r in ranked])),
            "scratch_s": float(np.mean([seed[i].seconds for seed in trained])),
        }
        rows.append(row)
        scores = " ".join(f"{x:6.3f}" for x in row["supernet_acc"])
        print(
            f"{arch.arch_id:16} {cost.macs / 1e6:7.2f} {cost.params:8d} {scores} "
            f"{acc_t:8.3f} {row['supernet_s']:7.2f} {row['scratch_s']:9.1f}"
        )
    return rows


def summarize(
    bench: Bench, run: SupernetRun, rows: list[dict], ranked: list[dict], *, seeds_tau: float | None, extra: int
) -> dict:
    """The ``--out`` summary (benchmarks/supernet_genes.py reads its ``candidates``)."""
    c = bench.config
    truth = np.array([r["scratch_acc"] for r in rows])
    agreement = wide = None
    if len(ranked) > 1:
        agreement = mean_pairwise_tau([r["scores"] for r in ranked])
        wide = mean_pairwise_tau([r["scores"] + r["extra_scores"] for r in ranked])
    per_sup = float(np.mean([r["supernet_s"] for r in rows]))
    per_scr = float(np.mean([r["scratch_s"] for r in rows]))
    other = next(r for r in READOUTS if r != c.readout)
    return {
        "dataset": bench.dataset,
        "pick": c.pick,
        "width": c.width,
        "train_images": c.subset,
        "supernet_epochs": c.epochs,
        "scratch_epochs": c.scratch_epochs,
        "scratch_seeds": c.scratch_seeds,
        "scratch_seed_kendall_tau": seeds_tau,
        "val_images": c.val,
        "truth_val_images": c.truth_val or "the whole validation split",
        "recal_images": c.recal,
        "score_recal_images": c.score_recal or c.recal,
        "readout": c.readout,
        "recipe": {k: getattr(run, k) for k in RECIPE},
        "zero_cost_kendall_tau": baselines(rows, truth, bench.task.shape),
        "supernets": [{k: v for k, v in r.items() if k not in ("scores", "extra_scores", "seconds")} for r in ranked],
        "supernet_seed_kendall_tau": agreement,
        "supernet_seed_kendall_tau_wide": wide,
        "agreement_archs": len(rows) + extra,
        "kendall_tau": round(float(np.mean([r["kendall_tau"] for r in ranked])), 3),
        f"kendall_tau_{other}_readout": round(float(np.mean([r[f"kendall_tau_{other}_readout"] for r in ranked])), 3),
        "supernet_seconds_per_candidate": round(per_sup, 3),
        "scratch_seconds_per_candidate": round(per_scr, 2),
        "speedup": round(per_scr / per_sup, 1),
        "candidates": rows,
    }


def print_summary(summary: dict, ranked: list[dict], *, extra: int) -> None:
    print()
    for r in ranked:
        print(
            f"supernet seed {r['seed']}: Kendall tau {r['kendall_tau']:.3f} (Spearman {r['spearman_rho']:.3f}), "
            f"with {len(r['kendall_tau_other_recal_draws'])} other recalibration samples "
            f"{r['kendall_tau_other_recal_draws']}"
        )
    if summary["supernet_seed_kendall_tau"] is not None:
        print(
            f"the supernets rank the candidates alike at Kendall tau {summary['supernet_seed_kendall_tau']:.3f} "
            f"(mean over pairs); over these and {extra} random candidates at "
            f"{summary['supernet_seed_kendall_tau_wide']:.3f}"
        )
    print(f"for comparison, Kendall tau of counting what a candidate has (no training): "
          f"{summary['zero_cost_kendall_tau']}")  # fmt: skip
    readout = summary["readout"]
    other = next(r for r in READOUTS if r != readout)
    per_sup, per_scr = summary["supernet_seconds_per_candidate"], summary["scratch_seconds_per_candidate"]
    print(
        f"Kendall tau {summary['kendall_tau']:.3f} over {len(summary['candidates'])} architectures (mean over "
        f"{len(ranked)} supernet(s); {readout} readout; {other} readout: {summary[f'kendall_tau_{other}_readout']:.3f})"
        f"\nsupernet {per_sup:.2f} s per candidate, scratch {per_scr:.1f} s per candidate (mean over seeds): "
        f"speed-up {per_scr / per_sup:.0f}x (load average at the end {os.getloadavg()[0]:.1f})"
    )


# -- the run ----------------------------------------------------------------------------------------
def rank(bench: Bench, archs: list[Architecture], trained: list[list[Outcome]], seeds_tau: float | None) -> dict:
    """Rank ``archs`` with ``--supernet-seeds`` supernets against the scratch truth; the summary."""
    c, run = bench.config, bench.config.run(bench.dataset)
    truth = np.mean([[o.metrics["accuracy"] for o in seed] for seed in trained], axis=0)  # mean over seeds
    print(f"dataset {bench.dataset}, width {c.width}, {c.subset} training images, supernet {c.epochs} epochs")
    # candidates without a ground truth that every supernet scores, so their agreement is measured
    # over more than the ranked few (tau's standard error is about 0.2 at 12 candidates, 0.09 at 60)
    extra = random_archs(c.agreement_archs, seed=c.seed + 2) if c.supernet_seeds > 1 else []
    ranked = [
        rank_with_supernet(bench, replace(run, seed=seed), archs, truth, extra=extra)
        for seed in range(run.seed, run.seed + c.supernet_seeds)
    ]
    rows = candidate_rows(bench, archs, truth, ranked, trained)
    summary = summarize(bench, run, rows, ranked, seeds_tau=seeds_tau, extra=len(extra))
    print_summary(summary, ranked, extra=len(extra))
    if c.time_scratch:
        summary["speedup_same_run"] = time_here(bench, rows, archs)
    return summary


def main(argv: Sequence[str] | None = None) -> None:
    config = RankingConfig.from_args(argv)
    torch.set_num_threads(config.threads)
    bench = open_bench(config)
    print(f"load average at start: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    archs = candidates(bench)
    config.home.mkdir(parents=True, exist_ok=True)
    if config.supernet_only:
        artifact = train_supernet(config.run(bench.dataset), db=bench.db, settings=bench.settings,
                                  threads=config.threads, progress=epoch_progress)  # fmt: skip
        print(f"supernet {artifact.id}: {json.dumps(artifact.info['accuracy'])}, {artifact.info['seconds']:.0f} s")
        return
    trained = scratch_train(bench, archs, scratch_cache(bench))
    seeds_tau = ground_truth_repeatability(trained)
    if config.scratch_only:
        if config.out:
            config.out.write_text(json.dumps(scratch_only_summary(archs, trained, seeds_tau), indent=2))
        return
    summary = rank(bench, archs, trained, seeds_tau)
    if config.out:
        config.out.write_text(json.dumps(summary, indent=2))
        print(f"wrote {config.out}")


if __name__ == "__main__":
    main()
