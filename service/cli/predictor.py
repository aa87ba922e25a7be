"""``nas predictor import-table | train | eval | list``: tables of measurements and learned predictors.

Imported tables and trained predictors are artifacts (folders under the artifact root, recorded
in the database with their sha256), so jobs find them by id or name: the ``tabular`` evaluator
answers from a table, the ``predictor`` evaluator from a predictor. Importing and training are
`workers.operations.import_table` and `workers.operations.fit_predictor`; the storage helpers
are in `store.measurements`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from core.errors import NasError
from predictors import load_predictor
from predictors.validation import quality
from service.cli.app import app
from service.cli.common import ChannelsOpt, ClassesOpt, DatasetOpt, InputSizeOpt, open_db, request, settings
from store import artifacts as repo
from store.measurements import from_table, load_table, predictor_folder, training_ids
from workers.operations import PredictorFitRequest, TableImportRequest, fit_predictor, import_table

predictor = typer.Typer(help="Learned predictors and imported measurement tables.", no_args_is_help=True)
app.add_typer(predictor, name="predictor")

ColumnOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--column", help="Declare a header: NAME=METRIC[:UNIT] (e.g. cifar10_test=accuracy:%) or NAME=ignore."
    ),
]


def _declared(items: list[str] | None) -> dict[str, str]:
    out = {}
    for item in items or []:
        name, sep, spec = item.partition("=")
        if not sep or not name or not spec:
            raise NasError(f"--column {item!r}: write NAME=METRIC[:UNIT] or NAME=ignore")
        out[name] = spec
    return out


# -- tables ----------------------------------------------------------------------------------------
@predictor.command("import-table")
def import_table_cmd(
    path: Annotated[Path, typer.Argument(help="CSV or JSON file (optionally .gz), one row per architecture.")],
    space: Annotated[str, typer.Option(help="Search space of the rows.")],
    name: Annotated[str | None, typer.Option(help="Artifact name (default: the file name).")] = None,
    column: ColumnOpt = None,
) -> None:
    """Import a table of measurements keyed by architecture (arch_str, arch_index or arch)."""
    req = request(TableImportRequest.from_file, path, space=space, name=name, columns=_declared(column))
    stored = import_table(open_db(), settings(), req)
    typer.echo(f"table {stored.table_id} ({stored.name}): {stored.rows} architectures of {space}")
    for c in stored.columns:
        typer.echo(f"  {c.name:28} -> {c.metric} (from {c.unit}), {c.filled} values")


# -- predictors ------------------------------------------------------------------------------------
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
    req = request(
        PredictorFitRequest,
        space=space,
        metric=metric,
        table=table,
        column=column,
        dataset=dataset,
        device=device,
        evaluator=evaluator,
        input_size=input_size,
        in_channels=in_channels,
        num_classes=num_classes,
        n=n,
        cv=cv,
        seed=seed,
        members=members,
        name=name,
    )
    stored = fit_predictor(open_db(), settings(), req)
    typer.echo(
        f"predictor {stored.artifact_id}: {metric} of {space} ({stored.label or 'any'}), "
        f"trained on {stored.n_train} architectures"
    )
    typer.echo(f"  {_cv_line(stored.cv)}")


@predictor.command("eval")
def eval_cmd(
    ref: Annotated[str, typer.Argument(help="Predictor artifact id or name.")],
    table: Annotated[str, typer.Option(help="Imported table (id or name) with the true values.")],
    column: Annotated[str | None, typer.Option(help="Column with the truth (default: picked by metric).")] = None,
    device: Annotated[
        str | None, typer.Option(help="Score against the column whose name starts with this device name.")
    ] = None,
    include_training: Annotated[bool, typer.Option(help="Also score the architectures it was trained on.")] = False,
) -> None:
    """Score a stored predictor against a table (by default on the architectures it has not seen)."""
    db, s = open_db(), settings()
    folder, row = predictor_folder(db, s, ref)
    model = load_predictor(folder)
    tab, _ = load_table(db, s, table)
    names = [c.name for c in tab.columns]
    if device and not column:
        matches = [n for n in names if n.startswith(device)]
        if len(matches) != 1:
            listed = ", ".join(matches) or "none"
            raise NasError(f"--device {device!r}: {len(matches)} columns start with it ({listed})")
        column = matches[0]
    col = column or (model.label if model.label in names else tab.pick(model.metric, (model.label,)).name)
    archs, y = from_table(tab, col)
    seen = training_ids(folder)
    keep = [i for i, a in enumerate(archs) if include_training or a.arch_id not in seen]
    if len(keep) < 2:
        raise NasError(f"table {table} has fewer than 2 architectures the predictor has not been trained on")
    pred = model.predict_archs([archs[i] for i in keep])
    q = quality(y[keep], pred.mean)
    typer.echo(
        f"predictor {row.id} on {q.n} architectures ({'all' if include_training else 'unseen'}) of {col}: "
        f"Kendall tau {q.kendall_tau:.3f}, Spearman {q.spearman:.3f}, MAPE {q.mape:.1%}, RMSE {q.rmse:.4g}, "
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
