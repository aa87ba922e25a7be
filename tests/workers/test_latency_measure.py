"""Measuring tables through the device agent on Ray, storing them, validating them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from evaluators.devices import builtin_device
from search_spaces import get_space
from store import latency as repo
from store.session import Database
from workers.latency import measure_table, validate_table

DIGITS = {"in_channels": 1, "input_size": 8, "num_classes": 10}
pytestmark = pytest.mark.usefixtures("ray_cluster")


def test_partial_measurement_is_stored_and_resumed(sqlite_db: Database) -> None:
    device = builtin_device("cpu")
    seen: list[tuple[int, int, str]] = []
    table = measure_table(
        sqlite_db,
        space="mnasnet",
        device=device,
        shape=DIGITS,
        warmup=1,
        repeats=3,
        limit=6,
        progress=lambda d, t, p: seen.append((d, t, p)),
    )
    assert len(table.entries) == 6 and seen[-1] == (6, 6, "operators")
    assert all(e.median_ms > 0 and e.runs == 3 for e in table.entries.values())
    again = measure_table(sqlite_db, space="mnasnet", device=device, shape=DIGITS, warmup=1, repeats=3, limit=10)
    assert again.id == table.id and len(again.entries) == 10  # continued, not restarted
    with sqlite_db.session() as s:
        stored = repo.load_table(s, table.id)
        assert stored.entries == again.entries
        assert repo.find_table(s, device="cpu", space="mnasnet", shape=DIGITS) is None  # not finished


@pytest.mark.slow
def test_full_table_on_tiny_inputs_then_validation_report(sqlite_db: Database, tmp_path: Path) -> None:
    device = builtin_device("cpu")
    table = measure_table(sqlite_db, space="mnasnet", device=device, shape=DIGITS, warmup=1, repeats=3, fit_archs=3)
    catalogue = get_space("mnasnet").op_catalogue(**DIGITS)
    assert len(table.entries) == len(catalogue)
    with sqlite_db.session() as s:
        ready = repo.find_table(s, device="cpu", space="mnasnet", shape=DIGITS)
    assert ready is not None and ready.overhead_ms == table.overhead_ms
    report = validate_table(sqlite_db, table=ready, device=device, n=4, warmup=1, repeats=3, out_dir=tmp_path)
    doc = json.loads((tmp_path / "report.json").read_text())
    assert doc["n"] == 4 and len(doc["points"]) == 4 and 0 <= report.within_10pct <= 1
    assert all(p["measured_ms"] > 0 and p["predicted_ms"] > 0 for p in doc["points"])
    assert (tmp_path / "scatter.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_external_devices_cannot_be_measured(sqlite_db: Database) -> None:
    from evaluators.devices import Device
    from search_spaces import NasError

    phone = Device("phone1", "phone", "external")
    with pytest.raises(NasError, match="external"):
        measure_table(sqlite_db, space="mnasnet", device=phone, shape=DIGITS, limit=1)
