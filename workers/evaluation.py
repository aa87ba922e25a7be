"""From a job spec to evaluator recipes: what each pool actor constructs once and keeps warm.

A recipe is an evaluator name plus plain constructor arguments (a task shape, a loaded latency
table, a checkpoint path): everything that needs the database is resolved here, on the runner,
so evaluators never touch the database. Resolving ``latency_lut`` measures the table through the
device agent when none exists yet and the device can be measured (``measure_missing``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from evaluators import EVALUATORS, Task
from evaluators.datasets import dataset_info
from search_spaces.errors import NasError
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
    unknown = set(options) - {"table", "measure_missing"}
    if unknown:
        raise NasError(f"evaluators.latency_lut: unknown options {sorted(unknown)}; known: measure_missing, table")
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

        table = measure_table(db, space=spec.space, device=device, shape=task.shape, progress=progress)
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
    _check_options("supernet", options, {"checkpoint", "recal_images", "val_limit", "batch_size"})
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
    known = {"epochs", "train_limit", "val_limit", "batch_size", "lr", "weight_decay", "width", "seed"}
    _check_options("train", options, known)
    return {"task": task, "data_dirs": [str(d) for d in settings.data_dirs], **options}


RESOLVERS: dict[str, Callable[..., dict[str, Any]]] = {
    "latency_lut": _latency_lut,
    "supernet": _supernet,
    "train": _train,
}
