"""``nas predictor import-table | train | eval | list``: tables of measurements and learned predictors.

Imported tables and trained predictors are artifacts (folders under the artifact root, recorded
in the database with their sha256), so jobs find them by id or name: the ``tabular`` evaluator
answers from a table, the ``predictor`` evaluator from a predictor.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer

from core.errors import NasError
from evaluators.tabular import Table, read_table_file
from predictors import PREDICTORS, Featurizer, Predictor, load_predictor
from predictors.validation import cross_validate, quality
from search_spaces import Architecture, get_space
from service.cli.app import app
from service.cli.common import ChannelsOpt, ClassesOpt, DatasetOpt, InputSizeOpt, open_db, settings, task_shape
from store import artifacts as repo
from store import jobs as job_repo
from store.session import Database
from store.settings import Settings

predictor = typer.Typer(help="Learned predictors and imported measurement tables.", no_args_is_help=True)
app.add_typer(predictor, name="predictor")

ColumnOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--column", help="Declare a header: NAME=METRIC[:UNIT] (e.g. cifar10_test=accuracy:%) or NAME=ignore."
    ),
]
TRAINING_FILE = "training.json"


def _declared(items: list[str] | None) -> dict[str, str]:
    out = {}
    for item in items or []:
        name, sep, spec = item.partition("=")
        if not sep or not name or not spec:
            raise NasError(f"--column {item!r}: write NAME=METRIC[:UNIT] or NAME=ignore")
        out[name] = spec
    return out


# -- tables ----------------------------------------------------------------------------------------
def save_table(db: Database, s: Settings, table: Table, *, name: str) -> Any:
    """Store ``table`` under the artifact root and register it (kind ``table``)."""
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
    with db.session() as session:
        row = repo.get_artifact(session, ref, kind="table")
        return Table.load(repo.verify(s.artifacts, row)), row.id


@predictor.command("import-table")
def import_table_cmd(
    path: Annotated[Path, typer.Argument(help="CSV or JSON file (optionally .gz), one row per architecture.")],
    space: Annotated[str, typer.Option(help="Search space of the rows.")],
    name: Annotated[str | None, typer.Option(help="Artifact name (default: the file name).")] = None,
    column: ColumnOpt = None,
) -> None:
    """Import a table of measurements keyed by architecture (arch_str, arch_index or arch)."""
    get_space(space)
    table = read_table_file(path, space=space, columns=_declared(column))
    db = open_db()
    artifact_id = save_table(db, settings(), table, name=name or path.name)
    typer.echo(f"table {artifact_id} ({name or path.name}): {len(table)} architectures of {space}")
    for c in table.columns:
        filled = int(np.isfinite(table.values[:, table.column(c.name)]).sum())
        typer.echo(f"  {c.name:28} -> {c.metric} (from {c.unit}), {filled} values")


# -- training sets ---------------------------------------------------------------------------------
def from_jobs(
    db: Database, *, space: str, metric: str, dataset: str | None, device: str | None, evaluator: str | None
) -> tuple[list[Architecture], np.ndarray, list[str]]:
    """Every evaluated candidate of matching jobs that has ``metric`` (repeats averaged)."""
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


def from_table(table: Table, column: str) -> tuple[list[Architecture], np.ndarray]:
    y = table.values[:, table.column(column)]
    keep = np.flatnonzero(np.isfinite(y))
    archs = table.architectures()
    return [archs[i] for i in keep], y[keep]


def train_predictor(
    archs: list[Architecture],
    y: np.ndarray,
    *,
    space: str,
    metric: str,
    shape: dict[str, int],
    label: str = "",
    n: int | None = None,
    k: int = 5,
    seed: int = 0,
    kind: str = "xgboost",
    options: dict[str, Any] | None = None,
) -> tuple[Predictor, list[str]]:
    """Cross-validate, then fit on the (``n`` randomly drawn, else all) architectures."""
    if n is not None and n < len(archs):
        pick = np.random.default_rng(seed).choice(len(archs), size=n, replace=False)
        archs, y = [archs[i] for i in pick], y[pick]
    if len(archs) < max(k, 2):
        raise NasError(f"only {len(archs)} architectures with {metric}; need at least {max(k, 2)} to train")
    featurizer = Featurizer(space, shape)
    model = PREDICTORS.get(kind)(featurizer=featurizer, metric=metric, label=label, seed=seed, **(options or {}))
    x = featurizer.transform(archs)
    if k >= 2:
        model.cv = cross_validate(model.unfitted_twin, x, y, k=k, seed=seed).to_dict()
    model.fit(x, y)
    return model, [a.arch_id for a in archs]


def save_predictor(db: Database, s: Settings, model: Predictor, training: list[str], *, name: str) -> str:
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


def _cv_line(cv: dict[str, Any] | None) -> str:
    if not cv:
        return "no cross-validation"
    m = cv["mean"]
    return (
        f"{cv['k']}-fold CV: Kendall tau {m['kendall_tau']:.3f}, Spearman {m['spearman']:.3f}, RMSE {m['rmse']:.4g}, "
        f"within ±5% {m['within_5']:.1%}, within ±10% {m['within_10']:.1%}"
    )


@predictor.command("train")
def train_cmd(
    space: Annotated[str, typer.Option(help="Search space.")],
    metric: Annotated[str, typer.Option(help="Metric to predict (accuracy, latency_ms, energy_mj, ...).")],
    table: Annotated[str | None, typer.Option(help="Train on an imported table (id or name) ...")] = None,
    column: Annotated[str | None, typer.Option(help="... using this column (default: the metric's only one).")] = None,
    dataset: DatasetOpt = None,
    device: Annotated[str | None, typer.Option(help="Jobs on this device only (latency).")] = None,
    evaluator: Annotated[str | None, typer.Option(help="Only values this evaluator produced.")] = None,
    input_size: InputSizeOpt = None,
    in_channels: ChannelsOpt = None,
    num_classes: ClassesOpt = None,
    n: Annotated[int | None, typer.Option(min=2, help="Train on N randomly drawn architectures.")] = None,
    cv: Annotated[int, typer.Option(min=0, help="Folds of cross-validation (0: none).")] = 5,
    seed: Annotated[int, typer.Option(min=0)] = 0,
    members: Annotated[int, typer.Option(min=1, help="Ensemble size (the spread is the uncertainty).")] = 5,
    name: Annotated[str | None, typer.Option(help="Artifact name.")] = None,
) -> None:
    """Train a predictor from an imported table or from the candidates jobs have stored."""
    get_space(space)
    shape = task_shape(dataset, input_size, in_channels, num_classes)
    db, s = open_db(), settings()
    if table is not None:
        tab, table_id = load_table(db, s, table)
        if tab.space != space:
            raise NasError(f"table {table} is for space {tab.space}, not {space}")
        col = column or tab.pick(metric, tuple(x for x in (device, dataset) if x)).name
        if tab.columns[tab.column(col)].metric != metric:
            raise NasError(f"column {col} holds {tab.columns[tab.column(col)].metric}, not {metric}")
        archs, y = from_table(tab, col)
        label, source = col, {"table": table_id, "column": col}
    else:
        archs, y, job_ids = from_jobs(
            db, space=space, metric=metric, dataset=dataset, device=device, evaluator=evaluator
        )
        label = (device if metric in ("latency_ms", "energy_mj") else dataset) or ""
        source = {"jobs": job_ids, "evaluator": evaluator}
    model, training = train_predictor(
        archs,
        y,
        space=space,
        metric=metric,
        shape=shape,
        label=label,
        n=n,
        k=cv,
        seed=seed,
        options={"members": members},
    )
    model.source = source
    artifact_id = save_predictor(
        db, s, model, training, name=name or f"{space}-{metric}-{label or 'all'}-{len(training)}"
    )
    typer.echo(
        f"predictor {artifact_id}: {metric} of {space} ({label or 'any'}), trained on {model.n_train} architectures"
    )
    typer.echo(f"  {_cv_line(model.cv)}")


@predictor.command("eval")
def eval_cmd(
    ref: Annotated[str, typer.Argument(help="Predictor artifact id or name.")],
    table: Annotated[str, typer.Option(help="Imported table (id or name) with the true values.")],
    column: Annotated[str | None, typer.Option(help="Column with the truth (default: picked by metric).")] = None,
    include_training: Annotated[bool, typer.Option(help="Also score the architectures it was trained on.")] = False,
) -> None:
    """Score a stored predictor against a table (by default on the architectures it has not seen)."""
    db, s = open_db(), settings()
    with db.session() as session:
        row = repo.get_artifact(session, ref, kind="predictor")
        folder = repo.verify(s.artifacts, row)
    model = load_predictor(folder)
    tab, _ = load_table(db, s, table)
    names = [c.name for c in tab.columns]
    col = column or (model.label if model.label in names else tab.pick(model.metric, (model.label,)).name)
    archs, y = from_table(tab, col)
    seen = set(json.loads((folder / TRAINING_FILE).read_text())) if (folder / TRAINING_FILE).exists() else set()
    keep = [i for i, a in enumerate(archs) if include_training or a.arch_id not in seen]
    if len(keep) < 2:
        raise NasError(f"table {table} has fewer than 2 architectures the predictor has not been trained on")
    pred = model.predict_archs([archs[i] for i in keep])
    q = quality(y[keep], pred.mean)
    typer.echo(
        f"predictor {row.id} on {q.n} architectures ({'all' if include_training else 'unseen'}) of {col}: "
        f"Kendall tau {q.kendall_tau:.3f}, Spearman {q.spearman:.3f}, RMSE {q.rmse:.4g}, "
        f"within ±5% {q.within_5:.1%}, within ±10% {q.within_10:.1%}; mean predicted std {pred.std.mean():.4g}"
    )


@predictor.command("list")
def list_cmd(space: Annotated[str | None, typer.Option(help="Only this search space.")] = None) -> None:
    """Stored predictors and tables, newest first."""
    filters = {"space": space} if space else {}
    db = open_db()
    with db.session() as session:
        predictors = repo.find_artifacts(session, "predictor", **filters)
        tables = repo.find_artifacts(session, "table", **filters)
    for r in predictors:
        i = r.info
        tau = (i.get("cv") or {}).get("kendall_tau")
        typer.echo(
            f"predictor {r.id}  {r.name:32} {i.get('space')} {i.get('metric')} ({i.get('label') or 'any'}) "
            f"n={i.get('n_train')} cv tau={'-' if tau is None else f'{tau:.3f}'}  {r.created_at:%Y-%m-%d %H:%M}"
        )
    for r in tables:
        rows = r.info.get("rows")
        typer.echo(f"table     {r.id}  {r.name:32} {r.info.get('space')} {rows} rows  {r.created_at:%Y-%m-%d %H:%M}")
