"""Shared by the supernet tests: a tiny supernet trained through `nas supernet train`'s path."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from evaluators import EVALUATORS, Task

SHAPE = {"in_channels": 1, "input_size": 8, "num_classes": 10}


def train_and_load(tmp_path: Path, space: str) -> tuple[dict[str, Any], Any]:
    """Train ``space``'s supernet on 256 digits for 2 epochs (Ray Tune, stored as an artifact); its
    info and a `supernet` evaluator over it (64 recalibration, 96 validation images)."""
    from store import artifacts as repo
    from store.session import Database
    from store.settings import Settings
    from workers.operations import SupernetTrainRequest, train_supernet

    settings = Settings(home=tmp_path, ray_num_cpus=2)
    db = Database(settings.db_url)
    db.migrate()
    request = SupernetTrainRequest(space=space, dataset="digits", epochs=2, subset=256, batch_size=32)
    trained = train_supernet(db, settings, request)
    with db.session() as s:
        artifact = repo.get_artifact(s, trained.artifact_id, kind="supernet")
    evaluator = EVALUATORS.get("supernet")(
        task=Task(space, dataset="digits", **SHAPE),
        checkpoint=repo.verify(settings.artifacts, artifact),
        data_dirs=list(settings.data_dirs),
        recal_images=64,
        val_limit=96,
    )
    return trained.info, evaluator
