"""The ``train`` evaluator's schedule as Ray Tune trials, with ASHA early stopping."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import ray

from evaluators.base import Task
from evaluators.scratch import TrainEvaluator
from evaluators.supernet.network import largest_arch, smallest_arch
from search_spaces import Architecture
from store.settings import Settings
from workers.train_trials import train_candidates

TASK = Task("mnasnet", in_channels=1, input_size=8, num_classes=10, dataset="digits")
OPTIONS = {"epochs": 2, "train_limit": 96, "val_limit": 96, "width": 0.25, "batch_size": 32, "recal_images": 64}


@ray.remote(num_cpus=1)
def reference_curve(data_dirs: list[str], arch: str) -> list[float]:
    """The trial's recipe run directly: accuracy after each epoch."""
    local = TrainEvaluator(task=TASK, data_dirs=data_dirs, threads=1, **OPTIONS)
    return [m["accuracy"] for m in local.epochs(Architecture.from_json(arch), score_every_epoch=True)]


@pytest.mark.usefixtures("ray_cluster")
def test_asha_stops_the_trials_that_trail_at_its_rung(tmp_path: Path) -> None:
    archs = [smallest_arch(), largest_arch()]  # the shallow one learns faster at first (0.18 vs 0.07)
    settings = Settings(home=tmp_path, ray_num_cpus=2)
    results = train_candidates(
        archs, task=TASK, settings=settings, options=OPTIONS, asha=True, grace_period=1, max_concurrent=1
    )
    assert [r.arch_id for r in results] == [a.arch_id for a in archs]
    assert all(r.error is None and r.epochs in (1, 2) and 0.0 <= r.accuracy <= 1.0 for r in results)

    # the same recipe outside Tune, in a fresh one-CPU worker as the trials are: identical per-epoch
    # accuracies. (Not in this process: after hundreds of other tests, oneDNN's cached kernels
    # can sum in another order, and one validation image in 96 flips.)
    curves = ray.get(
        [reference_curve.remote([str(d) for d in settings.data_dirs], a.to_json()) for a in archs], timeout=300
    )
    rung: list[float] = []  # ASHA (reduction factor 2): stop when below the median of the earlier trials at epoch 1
    for result, curve in zip(results, curves, strict=True):
        should_stop = bool(rung) and curve[0] < float(np.percentile(rung, 50))
        assert result.stopped_early == should_stop and result.accuracy == curve[result.epochs - 1]
        rung.append(curve[0])
    assert results[1].stopped_early and results[1].epochs == 1
