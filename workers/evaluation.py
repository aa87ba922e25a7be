"""From a job spec to evaluator recipes: what each pool actor constructs once and keeps warm.

A recipe is an evaluator name plus plain constructor arguments (a task shape, a loaded latency
table, a checkpoint path): everything that needs the database is resolved here, on the runner,
so evaluators never touch the database. Resolving ``latency_lut`` measures the table through the
device agent when none exists yet and the device can be measured (``measure_missing``).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from core.errors import NasError
from evaluators import EVALUATORS, Task
from evaluators.datasets import dataset_info
from store import artifacts as artifact_repo
from store import latency as lut_repo

if TYPE_CHECKING:
    from store.session import Database
    from store.settings import Settings
    from workers.spec import JobSpec

Progress = Callable[[int, int, str], None]


@dataclass
class Recipe:
    """Construct ``EVALUATORS[name](**kwargs)``; the job uses its ``metrics``."""

    name: str
    kwargs: dict[str, Any]
    metrics: tuple[str, ...]


def task_of(spec: JobSpec) -> Task:
    info = dataset_info(spec.dataset)
    return Task(
        space=spec.space,
        in_channels=info.in_channels,
        input_size=info.input_size,
        num_classes=info.num_classes,
        dataset=spec.dataset,
    )


def recipes_for(spec: JobSpec, *, db: Database, settings: Settings, progress: Progress) -> list[Recipe]:
    """One recipe per evaluator the job's metrics need."""
    task = task_of(spec)
    by_evaluator: dict[str, list[str]] = {}
    for metric, name in spec.evaluator_for().items():
        by_evaluator.setdefault(name, []).append(metric)
    recipes = []
    for name, metrics in by_evaluator.items():
        options = dict(spec.evaluators.get(name, {}))
        resolve = RESOLVERS.get(name, _plain)
        recipes.append(Recipe(name, resolve(spec, task, options, db, settings, progress), tuple(metrics)))
        EVALUATORS.get(name)  # import now: a broken plug-in fails the job at start, not per batch
    return recipes


def _plain(
    spec: JobSpec, task: Task, options: dict[str, Any], db: Database, settings: Settings, progress: Progress
) -> dict[str, Any]:
    return {"task": task, **options}


def _latency_lut(
    spec: JobSpec, task: Task, options: dict[str, Any], db: Database, settings: Settings, progress: Progress
) -> dict[str, Any]:
    _check_options("latency_lut", options, {"table", "measure_missing", "passes"})
    passes = options.get("passes")  # None: measure_table's default
    if passes is not None and (not isinstance(passes, int) or isinstance(passes, bool) or passes < 1):
        raise NasError(f"evaluators.latency_lut.passes must be a whole number >= 1, got {passes!r}")
    with db.session() as s:
        device = lut_repo.get_device(s, spec.device)
        if "table" in options:
            table = lut_repo.load_table(s, str(options["table"]))
        else:
            table = lut_repo.find_table(s, device=device.name, space=spec.space, shape=task.shape)
    if table is None:
        if not options.get("measure_missing", True) or not device.measurable:
            raise NasError(
                f"no latency table for {spec.space} on {device.name} at {task.in_channels}x{task.input_size}"
                f"x{task.input_size}; run `nas lut measure` or import one"
            )
        from workers.latency import measure_table

        extra = {} if passes is None else {"passes": passes}
        table = measure_table(db, space=spec.space, device=device, shape=task.shape, progress=progress, **extra)
    return {"task": task, "table": table}


def _check_options(name: str, options: dict[str, Any], known: set[str]) -> None:
    unknown = set(options) - known
    if unknown:
        raise NasError(f"evaluators.{name}: unknown options {sorted(unknown)}; known: {', '.join(sorted(known))}")


def _supernet(
    spec: JobSpec, task: Task, options: dict[str, Any], db: Database, settings: Settings, progress: Progress
) -> dict[str, Any]:
    """The checkpoint named in ``options["checkpoint"]`` (artifact id or name), else the newest
    supernet artifact trained for (space, dataset)."""
    from evaluators.supernet.readout import READOUTS

    _check_options("supernet", options, {"checkpoint", "recal_images", "val_limit", "batch_size", "readout"})
    if options.get("readout", READOUTS[0]) not in READOUTS:
        raise NasError(f"evaluators.supernet.readout must be one of {', '.join(READOUTS)}, got {options['readout']!r}")
    rest = {k: v for k, v in options.items() if k != "checkpoint"}
    with db.session() as s:
        if "checkpoint" in options:
            row = artifact_repo.get_artifact(s, str(options["checkpoint"]), kind="supernet")
        else:
            row = artifact_repo.latest(s, "supernet", space=spec.space, dataset=spec.dataset)
    if row is None:
        raise NasError(
            f"no trained supernet for {spec.space} on {spec.dataset}; run "
            f"`nas supernet train --space {spec.space} --dataset {spec.dataset} --epochs E` first"
        )
    path = artifact_repo.verify(settings.artifacts, row)
    data_dirs = [str(d) for d in settings.data_dirs]
    return {"task": task, "checkpoint": str(path), "artifact_id": row.id, "data_dirs": data_dirs, **rest}


def _train(
    spec: JobSpec, task: Task, options: dict[str, Any], db: Database, settings: Settings, progress: Progress
) -> dict[str, Any]:
    known = {"epochs", "train_limit", "val_limit", "batch_size", "lr", "weight_decay", "width", "seed", "recal_images"}
    _check_options("train", options, known)
    return {"task": task, "data_dirs": [str(d) for d in settings.data_dirs], **options}


def _sparse_train(
    spec: JobSpec, task: Task, options: dict[str, Any], db: Database, settings: Settings, progress: Progress
) -> dict[str, Any]:
    from evaluators.dass.sparse_train import SparseTrainEvaluator

    known = set(inspect.signature(SparseTrainEvaluator).parameters) - {"task", "data_dirs"}
    _check_options("sparse_train", options, known)
    return {"task": task, "data_dirs": [str(d) for d in settings.data_dirs], **options}


def _served(spec: JobSpec, name: str) -> list[str]:
    return [m for m, e in spec.evaluator_for().items() if e == name]


def _tabular(
    spec: JobSpec, task: Task, options: dict[str, Any], db: Database, settings: Settings, progress: Progress
) -> dict[str, Any]:
    """The table named in ``options["table"]`` (artifact id or name), else the newest one imported
    for the space; each metric's column from ``options["columns"]`` or picked by device/dataset."""
    from evaluators.tabular import Column, pick_column, read_meta

    _check_options("tabular", options, {"table", "columns"})
    with db.session() as s:
        if "table" in options:
            row = artifact_repo.get_artifact(s, str(options["table"]), kind="table")
        else:
            row = artifact_repo.latest(s, "table", space=spec.space)
    if row is None:
        raise NasError(
            f"no imported table for {spec.space}; run `nas predictor import-table FILE --space {spec.space}`"
        )
    path = artifact_repo.verify(settings.artifacts, row)
    columns = [Column(**c) for c in read_meta(path)["columns"]]
    explicit = dict(options.get("columns", {}))
    chosen = {
        m: explicit.get(m) or pick_column(columns, m, (spec.device, spec.dataset)).name
        for m in _served(spec, "tabular")
    }
    return {"task": task, "table": str(path), "columns": chosen, "table_id": row.id}


def _predictor(
    spec: JobSpec, task: Task, options: dict[str, Any], db: Database, settings: Settings, progress: Progress
) -> dict[str, Any]:
    """Per metric the predictor named in ``options["predictors"]``, else the newest one trained for
    the space, metric and input shape (one labelled with the job's device or dataset first); a
    stale predictor fails the job here, before any candidate."""
    from evaluators.predicted import check_predictor
    from predictors import load_predictor

    _check_options("predictor", options, {"predictors"})
    refs = dict(options.get("predictors", {}))
    paths, ids = {}, {}
    for metric in _served(spec, "predictor"):
        with db.session() as s:
            if metric in refs:
                row = artifact_repo.get_artifact(s, str(refs[metric]), kind="predictor")
            else:
                rows = artifact_repo.find_artifacts(s, "predictor", space=spec.space, metric=metric, shape=task.shape)
                labelled = [r for r in rows if r.info.get("label") in (spec.device, spec.dataset)]
                row = (labelled or rows or [None])[0]
        if row is None:
            raise NasError(
                f"no trained predictor for {metric} in {spec.space} at {task.shape}; run `nas predictor train "
                f"--space {spec.space} --metric {metric} ...` first"
            )
        path = artifact_repo.verify(settings.artifacts, row)
        check_predictor(load_predictor(path), task, row.id)  # stale or mismatched: refuse now
        paths[metric], ids[metric] = str(path), row.id
    return {"task": task, "predictors": paths, "ids": ids}


RESOLVERS: dict[str, Callable[..., dict[str, Any]]] = {
    "latency_lut": _latency_lut,
    "predictor": _predictor,
    "sparse_train": _sparse_train,
    "supernet": _supernet,
    "tabular": _tabular,
    "train": _train,
}
