"""Measurement tables and learned predictors as artifacts, and the training sets predictors learn from.

An imported table (kind ``table``) or a trained predictor (kind ``predictor``) is a folder under
the artifact root, recorded with its sha256 (`store.artifacts`); jobs find them by id or name.
A training set is a list of architectures with one value each, read from a table's column
(`from_table`) or from the evaluated candidates of stored jobs (`from_jobs`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from evaluators.tabular import Table
from search_spaces import Architecture
from store import artifacts as repo
from store import jobs as job_repo

if TYPE_CHECKING:
    from predictors.base import Predictor
    from store import models as m
    from store.session import Database
    from store.settings import Settings

TRAINING_FILE = "training.json"  # the arch ids a predictor was trained on, beside its model files


# -- tables ----------------------------------------------------------------------------------------
def save_table(db: Database, s: Settings, table: Table, *, name: str) -> str:
    """Store ``table`` under the artifact root and register it (kind ``table``); returns its id."""
    artifact_id = repo.new_artifact_id()
    folder = table.save(s.artifacts / "tables" / artifact_id)
    info = {
        "space": table.space,
        "space_version": table.version,
        "rows": len(table),
        "columns": {c.name: f"{c.metric}:{c.unit}" for c in table.columns},
        "source": table.source,
    }
    with db.session() as session:
        row = repo.register_artifact(
            session, root=s.artifacts, path=folder, kind="table", name=name, info=info, artifact_id=artifact_id
        )
        return row.id


def load_table(db: Database, s: Settings, ref: str) -> tuple[Table, str]:
    """The table artifact ``ref`` (id or name), checked against its sha256, and its id."""
    with db.session() as session:
        row = repo.get_artifact(session, ref, kind="table")
        return Table.load(repo.verify(s.artifacts, row)), row.id


# -- predictors ------------------------------------------------------------------------------------
def save_predictor(db: Database, s: Settings, model: Predictor, training: list[str], *, name: str) -> str:
    """Store a fitted predictor and the arch ids it was trained on (kind ``predictor``); returns its id."""
    artifact_id = repo.new_artifact_id()
    folder = model.save(s.artifacts / "predictors" / artifact_id)
    (folder / TRAINING_FILE).write_text(json.dumps(training))
    info = model.info()
    meta = {
        "space": info.space,
        "space_version": info.space_version,
        "metric": info.metric,
        "label": info.label,
        "shape": info.shape,
        "feature_version": info.feature_version,
        "n_train": info.n_train,
        "cv": (info.cv or {}).get("mean"),
        "source": info.source,
    }
    with db.session() as session:
        row = repo.register_artifact(
            session, root=s.artifacts, path=folder, kind="predictor", name=name, info=meta, artifact_id=artifact_id
        )
        return row.id


def predictor_folder(db: Database, s: Settings, ref: str) -> tuple[Path, m.Artifact]:
    """The folder of the predictor artifact ``ref`` (id or name), checked against its sha256."""
    with db.session() as session:
        row = repo.get_artifact(session, ref, kind="predictor")
        return repo.verify(s.artifacts, row), row


def training_ids(folder: Path) -> set[str]:
    """The arch ids a stored predictor was trained on (empty for one saved without them)."""
    path = folder / TRAINING_FILE
    return set(json.loads(path.read_text())) if path.exists() else set()


# -- training sets ---------------------------------------------------------------------------------
def from_table(table: Table, column: str) -> tuple[list[Architecture], np.ndarray]:
    """The architectures that have a value in ``column``, and those values."""
    y = table.values[:, table.column(column)]
    keep = np.flatnonzero(np.isfinite(y))
    archs = table.architectures()
    return [archs[i] for i in keep], y[keep]


def from_jobs(
    db: Database, *, space: str, metric: str, dataset: str | None, device: str | None, evaluator: str | None
) -> tuple[list[Architecture], np.ndarray, list[str]]:
    """Every evaluated candidate of matching jobs that has ``metric`` (repeats averaged), and the job ids."""
    values: dict[str, list[float]] = {}
    archs: dict[str, Architecture] = {}
    job_ids = []
    with db.session() as session:
        jobs, _ = job_repo.list_jobs(session, limit=10_000)
        for job in jobs:
            spec = job.spec
            if spec.get("space") != space or (dataset and spec.get("dataset") != dataset):
                continue
            if device and spec.get("device") != device:
                continue
            job_ids.append(job.id)
            for c in job_repo.all_candidates(session, job.id):
                if c.status != "ok" or metric not in c.metrics:
                    continue
                if evaluator and (c.provenance.get(metric) or {}).get("evaluator") != evaluator:
                    continue
                archs.setdefault(c.arch_id, Architecture.from_dict(c.arch, validate=False))
                values.setdefault(c.arch_id, []).append(float(c.metrics[metric]))
    ids = list(values)
    return [archs[i] for i in ids], np.array([np.mean(values[i]) for i in ids]), job_ids
