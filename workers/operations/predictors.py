"""Measurement tables keyed by architecture and the predictors learned from them.

`import_table` stores a tabular benchmark (NAS-Bench-201 style: one row per architecture) as a
``table`` artifact, which the ``tabular`` evaluator answers from; `fit_predictor` trains a
predictor on a table's column or on the candidates stored jobs evaluated and stores it as a
``predictor`` artifact, which the ``predictor`` evaluator answers from.
"""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from pydantic import Field

from core.errors import NasError
from core.metrics import get_metric
from evaluators.tabular import read_table
from predictors.training import train_predictor
from search_spaces import get_space
from store.measurements import from_jobs, from_table, load_table, save_predictor, save_table
from workers.operations.common import Progress, Request, Result, ShapeFields, no_progress

if TYPE_CHECKING:
    from store.session import Database
    from store.settings import Settings


class TableImportRequest(Request):
    """``nas predictor import-table``: a CSV or JSON table's text, one row per architecture."""

    text: str = Field(description="The table's content (keyed by arch_str, arch_index or arch).")
    space: str = Field(description="Search space of the rows.")
    format: Literal["csv", "json"] = "csv"
    file_name: str = Field(default="table", description="Where it came from (recorded; the default name).")
    name: str | None = Field(default=None, description="Artifact name (default: the file name).")
    columns: dict[str, str] = Field(
        default_factory=dict, description="Declared headers: NAME -> METRIC[:UNIT] or 'ignore'."
    )

    @classmethod
    def from_file(cls, path: Path, **fields: Any) -> TableImportRequest:
        """The request for a ``.csv`` / ``.json`` file (optionally ``.gz``)."""
        path = Path(path)
        raw = path.read_bytes()
        if path.name.lower().endswith(".gz"):
            raw = gzip.decompress(raw)
        fmt = "json" if path.name.lower().removesuffix(".gz").endswith(".json") else "csv"
        return cls(text=raw.decode("utf-8-sig"), format=fmt, file_name=path.name, **fields)


class TableColumn(Result):
    name: str
    metric: str
    unit: str
    filled: int  # rows with a value


class TableStored(Result):
    table_id: str
    name: str
    space: str
    rows: int
    columns: list[TableColumn]


def import_table(
    db: Database, settings: Settings, request: TableImportRequest, progress: Progress | None = None
) -> TableStored:
    """Parse the table (errors name the row and column) and register it as a ``table`` artifact."""
    get_space(request.space)
    table = read_table(
        request.text,
        space=request.space,
        fmt=request.format,
        columns=request.columns,
        source={"file": request.file_name},
    )
    (progress or no_progress)(1, 2, "parsed")
    name = request.name or request.file_name
    table_id = save_table(db, settings, table, name=name)
    (progress or no_progress)(2, 2, "stored")
    columns = [
        TableColumn(
            name=c.name,
            metric=c.metric,
            unit=c.unit,
            filled=int(np.isfinite(table.values[:, table.column(c.name)]).sum()),
        )
        for c in table.columns
    ]
    return TableStored(table_id=table_id, name=name, space=table.space, rows=len(table), columns=columns)


def import_shipped(db: Database, settings: Settings, space: str) -> list[TableStored]:
    """Import the published benchmark tables the space ships (``SearchSpace.tables``), named by
    their key (``nb201-published``); the ``tabular`` evaluator calls this when none is stored."""
    return [
        import_table(db, settings, TableImportRequest.from_file(path, space=space, name=name))
        for name, path in get_space(space).tables.items()
    ]


class PredictorFitRequest(ShapeFields):
    """``nas predictor train``: learn ``metric`` from a table (``table``) or from stored jobs'
    candidates (filtered by ``dataset``, ``device``, ``evaluator``)."""

    space: str = Field(description="Search space.")
    metric: str = Field(description="Metric to predict (accuracy, latency_ms, energy_mj, ...).")
    table: str | None = Field(default=None, description="Train on an imported table (id or name) ...")
    column: str | None = Field(default=None, description="... using this column (default: the metric's only one).")
    device: str | None = Field(default=None, description="Jobs on this device only (latency).")
    evaluator: str | None = Field(default=None, description="Only values this evaluator produced.")
    n: int | None = Field(default=None, ge=2, description="Train on N randomly drawn architectures.")
    cv: int = Field(default=5, ge=0, description="Folds of cross-validation (0: none).")
    seed: int = Field(default=0, ge=0)
    members: int = Field(default=5, ge=1, description="Ensemble size (the spread is the uncertainty).")
    name: str | None = Field(default=None, description="Artifact name.")


class PredictorStored(Result):
    artifact_id: str
    name: str
    space: str
    metric: str
    label: str
    n_train: int
    cv: dict[str, Any] | None  # {"k": folds, "mean": {kendall_tau, spearman, rmse, within_5, within_10}, ...}
    source: dict[str, Any]


def _training_set(
    db: Database, settings: Settings, request: PredictorFitRequest
) -> tuple[list[Any], np.ndarray, str, dict[str, Any]]:
    """(architectures, values, label, source) from the request's table or from stored jobs."""
    if request.table is not None:
        tab, table_id = load_table(db, settings, request.table)
        if tab.space != request.space:
            raise NasError(f"table {request.table} is for space {tab.space}, not {request.space}")
        hints = tuple(x for x in (request.device, request.dataset) if x)
        col = request.column or tab.pick(request.metric, hints).name
        if tab.columns[tab.column(col)].metric != request.metric:
            raise NasError(f"column {col} holds {tab.columns[tab.column(col)].metric}, not {request.metric}")
        archs, y = from_table(tab, col)
        return archs, y, col, {"table": table_id, "column": col}
    archs, y, job_ids = from_jobs(
        db,
        space=request.space,
        metric=request.metric,
        dataset=request.dataset,
        device=request.device,
        evaluator=request.evaluator,
    )
    per_device = get_metric(request.metric).scope == "device"  # labelled by device, else by dataset
    label = (request.device if per_device else request.dataset) or ""
    return archs, y, label, {"jobs": job_ids, "evaluator": request.evaluator}


def fit_predictor(
    db: Database, settings: Settings, request: PredictorFitRequest, progress: Progress | None = None
) -> PredictorStored:
    """Cross-validate and fit a predictor, then register it as a ``predictor`` artifact."""
    progress = progress or no_progress
    get_space(request.space)
    shape = request.shape()
    archs, y, label, source = _training_set(db, settings, request)
    progress(1, 3, "training set")
    model, training = train_predictor(
        archs,
        y,
        space=request.space,
        metric=request.metric,
        shape=shape,
        label=label,
        n=request.n,
        k=request.cv,
        seed=request.seed,
        options={"members": request.members},
    )
    model.source = source
    progress(2, 3, "fitted")
    name = request.name or f"{request.space}-{request.metric}-{label or 'all'}-{len(training)}"
    artifact_id = save_predictor(db, settings, model, training, name=name)
    progress(3, 3, "stored")
    return PredictorStored(
        artifact_id=artifact_id,
        name=name,
        space=request.space,
        metric=request.metric,
        label=label,
        n_train=model.n_train,
        cv=model.cv,
        source=source,
    )
