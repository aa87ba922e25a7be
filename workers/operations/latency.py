"""Latency tables: measure one on a device through the device agent on Ray, or import one measured elsewhere."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from pydantic import Field

from core.errors import NasError
from evaluators.devices import Device
from evaluators.lut_io import from_csv, from_json
from search_spaces import get_space
from store import latency as repo
from workers.operations.common import Progress, Result, ShapeFields, no_progress

if TYPE_CHECKING:
    from evaluators.latency_lut import LatencyTable
    from store.session import Database
    from store.settings import Settings


class LutMeasureRequest(ShapeFields):
    """``nas lut measure``'s options."""

    space: str = Field(description="Search space.")
    device: str = Field(default="cpu", description="Device name (see `nas devices`).")
    warmup: int = Field(default=5, ge=1)
    repeats: int = Field(default=10, ge=3, description="Timed samples per operator and pass.")
    passes: int = Field(default=2, ge=1, description="Passes over the catalogue (a third settles disagreement).")
    limit: int | None = Field(default=None, ge=1, description="Measure only this many operators (a partial table).")


class LutImportRequest(ShapeFields):
    """``nas lut import``: the file's text; a CSV also needs the device, the space and the input shape."""

    text: str = Field(description="The table file's content.")
    format: Literal["json", "csv"] = Field(default="json", description="Our JSON, our CSV or a ProxylessNAS CSV.")
    device: str | None = Field(default=None, description="Device name for a CSV (a new external device).")
    kind: str = Field(default="external", description="Device kind for a new device, e.g. phone, jetson.")
    batch_size: int = Field(default=1, ge=1)
    space: str | None = Field(default=None, description="Search space of the table's operators (CSV).")


class LatencyTableStored(Result):
    """A stored latency table: ``ready`` unless a measurement stopped part-way (run it again)."""

    table_id: str
    device: str
    space: str
    shape: dict[str, int]
    operators: int
    description: str
    ready: bool
    overhead_ms: float
    measure_seconds: float | None = None
    skipped: list[str] = Field(default_factory=list, description="Imported rows that map to no operator.")

    @classmethod
    def of(cls, table: LatencyTable, *, ready: bool, skipped: list[str] | None = None) -> LatencyTableStored:
        return cls(
            table_id=table.id,
            device=table.device,
            space=table.space,
            shape=dict(table.shape),
            operators=len(table.entries),
            description=table.describe(),
            ready=ready,
            overhead_ms=table.overhead_ms,
            measure_seconds=table.info.get("measure_seconds"),
            skipped=list(skipped or []),
        )


def measure_latency_table(
    db: Database, settings: Settings, request: LutMeasureRequest, progress: Progress | None = None
) -> LatencyTableStored:
    """Measure every operator configuration of the space on the device (resuming a partial table).

    ``progress(done, total, phase)`` follows the operators of each pass."""
    from workers.latency import measure_table
    from workers.ray_runtime import ensure_ray

    get_space(request.space)
    shape = request.shape()
    with db.session() as s:
        device = repo.get_device(s, request.device)
    ensure_ray(settings)
    table = measure_table(
        db,
        space=request.space,
        device=device,
        shape=shape,
        warmup=request.warmup,
        repeats=request.repeats,
        passes=request.passes,
        limit=request.limit,
        progress=progress or no_progress,
    )
    return LatencyTableStored.of(table, ready="measure_seconds" in table.info)


def import_latency_table(
    db: Database, settings: Settings, request: LutImportRequest, progress: Progress | None = None
) -> LatencyTableStored:
    """Store a table measured elsewhere (and its device, if new or external)."""
    if request.format == "json":
        result = from_json(request.text)
    else:
        if not (request.device and request.space):
            raise NasError("a CSV table needs --device and --space (and the input shape options)")
        get_space(request.space)
        device = Device(request.device, request.kind, "external", threads=1, batch_size=request.batch_size)
        result = from_csv(request.text, device=device, space=request.space, shape=request.shape())
    get_space(result.table.space)
    with db.session() as s:
        if result.device.name not in {d.name for d in repo.list_devices(s)} or result.device.runtime == "external":
            repo.save_device(s, result.device)
        repo.create_table(s, result.table, status="ready")
    (progress or no_progress)(1, 1, "imported")
    return LatencyTableStored.of(result.table, ready=True, skipped=result.skipped)
