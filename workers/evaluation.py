"""From a job spec to evaluator recipes: what each pool actor constructs once and keeps warm.

A recipe is an evaluator name plus plain constructor arguments (a task, a loaded latency table,
a checkpoint path): everything that needs the database is resolved here, on the runner, so
evaluators never touch the database. What an evaluator needs it declares on its class
(`Evaluator.needs`); this module resolves each kind of need once, for every evaluator alike.
Resolving a latency table measures it through the device agent when none exists yet and the
device can be measured (``measure_missing``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from core.errors import NasError
from evaluators import EVALUATORS, Task
from evaluators.base import DataDirs, LatencyTableNeed, Need, Resolved, StoredArtifact
from search_spaces import get_space
from store import artifacts as artifact_repo
from store import latency as lut_repo
from store.jobs import NotFoundError

if TYPE_CHECKING:
    from core.spec import JobSpec
    from store.session import Database, Session
    from store.settings import Settings

Progress = Callable[[int, int, str], None]


@dataclass
class Recipe:
    """Construct ``EVALUATORS[name](**kwargs)``; the job uses its ``metrics``."""

    name: str
    kwargs: dict[str, Any]
    metrics: tuple[str, ...]


@dataclass(frozen=True)
class Context:
    """What resolving a job's needs may use."""

    spec: JobSpec
    task: Task
    db: Database
    settings: Settings
    progress: Progress


def recipes_for(spec: JobSpec, *, db: Database, settings: Settings, progress: Progress) -> list[Recipe]:
    """One recipe per evaluator the job's metrics need (options validated at submission)."""
    ctx = Context(spec, spec.task, db, settings, progress)
    by_evaluator: dict[str, list[str]] = {}
    for metric, name in spec.evaluator_for().items():
        by_evaluator.setdefault(name, []).append(metric)
    recipes = []
    for name, metrics in by_evaluator.items():
        cls = EVALUATORS.get(name)  # import now: a broken plug-in fails the job at start, not per batch
        options = spec.evaluator_options(name, spec.evaluators.get(name, {}))
        resolved: dict[str, Any] = {}
        for need in cls.needs:
            resolved.update(resolve(need, options, tuple(metrics), ctx))
        kwargs = cls.recipe(Resolved(ctx.task, options, resolved, tuple(metrics), (spec.device, spec.dataset)))
        recipes.append(Recipe(name, kwargs, tuple(metrics)))
    return recipes


def resolve(need: Need, options: Any, metrics: tuple[str, ...], ctx: Context) -> dict[str, Any]:
    """Constructor arguments that satisfy one declared need."""
    if isinstance(need, DataDirs):
        return {"data_dirs": [str(d) for d in ctx.settings.data_dirs]}
    if isinstance(need, LatencyTableNeed):
        table = latency_table(ctx, table=options.table, measure=options.measure_missing, passes=options.passes)
        return {"table": table}
    if isinstance(need, StoredArtifact):
        return stored_artifact(need, getattr(options, need.option), metrics, ctx)
    raise NasError(f"unknown evaluator need {need!r}")


def latency_table(ctx: Context, *, table: str | None, measure: bool, passes: int | None) -> Any:
    """The named table, else the device's stored one for the space and shape, else one measured now."""
    spec, task = ctx.spec, ctx.task
    with ctx.db.session() as s:
        device = lut_repo.get_device(s, spec.device)
        found = (
            lut_repo.load_table(s, table)
            if table is not None
            else lut_repo.find_table(s, device=device.name, space=spec.space, shape=task.shape)
        )
    if found is not None:
        return found
    if not measure or not device.measurable:
        raise NasError(
            f"no latency table for {spec.space} on {device.name} at {task.shape}; run `nas lut measure` or import one"
        )
    from workers.latency import measure_table

    extra = {} if passes is None else {"passes": passes}
    return measure_table(ctx.db, space=spec.space, device=device, shape=task.shape, progress=ctx.progress, **extra)


def stored_artifact(
    need: StoredArtifact, ref: str | dict[str, str] | None, metrics: tuple[str, ...], ctx: Context
) -> dict[str, Any]:
    """The artifact ``ref`` names, else the newest matching the job (one per metric with ``per_metric``)."""
    if not need.per_metric:
        path, artifact_id = _artifact(need, ref if isinstance(ref, str) else None, None, ctx)
        return {need.path_arg: path, need.id_arg: artifact_id}
    refs = ref if isinstance(ref, dict) else {}
    found = {m: _artifact(need, refs.get(m), m, ctx) for m in metrics}
    return {need.path_arg: {m: p for m, (p, _) in found.items()}, need.id_arg: {m: i for m, (_, i) in found.items()}}


def _artifact(need: StoredArtifact, ref: str | None, metric: str | None, ctx: Context) -> tuple[str, str]:
    spec = ctx.spec
    shipped = set(get_space(spec.space).tables) if need.kind == "table" else set()
    with ctx.db.session() as s:
        row = _stored(s, need, ref, metric, spec, missing_ok=ref in shipped)
    if row is None and shipped and (ref is None or ref in shipped):
        from workers.operations.predictors import import_shipped

        import_shipped(ctx.db, ctx.settings, spec.space)  # first use of the space's published tables
        with ctx.db.session() as s:
            row = _stored(s, need, ref, metric, spec)
    if row is None:
        what = f"{need.kind} for {metric} in" if metric else f"{need.kind} for"
        raise NasError(
            f"no stored {what} {spec.space} ({spec.dataset}, {ctx.task.shape}); run "
            f"`{need.hint.format(space=spec.space, dataset=spec.dataset, metric=metric)}` first"
        )
    return str(artifact_repo.verify(ctx.settings.artifacts, row)), row.id


def _stored(
    session: Session, need: StoredArtifact, ref: str | None, metric: str | None, spec: JobSpec, missing_ok: bool = False
) -> Any:
    """The artifact row ``ref`` names, else the newest matching the job, else None."""
    if ref is not None:
        try:
            return artifact_repo.get_artifact(session, ref, kind=need.kind)
        except NotFoundError:
            if missing_ok:
                return None
            raise
    job = {"space": spec.space, "dataset": spec.dataset, "shape": spec.task.shape, "metric": metric}
    rows = artifact_repo.find_artifacts(session, need.kind, **{k: job[k] for k in need.match if k in job})
    if "label" in need.match:  # one labelled with the job's device or dataset first
        rows = [r for r in rows if r.info.get("label") in (spec.device, spec.dataset)] or rows
    return rows[0] if rows else None


def supernet_defaults(session: Session, spec: JobSpec) -> JobSpec:
    """A job scored by a supernet trained at one setting of its space (a NASNet macro setting, the
    sparse space's backbone and width) holds those genes: ``fixed`` gets them from the supernet
    the job will use, and a ``fixed`` that contradicts it is refused (`NasError` naming both)."""
    from evaluators.supernet.checkpoint import FIXED_GENES, SUPERNETS

    cls = SUPERNETS.get(spec.space)
    if cls not in FIXED_GENES or "supernet" not in spec.evaluator_for().values():
        return spec
    options = spec.evaluator_options("supernet", spec.evaluators.get("supernet", {}))
    need = next(n for n in EVALUATORS.get("supernet").needs if isinstance(n, StoredArtifact))
    row = _stored(session, need, options.checkpoint, None, spec)
    if row is None:  # the runner says which supernet to train
        return spec
    macro = row.info.get("schedule", {}).get("macro") or cls.default_macro  # type: ignore[union-attr]
    genes = cls.macro_genes(spec.space, macro)  # type: ignore[union-attr]
    clash = {k: spec.fixed[k] for k in genes if k in spec.fixed and spec.fixed[k] != genes[k]}
    if clash:
        raise NasError(
            f"fixed: {clash} contradicts supernet {row.id}, trained at {macro!r} ({genes}); "
            "drop those genes from fixed or name another supernet in evaluators.supernet.checkpoint"
        )
    if all(k in spec.fixed for k in genes):
        return spec
    data = spec.model_dump(mode="json", exclude_unset=True)
    data["fixed"] = {**spec.fixed, **genes}
    return type(spec).model_validate(data)


def device_defaults(session: Session, spec: JobSpec) -> JobSpec:
    """The spec with ``latency_ms`` from the device's onboarded predictor where the device is
    external, has no latency table for the space and shape, and the objective leaves the
    evaluator to its default (`workers.operations.devices` stores such predictors with the
    device as label). Any other spec is returned as it is."""
    device = lut_repo.get_device(session, spec.device)
    defaulted = [
        i for i, o in enumerate(spec.objectives)
        if o.metric == "latency_ms" and "evaluator" not in o.model_fields_set and o.evaluator == "latency_lut"
    ]  # fmt: skip
    task = spec.task
    if not defaulted or device.measurable:
        return spec
    if lut_repo.find_table(session, device=device.name, space=spec.space, shape=task.shape) is not None:
        return spec
    found = artifact_repo.find_artifacts(session, "predictor", space=spec.space, metric="latency_ms", shape=task.shape)
    if not any(r.info.get("label") == device.name for r in found):
        return spec
    data = spec.model_dump(mode="json", exclude_unset=True)
    data["objectives"] = [
        {**o.model_dump(mode="json", exclude_unset=True), **({"evaluator": "predictor"} if i in defaulted else {})}
        for i, o in enumerate(spec.objectives)
    ]
    return type(spec).model_validate(data)


def check_runnable(session: Session, spec: JobSpec) -> None:
    """What only the database knows, checked when a job is submitted: the device exists, and a
    latency table the job would use (named, or the device's stored one) exists, fits the task
    and prices every operator the space can produce; an external device must have one."""
    device = lut_repo.get_device(session, spec.device)
    if "latency_lut" not in spec.evaluator_for().values():
        return
    task, options = spec.task, spec.evaluator_options("latency_lut", spec.evaluators.get("latency_lut", {}))
    if options.table is not None:
        try:
            table = lut_repo.load_table(session, options.table)
            table.check_task(task)
        except NasError as e:
            raise NasError(f"evaluators.latency_lut.table: {e}") from None
    else:
        table = lut_repo.find_table(session, device=device.name, space=spec.space, shape=task.shape)
    if table is None:
        if not device.measurable or not options.measure_missing:
            raise NasError(
                f"device {device.name} has no latency table for {spec.space} at {task.shape} and "
                f"{'is external' if not device.measurable else 'measure_missing is false'}; import one "
                f"(`nas lut import FILE --device {device.name} --space {spec.space}`) or name one in "
                "evaluators.latency_lut.table"
            )
        return
    catalogue = get_space(spec.space).op_catalogue(**task.shape)
    missing = [op.signature() for op in catalogue if op.signature() not in table.entries]
    if missing:
        raise NasError(
            f"evaluators.latency_lut.table: latency table {table.id} ({table.device}) cannot price the {spec.space} "
            f"space: {len(missing)} of its {len(catalogue)} operators have no entry (e.g. {missing[0]}); measure "
            f"them (`nas lut measure --space {spec.space} --device {table.device}`) or use a table for this space"
        )
