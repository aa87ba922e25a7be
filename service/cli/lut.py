"""``nas lut measure | validate | import | export | list`` and ``nas devices``."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from core.errors import NasError
from evaluators.devices import Device
from evaluators.lut_io import from_csv, from_json, to_csv, to_json
from search_spaces import get_space
from service.cli.app import app
from service.cli.common import (
    ChannelsOpt,
    ClassesOpt,
    DatasetOpt,
    InputSizeOpt,
    console,
    open_db,
    progress_bar,
    settings,
    task_shape,
)
from store import latency as repo

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
    from workers.latency import measure_table

    get_space(space)
    shape = task_shape(dataset, input_size, in_channels, num_classes)
    db = open_db()
    with db.session() as s:
        dev = repo.get_device(s, device)
    _agent_ready()
    with progress_bar(f"{space} on {dev.name}") as update:
        table = measure_table(
            db,
            space=space,
            device=dev,
            shape=shape,
            warmup=warmup,
            repeats=repeats,
            passes=passes,
            limit=limit,
            progress=update,
        )
    state = "ready" if "measure_seconds" in table.info else "partial (run again to continue)"
    typer.echo(f"table {table.id}: {len(table.entries)} operators, {table.describe()}, {state}")
    if "measure_seconds" in table.info:
        typer.echo(f"overhead {table.overhead_ms:+.3f} ms per network; measured in {table.info['measure_seconds']} s")


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
    text = path.read_text()
    if path.suffix.lower() == ".json":
        result = from_json(text)
    else:
        if not (device and space):
            raise NasError("a CSV table needs --device and --space (and the input shape options)")
        get_space(space)
        dev = Device(device, kind, "external", threads=1, batch_size=batch_size)
        result = from_csv(
            text, device=dev, space=space, shape=task_shape(dataset, input_size, in_channels, num_classes)
        )
    get_space(result.table.space)
    db = open_db()
    with db.session() as s:
        if result.device.name not in {d.name for d in repo.list_devices(s)} or result.device.runtime == "external":
            repo.save_device(s, result.device)
        repo.create_table(s, result.table, status="ready")
    typer.echo(f"imported table {result.table.id}: {len(result.table.entries)} operators, {result.table.describe()}")
    if result.skipped:
        console.print(f"skipped {len(result.skipped)} rows that map to no operator: {'; '.join(result.skipped[:5])}")


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
