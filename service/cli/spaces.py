"""``nas spaces | sample | reference | describe``: look at search spaces and architectures."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import numpy as np
import typer

from core.errors import NasError
from search_spaces import SPACES, Architecture, get_space
from search_spaces.ops.spec import OpSpec
from service.cli.app import app


@app.command("spaces")
def spaces_cmd() -> None:
    """List the registered search spaces with their sizes."""
    rows = [("space", "version", "genes", "architectures", "raw size", "description")]
    for name in SPACES.names():
        space = get_space(name)
        rows.append(
            (
                name,
                space.version,
                str(len(space.distributions())),
                f"{space.cardinality():.3e}",
                f"{space.raw_cardinality():.3e}",
                space.description,
            )
        )
    typer.echo(_table(rows))


@app.command("sample")
def sample_cmd(
    space: Annotated[str, typer.Argument(help="Search space name (see `nas spaces`).")],
    n: Annotated[int, typer.Option("--n", min=1, help="How many architectures.")] = 1,
    seed: Annotated[int | None, typer.Option(help="Seed; the same seed gives the same architectures.")] = None,
) -> None:
    """Print N random architectures as JSON lines."""
    sp = get_space(space)
    rng = np.random.default_rng(seed)
    for _ in range(n):
        typer.echo(sp.sample(rng).to_json())


@app.command("reference")
def reference_cmd(
    space: Annotated[str, typer.Argument(help="Search space name.")],
    name: Annotated[str | None, typer.Argument(help="Reference architecture; omit to list them.")] = None,
) -> None:
    """List a space's published reference architectures, or print one as JSON."""
    sp = get_space(space)
    if name is None:
        rows = [("name", "params", "MACs", "arch_id")]
        for ref, arch in sp.references().items():
            cost = sp.cost(arch)
            rows.append((ref, f"{cost.params:,}", f"{cost.macs / 1e6:.1f}M", arch.arch_id))
        typer.echo(_table(rows))
        typer.echo("(params and MACs at 1000 classes, 3x224x224)")
        return
    typer.echo(sp.reference(name).to_json(indent=2))


@app.command("describe")
def describe_cmd(
    source: Annotated[str, typer.Argument(help="Architecture JSON file (one object or JSON lines); '-' reads stdin.")],
    input_size: Annotated[int, typer.Option(min=1, help="Input height = width.")] = 224,
    num_classes: Annotated[int, typer.Option(min=1)] = 1000,
    in_channels: Annotated[int, typer.Option(min=1)] = 3,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON summary per architecture.")] = False,
) -> None:
    """Parameters, MACs and the layer table of architectures."""
    text = sys.stdin.read() if source == "-" else Path(source).read_text()
    archs = _read_archs(text)
    for i, arch in enumerate(archs):
        sp = get_space(arch.space)
        ops = sp.ops(arch, num_classes=num_classes, in_channels=in_channels, input_size=input_size)
        cost = sp.cost(arch, num_classes=num_classes, in_channels=in_channels, input_size=input_size)
        if as_json:
            summary = {
                "arch_id": arch.arch_id,
                "architecture": arch.to_dict(),
                "params": cost.params,
                "macs": cost.macs,
                "input": [in_channels, input_size, input_size],
                "num_classes": num_classes,
            }
            typer.echo(json.dumps(summary))
            continue
        if i:
            typer.echo("")
        typer.echo(f"{arch.space} v{arch.version}  arch_id {arch.arch_id}")
        typer.echo(f"input {in_channels}x{input_size}x{input_size}, {num_classes} classes")
        typer.echo(f"parameters: {cost.params:,}")
        typer.echo(f"MACs: {cost.macs:,} ({cost.macs / 1e6:.1f}M)")
        typer.echo(_table(_layer_rows(ops)))


def _read_archs(text: str) -> list[Architecture]:
    text = text.strip()
    if not text:
        raise NasError("no architecture given (empty input)")
    try:
        json.loads(text)
        chunks = [text]
    except json.JSONDecodeError:
        chunks = [line for line in text.splitlines() if line.strip()]  # JSON lines
    archs = []
    for n, chunk in enumerate(chunks, start=1):
        try:
            archs.append(Architecture.from_json(chunk))
        except NasError as e:
            raise NasError(f"line {n}: {e}" if len(chunks) > 1 else str(e)) from None
    return archs


def _layer_rows(ops: list[OpSpec]) -> list[tuple[str, ...]]:
    rows = [("layer", "op", "input", "out", "k", "s", "e", "se", "skip", "params", "MACs")]
    for op in ops:
        params, macs = op.cost()
        rows.append(
            (
                op.name,
                op.kind,
                f"{op.hw}x{op.hw}x{op.c_in}",
                str(op.c_out),
                str(op.kernel),
                str(op.stride),
                str(op.expansion),
                f"{op.se:g}",
                op.skip,
                f"{params:,}",
                f"{macs:,}",
            )
        )
    return rows


def _table(rows: list[tuple[str, ...]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip() for r in rows)
