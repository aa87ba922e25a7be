"""Supernet training as a Ray Tune trainable, and the driver that stores the result as an artifact.

`supernet_trainable` is a function trainable: each epoch it reports its metrics (loss, learning
rate, validation accuracy of the largest and smallest subnets after BN recalibration, seconds)
with a checkpoint of the full trainer state; on start it resumes from ``tune.get_checkpoint()``.
So a trial whose worker dies is retried from its last epoch (``FailureConfig``), and an
interrupted `train_supernet` (Ctrl-C, a killed process) continues where it stopped when called
again with the same run: the experiment folder is named by the run's digest and restored with
``Tuner.restore``. The last epoch also scores both subnets on the test split and writes the
standalone checkpoint file, which the driver copies under the artifact root and registers in
``nas_artifacts`` (kind ``supernet``).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from ray import tune

from core.errors import NasError
from evaluators.datasets import dataset_info, load_split, recalibration_images
from evaluators.supernet.cells import SinglePathTrainer
from evaluators.supernet.checkpoint import FIXED_GENES, build_supernet, save_supernet, supernet_class
from evaluators.supernet.network import StagedSupernet
from evaluators.supernet.training import EXTREMES, SandwichTrainer, Schedule, subnet_accuracy
from store import artifacts as repo
from workers.ray_runtime import ensure_ray

if TYPE_CHECKING:
    from store import models as m
    from store.session import Database
    from store.settings import Settings

Progress = Callable[[int, int, str], None]
STATE_FILE = "state.pt"
SUPERNET_FILE = "supernet.pt"
_PROGRESS: dict[str, Progress] = {}  # experiment name -> progress callback of this driver process


@dataclass(frozen=True)
class SupernetRun:
    """Everything that determines a trained supernet (its digest names the experiment)."""

    space: str
    dataset: str
    epochs: int
    subset: int | None = None  # first N training images (None: the whole training split)
    width: float = 1.0
    batch_size: int = 64
    lr: float = 0.05
    seed: int = 0
    random_subnets: int = 4  # besides the largest and smallest (docs/supernet.md: 4 ranks better than 2)
    plain_shortcut: float = 0.5  # fraction of the steps over which plain layers' shortcut anneals to 0
    balanced: bool = False  # random subnets drawn with every gene's choices equally often per step
    extremes: str = "fixed"  # the largest/smallest subnets' ConvOps: fixed, drawn per block, cycled per step
    distill: bool = True  # in-place distillation: the other subnets learn the largest's predictions
    recal_images: int = 256
    val_limit: int | None = 2000
    test_limit: int | None = None
    macro: str | None = None  # a cell space's macro setting, the sparse space's backbone and width (fixed)

    def __post_init__(self) -> None:
        cls = supernet_class(self.space)
        if cls in FIXED_GENES:  # checked (and normalised) now, not in the trial
            object.__setattr__(self, "macro", cls.check_macro(self.space, self.macro or cls.default_macro))  # type: ignore[union-attr]
        elif self.macro is not None:
            raise NasError(f"macro: only cell spaces have a macro setting to fix, not {self.space}")
        Schedule(epochs=self.epochs, batch_size=self.batch_size, lr=self.lr)  # validates
        if self.subset is not None and self.subset < 1:
            raise NasError(f"subset must be at least 1, got {self.subset}")
        if not 0.0 < self.width <= 1.0:
            raise NasError(f"width must be in (0, 1], got {self.width}")
        if self.random_subnets < 0:
            raise NasError(f"random_subnets must be >= 0, got {self.random_subnets}")
        if not 0.0 <= self.plain_shortcut <= 1.0:
            raise NasError(f"plain_shortcut must be in [0, 1], got {self.plain_shortcut}")
        if self.extremes not in EXTREMES:
            raise NasError(f"extremes must be one of {EXTREMES}, got {self.extremes!r}")

    def digest(self) -> str:
        fields = asdict(self)
        for late, default in (("balanced", False), ("extremes", "fixed"), ("distill", True), ("macro", None)):
            if fields[late] == default:  # added later: left out at their defaults, so earlier runs keep their digest
                del fields[late]
        text = json.dumps(fields, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()[:12]

    @property
    def experiment(self) -> str:
        slug = "".join(c if c.isalnum() or c in "-_" else "_" for c in self.dataset)[:40]
        return f"supernet-{self.space}-{slug}-{self.digest()}"


def supernet_trainable(config: dict[str, Any]) -> None:
    """Ray Tune function trainable: train (or resume) the run in ``config["run"]``."""
    run = SupernetRun(**config["run"])
    torch.set_num_threads(int(config.get("threads", 1)))
    dirs = tuple(Path(d) for d in config["data_dirs"])
    info = dataset_info(run.dataset)
    shape = {"in_channels": info.in_channels, "input_size": info.input_size, "num_classes": info.num_classes}
    train = load_split(run.dataset, "train", data_dirs=dirs, limit=run.subset)
    val = load_split(run.dataset, "val", data_dirs=dirs, limit=run.val_limit)
    recal = recalibration_images(train, run.recal_images)
    schedule = Schedule(epochs=run.epochs, batch_size=run.batch_size, lr=run.lr)
    trainer = make_trainer(run, shape, train, schedule)
    net = trainer.net
    seconds, resumed_from = 0.0, 0
    checkpoint = tune.get_checkpoint()
    if checkpoint is not None:
        with checkpoint.as_directory() as folder:
            state = torch.load(Path(folder) / STATE_FILE, map_location="cpu", weights_only=True)
        trainer.load_state_dict(state["trainer"])
        seconds, resumed_from = float(state["seconds"]), trainer.epoch
    while not trainer.done:
        start = time.perf_counter()
        stats = trainer.train_epoch()
        metrics: dict[str, Any] = {
            "epoch": trainer.epoch,
            "epochs": run.epochs,
            "resumed_from": resumed_from,
            "train_images": len(train),
            "val_images": len(val),
            "recal_images": len(recal),
            **stats,
        }
        splits = {"val": val}
        if trainer.done:
            splits["test"] = load_split(run.dataset, "test", data_dirs=dirs, limit=run.test_limit)
        for label, arch in trainer.references.items():
            for split, data in splits.items():
                metrics[f"{split}_acc_{label}"] = subnet_accuracy(net, arch, recal=recal, data=data)
        seconds += time.perf_counter() - start
        metrics["seconds"] = seconds
        with tempfile.TemporaryDirectory() as folder:
            torch.save({"trainer": trainer.state_dict(), "seconds": seconds}, Path(folder) / STATE_FILE)
            if trainer.done:
                save_supernet(Path(folder) / SUPERNET_FILE, net, info=_info(run, metrics))
            tune.report(metrics, checkpoint=tune.Checkpoint.from_directory(folder))


def make_trainer(
    run: SupernetRun, shape: dict[str, int], train: Any, schedule: Schedule
) -> SandwichTrainer | SinglePathTrainer:
    """The run's supernet and its trainer: single-path for a cell space, the sandwich rule otherwise."""
    if run.macro is not None:
        fixed = build_supernet(run.space, shape=shape, width=run.width, macro=run.macro)
        return SinglePathTrainer(fixed, train, schedule, seed=run.seed)
    net = build_supernet(run.space, shape=shape, width=run.width)
    assert isinstance(net, StagedSupernet)
    return SandwichTrainer(
        net,
        train,
        schedule,
        random_subnets=run.random_subnets,
        plain_shortcut=run.plain_shortcut,
        balanced=run.balanced,
        extremes=run.extremes,
        distill=run.distill,
        seed=run.seed,
    )


def _info(run: SupernetRun, metrics: dict[str, Any]) -> dict[str, Any]:
    """The artifact's metadata: the run, its time and the largest/smallest subnets' accuracy."""
    return {
        "space": run.space,
        "dataset": run.dataset,
        "epochs": run.epochs,
        "seconds": round(float(metrics["seconds"]), 1),
        "width": run.width,
        "train_images": int(metrics["train_images"]),
        "val_images": int(metrics["val_images"]),
        "recal_images": int(metrics["recal_images"]),
        "run": run.digest(),
        "schedule": {
            "batch_size": run.batch_size,
            "lr": run.lr,
            "random_subnets": run.random_subnets,
            "plain_shortcut": run.plain_shortcut,
            "balanced": run.balanced,
            "extremes": run.extremes,
            "distill": run.distill,
            **({"macro": run.macro} if run.macro else {}),
        },
        "accuracy": {
            label: {split: round(float(metrics[f"{split}_acc_{label}"]), 4) for split in ("val", "test")}
            for label in (k.removeprefix("val_acc_") for k in metrics if k.startswith("val_acc_"))
        },
    }


class _ProgressCallback(tune.Callback):
    """Forwards each epoch's result to the driver's progress function (looked up by key, so the
    callback pickles with the experiment state)."""

    def __init__(self, key: str) -> None:
        self.key = key

    def on_trial_result(self, iteration: int, trials: list[Any], trial: Any, result: dict, **info: Any) -> None:
        progress = _PROGRESS.get(self.key)
        if progress is not None and "epoch" in result:
            progress(int(result["epoch"]), int(result["epochs"]), "epochs")


def train_supernet(
    run: SupernetRun,
    *,
    db: Database,
    settings: Settings,
    name: str | None = None,
    threads: int = 1,
    max_failures: int = 2,
    progress: Progress | None = None,
) -> m.Artifact:
    """Train ``run`` through Ray Tune (resuming an interrupted run) and register the checkpoint.

    A run that already produced a registered, intact artifact returns that artifact."""
    with db.session() as s:
        for row in repo.find_artifacts(s, "supernet", run=run.digest()):
            try:
                repo.verify(settings.artifacts, row)
                return row
            except NasError:
                continue
    load_split(run.dataset, "val", data_dirs=settings.data_dirs, limit=1)  # a missing dataset fails here, clearly
    ensure_ray(settings)
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")  # the legacy reporter honours verbose=0 (progress is ours)
    os.environ.setdefault("TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S", "0")  # one checkpoint/epoch
    storage = settings.artifacts / "ray"
    trainable = tune.with_resources(supernet_trainable, {"cpu": threads})
    _PROGRESS[run.experiment] = progress or (lambda done, total, phase: None)
    try:
        path = storage / run.experiment
        if tune.Tuner.can_restore(str(path)):
            tuner = tune.Tuner.restore(str(path), trainable, resume_unfinished=True, resume_errored=True)
        else:
            config = {
                "run": asdict(run),
                "threads": threads,
                "data_dirs": [str(d) for d in settings.data_dirs],
            }
            tuner = tune.Tuner(
                trainable,
                param_space=config,
                run_config=tune.RunConfig(
                    name=run.experiment,
                    storage_path=str(storage),
                    failure_config=tune.FailureConfig(max_failures=max_failures),
                    checkpoint_config=tune.CheckpointConfig(num_to_keep=1),
                    callbacks=[_ProgressCallback(run.experiment)],
                    verbose=0,
                ),
            )
        result = tuner.fit()[0]
    finally:
        _PROGRESS.pop(run.experiment, None)
    if result.error is not None:
        raise NasError(f"supernet training {run.experiment} failed: {result.error}")
    done = int((result.metrics or {}).get("epoch", 0))
    if result.checkpoint is None or done < run.epochs:
        raise NasError(
            f"supernet training {run.experiment} was interrupted after epoch {done} of {run.epochs}; "
            "run the same command again to resume from the last checkpoint"
        )
    artifact_id = repo.new_artifact_id()
    target = settings.artifacts / "supernets" / artifact_id / SUPERNET_FILE
    target.parent.mkdir(parents=True, exist_ok=True)
    with result.checkpoint.as_directory() as folder:
        shutil.copyfile(Path(folder) / SUPERNET_FILE, target)
    info = _info(run, result.metrics)
    with db.session() as s:
        return repo.register_artifact(
            s,
            root=settings.artifacts,
            path=target,
            kind="supernet",
            name=name or f"{run.space}-{run.dataset}-{run.epochs}ep-{run.digest()[:6]}",
            info=info,
            artifact_id=artifact_id,
        )
