"""The ``train`` evaluator's schedule as Ray Tune trials, with ASHA early stopping."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from evaluators.base import Task
from evaluators.scratch import TrainEvaluator
from evaluators.supernet.network import largest_arch, smallest_arch
from store.settings import Settings
from workers.train_trials import train_candidates

TASK = Task("mnasnet", in_channels=1, input_size=8, num_classes=10, dataset="digits")
OPTIONS = {"epochs": 2, "train_limit": 96, "val_limit": 96, "width": 0.25, "batch_size": 32, "recal_images": 64}


@pytest.mark.usefixtures("ray_cluster")
def test_asha_stops_the_trials_that_trail_at_its_rung(tmp_path: Path) -> None:
    archs = [smallest_arch(), largest_arch()]  # the shallow one learns faster at first (0.18 vs 0.07)
    settings = Settings(home=tmp_path, ray_num_cpus=2)
    results = train_candidates(
        archs, task=TASK, settings=settings, options=OPTIONS, asha=True, grace_period=1, max_concurrent=1
    )
    assert [r.arch_id for r in results] == [a.arch_id for a in archs]
    assert all(r.error is None and r.epochs in (1, 2) and 0.0 <= r.accuracy <= 1.0 for r in results)

    # the same recipe in this process (one thread, as in the trials): identical per-epoch accuracies
    threads = torch.get_num_threads()
    local = TrainEvaluator(task=TASK, data_dirs=settings.data_dirs, threads=1, **OPTIONS)
    curves = [[m["accuracy"] for m in local.epochs(a, score_every_epoch=True)] for a in archs]
    torch.set_num_threads(threads)
    rung: list[float] = []  # ASHA (reduction factor 2): stop when below the median of the earlier trials at epoch 1
    for result, curve in zip(results, curves, strict=True):
        should_stop = bool(rung) and curve[0] < float(np.percentile(rung, 50))
        assert result.stopped_early == should_stop and result.accuracy == curve[result.epochs - 1]
        rung.append(curve[0])
    assert results[1].stopped_early and results[1].epochs == 1
