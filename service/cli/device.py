"""``nas device add | onboard | upload``: a new device from a few measurements.

`add` registers an external device; `onboard` writes the K architectures the service wants
measured on it (one JSON architecture a line, and a CSV template ``arch,latency_ms``); `upload`
takes the filled-in CSV (or JSON rows), refuses bad rows naming row and column, and stores the
fitted predictor under the device's name. The work is `workers.operations.devices`.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Annotated

import typer

from service.cli.app import app
from service.cli.common import DatasetOpt, open_db, request, settings
from workers.operations.devices import (
    DesignRequest,
    DeviceAddRequest,
    UploadRequest,
    add_device,
    onboarding_design,
    upload_measurements,
)

device = typer.Typer(help="Onboard a device from a few latency measurements.", no_args_is_help=True)
app.add_typer(device, name="device")
SpaceOpt = Annotated[str, typer.Option(help="Search space the device will be searched in.")]


@device.command("add")
def add_cmd(
    name: Annotated[str, typer.Argument(help="Device name (a-z, 0-9, '.', '_', '-').")],
    kind: Annotated[str, typer.Option(help="What it is: phone, gpu, mcu, ...")] = "external",
    description: Annotated[str, typer.Option(help="Free text.")] = "",
) -> None:
    """Register an external device."""
    added = add_device(open_db(), settings(), request(DeviceAddRequest, name=name, kind=kind, description=description))
    typer.echo(f"device {added['name']} ({added['kind']}) added; next: nas device onboard {name} --space SPACE")


@device.command("onboard")
def onboard_cmd(
    name: Annotated[str, typer.Argument(help="The device.")],
    space: SpaceOpt,
    k: Annotated[int, typer.Option(help="How many architectures to measure.")] = 20,
    dataset: DatasetOpt = None,
    out: Annotated[Path, typer.Option(help="Folder for archs.jsonl and measurements.csv.")] = Path(),
) -> None:
    """Write the architectures to measure and a CSV to fill in."""
    design = onboarding_design(
        open_db(), settings(), request(DesignRequest, device=name, space=space, k=k, dataset=dataset)
    )
    out.mkdir(parents=True, exist_ok=True)
    (out / "archs.jsonl").write_text("".join(json.dumps(a) + "\n" for a in design.archs))
    with (out / "measurements.csv").open("w", newline="") as f:  # the arch column: each architecture's JSON
        writer = csv.writer(f)
        writer.writerow(["arch", "latency_ms"])
        writer.writerows([json.dumps(a), ""] for a in design.archs)
    typer.echo(f"{len(design.archs)} architectures of {space} in {out / 'archs.jsonl'} (sources: "
               f"{', '.join(design.sources)}); measure each, fill in {out / 'measurements.csv'}, then "
               f"nas device upload {name} --space {space} {out / 'measurements.csv'}")  # fmt: skip


@device.command("upload")
def upload_cmd(
    name: Annotated[str, typer.Argument(help="The device.")],
    path: Annotated[Path, typer.Argument(help="CSV (arch,latency_ms) or JSON rows [{arch, latency_ms}].")],
    space: SpaceOpt,
    dataset: DatasetOpt = None,
) -> None:
    """Fit and store the device's latency predictor from its measurements."""
    fmt = "json" if path.suffix.lower() == ".json" else "csv"
    req = request(UploadRequest, device=name, space=space, text=path.read_text(), format=fmt, dataset=dataset)
    done = upload_measurements(open_db(), settings(), req)
    rho = done.cv.get("mean", {}).get("spearman", float("nan"))
    typer.echo(f"predictor {done.artifact_id} for {name} from {done.n} measurements (sources: "
               f"{', '.join(done.sources)}); leave-one-out Spearman {rho:.3f}")  # fmt: skip
