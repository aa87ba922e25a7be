"""Weight sources for export bundles: a candidate scored by the supernet evaluator is exported with
the weights it was scored with (the extracted subnet, BatchNorm re-estimated on the same images)."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from evaluators.base import Task
from search_spaces import Architecture
from store import artifacts
from store.session import Database
from store.settings import Settings


def supernet_weights(
    produced: dict[str, Any], arch: Architecture, task: Task, settings: Settings
) -> tuple[nn.Module, dict[str, Any]] | None:
    from evaluators.supernet.evaluator import SupernetEvaluator

    artifact_id = produced.get("artifact_id")
    if not artifact_id or settings is None:
        return None
    db = Database(settings.db_url)
    try:
        with db.session() as s:
            row = artifacts.get_artifact(s, artifact_id, kind="supernet")
            path = artifacts.verify(settings.artifacts, row)
    finally:
        db.dispose()
    scorer = SupernetEvaluator(
        task=task,
        checkpoint=path,
        data_dirs=settings.data_dirs,
        artifact_id=artifact_id,
        recal_images=int(produced.get("recal_images", 256)),
        val_limit=1,
        finetune_images=int(produced.get("finetune_images") or 0),
        finetune_lr=float(produced.get("finetune_lr") or 0.01),
    )
    model = scorer.subnet(arch).to(memory_format=torch.contiguous_format)
    return model, {
        "source": "supernet",
        "artifact_id": artifact_id,
        "checkpoint": path.name,
        "width": scorer.net.width,
        "bn_recalibrated_on": len(scorer.recal),
        "finetune_images": len(scorer.tune.data) if scorer.tune else 0,
        "note": "inherited from the trained supernet"
        + (", fine-tuned" if scorer.tune else "")
        + ", BatchNorm statistics re-estimated as when scored",
        "readout": _readout_note(str(produced.get("readout", "inherited"))),
    }


def _readout_note(readout: str) -> str:
    """How the stored accuracy relates to these weights."""
    if readout == "inherited":
        return "inherited: the stored accuracy is these weights' validation accuracy"
    return (
        f"{readout}: the stored accuracy is a ranking score, the cross-validated validation accuracy of a linear "
        "readout fitted on these weights' head features; the classifier here is the supernet's shared one"
    )
