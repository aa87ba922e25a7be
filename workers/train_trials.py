"""Training candidates from scratch as Ray Tune trials: several at once, ASHA early stopping when asked.

Each trial trains one architecture with the ``train`` evaluator's recipe (`evaluators.scratch`)
and reports its validation accuracy (after BatchNorm recalibration) after every epoch. With
``asha=True`` an `ASHAScheduler` (Li et al., "A System for Massively Parallel Hyperparameter
Tuning", 2020) stops trials whose accuracy trails at its rungs, so finalists get the full
schedule and weak candidates only a part of it.
"""

from __future__ import annotations

import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from ray import tune
from ray.tune.schedulers import ASHAScheduler

from core.errors import NasError
from evaluators import EVALUATORS
from evaluators.base import Task
from evaluators.scratch import TrainEvaluator
from search_spaces import Architecture
from workers.ray_runtime import ensure_ray

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

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
    """Ray Tune function trainable: train ``config["arch"]`` with the evaluator ``config["evaluator"]``
    (default ``train``) and report after every epoch."""
    torch.set_num_threads(int(config.get("threads", 1)))
    cls = EVALUATORS.get(config.get("evaluator", TrainEvaluator.name))
    evaluator = cls(task=Task(**config["task"]), data_dirs=config["data_dirs"], **config["options"])
    arch = Architecture.from_dict(config["arch"])
    last = int(config["options"].get("epochs", 3))
    for model, metrics in evaluator.run_epochs(arch, score_every_epoch=True):
        if config.get("weights_dir") and int(metrics["epoch"]) == last:  # the full schedule: keep its weights
            from safetensors.torch import save_file

            folder = Path(config["weights_dir"])
            folder.mkdir(parents=True, exist_ok=True)
            tmp = folder / f".{arch.arch_id}.{os.getpid()}.tmp"
            save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(tmp))
            tmp.replace(folder / f"{arch.arch_id}.safetensors")
        tune.report({**metrics, "epoch": int(metrics["epoch"])})


def _outcome(trial: Any, epochs: int, failed: bool) -> TrialResult:
    metrics = trial.last_result or {}
    done = int(metrics.get("epoch", 0))
    error = (trial.get_error() or RuntimeError("the trial failed")) if failed else None
    return TrialResult(
        arch_id=Architecture.from_dict(trial.config["arch"]).arch_id,
        accuracy=metrics.get("accuracy") if error is None else None,
        epochs=done,
        stopped_early=error is None and done < epochs,
        seconds=float(metrics.get("train_seconds", 0.0)),
        error=None if error is None else f"{type(error).__name__}: {error}",
    )


def _ignore(_: TrialResult) -> None:
    return None


def _never() -> bool:
    return False


class _EachTrial(tune.Callback):
    """Hands each trial's outcome to ``fn`` as soon as the trial ends (stored at once, not after all)."""

    def __init__(self, fn: Callable[[TrialResult], None], epochs: int) -> None:
        self.fn, self.epochs = fn, epochs

    def __getstate__(self) -> dict[str, Any]:  # Tune pickles its run config; the hook stays in this process
        return {"fn": _ignore, "epochs": self.epochs}

    def on_trial_complete(self, iteration: int, trials: list[Any], trial: Any, **info: Any) -> None:
        self.fn(_outcome(trial, self.epochs, failed=False))

    def on_trial_error(self, iteration: int, trials: list[Any], trial: Any, **info: Any) -> None:
        self.fn(_outcome(trial, self.epochs, failed=True))


class _StopAll(tune.stopper.Stopper):
    """Stops every trial once ``stop()`` says so (asked at most every ``every`` seconds)."""

    def __init__(self, stop: Callable[[], bool], every: float = 2.0) -> None:
        self.stop, self.every, self.last, self.stopped = stop, every, 0.0, False

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "stop": _never}

    def __call__(self, trial_id: str, result: dict[str, Any]) -> bool:
        return self.stop_all()

    def stop_all(self) -> bool:
        if not self.stopped and time.monotonic() - self.last >= self.every:
            self.last, self.stopped = time.monotonic(), bool(self.stop())
        return self.stopped


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
    evaluator: str = TrainEvaluator.name,
    on_result: Callable[[TrialResult], None] | None = None,
    stop: Callable[[], bool] | None = None,
    weights_dir: Path | None = None,
) -> list[TrialResult]:
    """Train every architecture from scratch as one Tune trial each (with ``evaluator``'s epoch
    loop); results in the order given, and each to ``on_result`` as soon as its trial ends. When
    ``stop()`` turns true every trial stops (those unfinished are then missing from the results).
    With ``weights_dir``, a trial that trains the full schedule saves ``<arch_id>.safetensors`` there."""
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
        "evaluator": evaluator,
        "weights_dir": str(weights_dir) if weights_dir else None,
    }
    tuner = tune.Tuner(
        tune.with_resources(train_trial, {"cpu": 1}),
        param_space=config,
        tune_config=tune.TuneConfig(
            metric="accuracy", mode="max", scheduler=scheduler, max_concurrent_trials=max_concurrent
        ),
        run_config=tune.RunConfig(
            name=name,
            storage_path=str(settings.artifacts / "ray"),
            verbose=0,
            callbacks=[_EachTrial(on_result, epochs)] if on_result else None,
            stop=_StopAll(stop) if stop else None,
        ),
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
    return [by_arch[a.arch_id] for a in archs if a.arch_id in by_arch]
