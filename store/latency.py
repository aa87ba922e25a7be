"""Devices and latency tables in the database (keyword-only functions over a session)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import select

from core.errors import NasError, UnknownPluginError
from evaluators.devices import DEVICES, Device
from evaluators.latency_lut import Entry, LatencyTable
from store import models as m

if TYPE_CHECKING:
    from collections.abc import Mapping

    from sqlalchemy.orm import Session

    from core.task import TaskShape


def save_device(session: Session, device: Device) -> None:
    """Insert or update a device row."""
    row = session.get(m.Device, device.name) or m.Device(name=device.name)
    row.kind, row.runtime, row.threads, row.batch_size = device.kind, device.runtime, device.threads, device.batch_size
    row.info = {"description": device.description}
    session.add(row)


def get_device(session: Session, name: str) -> Device:
    """A built-in device, or one registered in the database (imported external devices)."""
    if name in DEVICES:
        return DEVICES.get(name)
    row = session.get(m.Device, name)
    if row is None:
        known = sorted({*DEVICES.names(), *session.scalars(select(m.Device.name))})
        raise UnknownPluginError(f"unknown device {name!r}; known: {', '.join(known)}")
    return Device(row.name, row.kind, row.runtime, row.threads, row.batch_size, row.info.get("description", ""))  # type: ignore[arg-type]


def list_devices(session: Session) -> list[Device]:
    names = sorted({*DEVICES.names(), *session.scalars(select(m.Device.name))})
    return [get_device(session, n) for n in names]


def create_table(session: Session, table: LatencyTable, *, status: str) -> None:
    """Store a table's header and entries."""
    session.add(
        m.LatencyTable(
            id=table.id,
            device=table.device,
            space=table.space,
            in_channels=table.in_channels,
            input_size=table.input_size,
            num_classes=table.num_classes,
            batch_size=table.batch_size,
            overhead_ms=table.overhead_ms,
            source=table.source,
            status=status,
            info=table.info,
        )
    )
    session.flush()
    put_entries(session, table_id=table.id, entries=table.entries)


def put_entries(session: Session, *, table_id: str, entries: Mapping[str, Entry]) -> int:
    """Add or replace entries by signature (idempotent); returns how many were new."""
    sigs, have = list(entries), {}
    for i in range(0, len(sigs), 500):  # bounded IN lists
        query = select(m.LatencyEntry).where(
            m.LatencyEntry.table_id == table_id, m.LatencyEntry.signature.in_(sigs[i : i + 500])
        )
        have.update({row.signature: row for row in session.scalars(query)})
    for sig, e in entries.items():
        if (row := have.get(sig)) is not None:
            row.median_ms, row.spread_ms, row.runs = e.median_ms, e.spread_ms, e.runs
    new = [
        m.LatencyEntry(table_id=table_id, signature=s, median_ms=e.median_ms, spread_ms=e.spread_ms, runs=e.runs)
        for s, e in entries.items()
        if s not in have
    ]
    session.add_all(new)
    return len(new)


def finish_table(session: Session, *, table_id: str, overhead_ms: float, info: Mapping[str, object]) -> None:
    row = _row(session, table_id)
    row.overhead_ms, row.status, row.info = overhead_ms, "ready", {**row.info, **info}


def update_info(session: Session, *, table_id: str, info: Mapping[str, object]) -> None:
    row = _row(session, table_id)
    row.info = {**row.info, **info}


def _row(session: Session, table_id: str) -> m.LatencyTable:
    row = session.get(m.LatencyTable, table_id)
    if row is None:
        raise NasError(f"no latency table {table_id!r}")
    return row


def load_table(session: Session, table_id: str) -> LatencyTable:
    """The table with all its entries."""
    row = _row(session, table_id)
    entries = session.execute(
        select(m.LatencyEntry.signature, m.LatencyEntry.median_ms, m.LatencyEntry.spread_ms, m.LatencyEntry.runs).where(
            m.LatencyEntry.table_id == table_id
        )
    )
    return LatencyTable(
        id=row.id,
        device=row.device,
        space=row.space,
        in_channels=row.in_channels,
        input_size=row.input_size,
        num_classes=row.num_classes,
        batch_size=row.batch_size,
        overhead_ms=row.overhead_ms,
        source=row.source,
        entries={s: Entry(med, spread, runs) for s, med, spread, runs in entries},
        info=dict(row.info),
    )


def find_table(
    session: Session, *, device: str, space: str, shape: TaskShape, status: str = "ready"
) -> LatencyTable | None:
    """The newest table with this status for (device, space, input shape), if any."""
    row = session.scalars(
        select(m.LatencyTable)
        .where(
            m.LatencyTable.device == device,
            m.LatencyTable.space == space,
            m.LatencyTable.in_channels == shape["in_channels"],
            m.LatencyTable.input_size == shape["input_size"],
            m.LatencyTable.num_classes == shape["num_classes"],
            m.LatencyTable.status == status,
        )
        .order_by(m.LatencyTable.created_at.desc())
        .limit(1)
    ).first()
    return None if row is None else load_table(session, row.id)


def list_tables(session: Session) -> list[m.LatencyTable]:
    return list(session.scalars(select(m.LatencyTable).order_by(m.LatencyTable.created_at.desc())))
