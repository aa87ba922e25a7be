"""``nas lut measure | validate | import | export | list`` and ``nas devices``."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from core.errors import NasError
from evaluators.lut_io import to_csv, to_json
from service.cli.app import app
from service.cli.common import (
    ChannelsOpt,
    ClassesOpt,
    DatasetOpt,
    InputSizeOpt,
    console,
    open_db,
    progress_bar,
    request,
    settings,
    task_shape,
)
from store import latency as repo
from workers.operations import LutImportRequest, LutMeasureRequest, import_latency_table, measure_latency_table

lut = typer.Typer(help="Latency lookup tables: measure on a device, validate, import, export.", no_args_is_help=True)
app.add_typer(lut, name="lut")


def _agent_ready() -> None:
    from workers.ray_runtime import ensure_ray

    ensure_ray(settings())


@lut.command("measure")
def measure_cmd(
    space: Annotated[str, typer.Option(help="Search space.")],
    device: Annotated[str, typer.Option(help="Device name (see `nas devices`).")] = "cpu",
    dataset: DatasetOpt = None,
    input_size: InputSizeOpt = None,
    in_channels: ChannelsOpt = None,
    num_classes: ClassesOpt = None,
    warmup: Annotated[int, typer.Option(min=1)] = 5,
    repeats: Annotated[int, typer.Option(min=3, help="Timed samples per operator and pass.")] = 10,
    passes: Annotated[int, typer.Option(min=1, help="Passes over the catalogue (a third settles disagreement).")] = 2,
    limit: Annotated[
        int | None, typer.Option(min=1, help="Measure only this many operators (a partial table).")
    ] = None,
) -> None:
    """Measure every operator configuration of a space on a device (resumable)."""
    req = request(
        LutMeasureRequest,
        space=space,
        device=device,
        dataset=dataset,
        input_size=input_size,
        in_channels=in_channels,
        num_classes=num_classes,
        warmup=warmup,
        repeats=repeats,
        passes=passes,
        limit=limit,
    )
    db = open_db()
    with progress_bar(f"{space} on {device}") as update:
        table = measure_latency_table(db, settings(), req, progress=update)
    state = "ready" if table.ready else "partial (run again to continue)"
    typer.echo(f"table {table.table_id}: {table.operators} operators, {table.description}, {state}")
    if table.ready:
        typer.echo(f"overhead {table.overhead_ms:+.3f} ms per network; measured in {table.measure_seconds} s")


@lut.command("validate")
def validate_cmd(
    space: Annotated[str, typer.Option(help="Search space.")],
    device: Annotated[str, typer.Option(help="Device name.")] = "cpu",
    n: Annotated[int, typer.Option("--n", min=2, help="Architectures to measure end to end.")] = 100,
    passes: Annotated[int, typer.Option(min=1, help="Passes over the architectures (median kept).")] = 3,
    seed: Annotated[int, typer.Option(help="Sampling seed.")] = 1,
    dataset: DatasetOpt = None,
    input_size: InputSizeOpt = None,
    in_channels: ChannelsOpt = None,
    num_classes: ClassesOpt = None,
    out: Annotated[Path | None, typer.Option(help="Report folder (default: artifacts/lut-validation/<table>).")] = None,
) -> None:
    """Compare the table's predictions with end-to-end measurements; write report.json and scatter.png."""
    from workers.latency import validate_table

    shape = task_shape(dataset, input_size, in_channels, num_classes)
    db = open_db()
    with db.session() as s:
        dev = repo.get_device(s, device)
        table = repo.find_table(s, device=dev.name, space=space, shape=shape)
    if table is None:
        raise NasError(f"no finished latency table for {space} on {device} with shape {shape}; run `nas lut measure`")
    _agent_ready()
    folder = out or settings().artifacts / "lut-validation" / table.id
    with progress_bar(f"validate {table.id[:8]}") as update:
        report = validate_table(
            db, table=table, device=dev, n=n, seed=seed, passes=passes, out_dir=folder, progress=update
        )
    typer.echo(report.summary())
    typer.echo(f"report: {folder / 'report.json'}  plot: {folder / 'scatter.png'}")


@lut.command("import")
def import_cmd(
    path: Annotated[Path, typer.Argument(help="Table file: our JSON, our CSV, or a ProxylessNAS-style CSV.")],
    device: Annotated[
        str | None, typer.Option(help="Device name for a CSV (a new external device is created).")
    ] = None,
    kind: Annotated[str, typer.Option(help="Device kind for a new device, e.g. phone, jetson.")] = "external",
    batch_size: Annotated[int, typer.Option(min=1)] = 1,
    space: Annotated[str | None, typer.Option(help="Search space the table's operators belong to (CSV).")] = None,
    dataset: DatasetOpt = None,
    input_size: InputSizeOpt = None,
    in_channels: ChannelsOpt = None,
    num_classes: ClassesOpt = None,
) -> None:
    """Import a table measured elsewhere."""
    fmt = "json" if path.suffix.lower() == ".json" else "csv"
    req = request(
        LutImportRequest,
        text=path.read_text(),
        format=fmt,
        device=device,
        kind=kind,
        batch_size=batch_size,
        space=space,
        dataset=dataset,
        input_size=input_size,
        in_channels=in_channels,
        num_classes=num_classes,
    )
    table = import_latency_table(open_db(), settings(), req)
    typer.echo(f"imported table {table.table_id}: {table.operators} operators, {table.description}")
    if table.skipped:
        console.print(f"skipped {len(table.skipped)} rows that map to no operator: {'; '.join(table.skipped[:5])}")


@lut.command("export")
def export_cmd(
    table_id: Annotated[str, typer.Argument(help="Table id (see `nas lut list`).")],
    fmt: Annotated[str, typer.Option("--format", help="json or csv")] = "json",
    output: Annotated[Path | None, typer.Option("-o", "--output", help="File (default: standard output).")] = None,
) -> None:
    """Write a table as JSON (complete) or CSV (entries only)."""
    if fmt not in ("json", "csv"):
        raise NasError(f"--format {fmt!r} unknown; use json or csv")
    db = open_db()
    with db.session() as s:
        table = repo.load_table(s, table_id)
        dev = repo.get_device(s, table.device)
    text = to_json(table, dev) if fmt == "json" else to_csv(table)
    if output is None:
        sys.stdout.write(text)
    else:
        output.write_text(text)
        typer.echo(f"wrote {output}")


@lut.command("list")
def list_cmd() -> None:
    """The stored tables."""
    db = open_db()
    with db.session() as s:
        rows = repo.list_tables(s)
        for r in rows:
            typer.echo(
                f"{r.id}  {r.status:9}  {r.device:10} {r.space:8} {r.in_channels}x{r.input_size}x{r.input_size}"
                f"->{r.num_classes}  overhead {r.overhead_ms:+.3f} ms  {r.source}  {r.info.get('validation', '')}"
            )


@app.command("devices")
def devices_cmd() -> None:
    """Built-in and imported devices."""
    db = open_db()
    with db.session() as s:
        for d in repo.list_devices(s):
            typer.echo(
                f"{d.name:12} {d.kind:10} {d.runtime:12} threads={d.threads} batch={d.batch_size}  {d.description}"
            )
