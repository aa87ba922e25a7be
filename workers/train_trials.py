"""Training candidates from scratch as Ray Tune trials: several at once, ASHA early stopping when asked.

Each trial trains one architecture with the ``train`` evaluator's recipe (`evaluators.scratch`)
and reports its validation accuracy (after BatchNorm recalibration) after every epoch. With
``asha=True`` an `ASHAScheduler` (Li et al., "A System for Massively Parallel Hyperparameter
Tuning", 2020) stops trials whose accuracy trails at its rungs, so finalists get the full
schedule and weak candidates only a part of it.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from ray import tune
from ray.tune.schedulers import ASHAScheduler

from core.errors import NasError
from evaluators.base import Task
from evaluators.scratch import TrainEvaluator
from search_spaces import Architecture
from workers.ray_runtime import ensure_ray

if TYPE_CHECKING:
    from collections.abc import Sequence

    from store.settings import Settings


@dataclass
class TrialResult:
    """One candidate's outcome: its last reported accuracy, how many epochs it trained, or its error."""

    arch_id: str
    accuracy: float | None
    epochs: int
    stopped_early: bool
    seconds: float
    error: str | None = None


def train_trial(config: dict[str, Any]) -> None:
    """Ray Tune function trainable: train ``config["arch"]`` and report after every epoch."""
    torch.set_num_threads(int(config.get("threads", 1)))
    evaluator = TrainEvaluator(task=Task(**config["task"]), data_dirs=config["data_dirs"], **config["options"])
    arch = Architecture.from_dict(config["arch"])
    for metrics in evaluator.epochs(arch, score_every_epoch=True):
        tune.report({**metrics, "epoch": int(metrics["epoch"])})


def train_candidates(
    archs: Sequence[Architecture],
    *,
    task: Task,
    settings: Settings,
    options: dict[str, Any] | None = None,
    max_concurrent: int = 2,
    asha: bool = False,
    grace_period: int = 1,
    reduction_factor: int = 2,
    name: str = "train-candidates",
) -> list[TrialResult]:
    """Train every architecture from scratch as one Tune trial each; results in the order given."""
    options = dict(options or {})
    epochs = int(options.get("epochs", 3))
    if asha and not 1 <= grace_period <= epochs:
        raise NasError(f"grace_period must be within 1..epochs ({epochs}), got {grace_period}")
    ensure_ray(settings)
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
    scheduler = (
        ASHAScheduler(time_attr="epoch", max_t=epochs, grace_period=grace_period, reduction_factor=reduction_factor)
        if asha
        else None
    )
    config = {
        "arch": tune.grid_search([a.to_dict() for a in archs]),
        "task": asdict(task),
        "data_dirs": [str(Path(d)) for d in settings.data_dirs],
        "options": options,
    }
    tuner = tune.Tuner(
        tune.with_resources(train_trial, {"cpu": 1}),
        param_space=config,
        tune_config=tune.TuneConfig(
            metric="accuracy", mode="max", scheduler=scheduler, max_concurrent_trials=max_concurrent
        ),
        run_config=tune.RunConfig(name=name, storage_path=str(settings.artifacts / "ray"), verbose=0),
    )
    by_arch: dict[str, TrialResult] = {}
    for result in tuner.fit():
        arch_id = Architecture.from_dict(result.config["arch"]).arch_id
        metrics = result.metrics or {}
        done = int(metrics.get("epoch", 0))
        by_arch[arch_id] = TrialResult(
            arch_id=arch_id,
            accuracy=metrics.get("accuracy"),
            epochs=done,
            stopped_early=result.error is None and done < epochs,
            seconds=float(metrics.get("train_seconds", 0.0)),
            error=None if result.error is None else f"{type(result.error).__name__}: {result.error}",
        )
    return [by_arch[a.arch_id] for a in archs]
