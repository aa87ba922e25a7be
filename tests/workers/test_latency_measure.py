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
    assert len(table.entries) == 6 and seen[-1] == (12, 12, "operators (pass 2/2)")
    # two passes of 3 samples; a third measurement where the passes disagreed by more than 10%
    assert all(e.median_ms > 0 and e.runs in (6, 9) for e in table.entries.values())
    with sqlite_db.session() as s:
        assert repo.load_table(s, table.id).info["probe_ms"] > 0  # the drift reference is stored
    again = measure_table(sqlite_db, space="mnasnet", device=device, shape=DIGITS, warmup=1, repeats=3, limit=10)
    assert again.id == table.id and len(again.entries) == 10  # continued, not restarted
    with sqlite_db.session() as s:
        stored = repo.load_table(s, table.id)
        assert stored.entries == again.entries
        assert repo.find_table(s, device="cpu", space="mnasnet", shape=DIGITS) is None  # not finished


def test_full_table_on_tiny_inputs_then_validation_report(sqlite_db: Database, tmp_path: Path) -> None:
    device = builtin_device("cpu")
    # NAS-Bench-201's 19 operators: the whole flow in seconds (MnasNet's 3,049 at this shape took 111 s)
    table = measure_table(sqlite_db, space="nb201", device=device, shape=DIGITS, warmup=1, repeats=3, fit_archs=3)
    catalogue = get_space("nb201").op_catalogue(**DIGITS)
    assert len(table.entries) == len(catalogue) and all(e.runs >= 6 for e in table.entries.values())  # two passes
    with sqlite_db.session() as s:
        ready = repo.find_table(s, device="cpu", space="nb201", shape=DIGITS)
    assert ready is not None and ready.overhead_ms == table.overhead_ms
    report = validate_table(sqlite_db, table=ready, device=device, n=4, warmup=1, repeats=3, passes=2, out_dir=tmp_path)
    doc = json.loads((tmp_path / "report.json").read_text())
    assert doc["n"] == 4 and len(doc["points"]) == 4 and 0 <= report.within_10pct <= 1
    assert all(p["measured_ms"] > 0 and p["predicted_ms"] > 0 for p in doc["points"])
    assert (tmp_path / "scatter.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_external_devices_cannot_be_measured(sqlite_db: Database) -> None:
    from core.errors import NasError
    from evaluators.devices import Device

    phone = Device("phone1", "phone", "external")
    with pytest.raises(NasError, match="external"):
        measure_table(sqlite_db, space="mnasnet", device=phone, shape=DIGITS, limit=1)


def test_passes_combine_by_agreement() -> None:
    from evaluators.devices.timing import Stats
    from evaluators.latency_lut import Entry
    from workers.latency import _combine, _median_of_three

    first = Entry(1.0, 0.1, 10)
    assert _combine(None, first) == first
    agreed = _combine(first, Entry(1.08, 0.2, 10))
    assert agreed == Entry(pytest.approx(1.04), 0.2, 20)
    assert _combine(first, Entry(1.2, 0.1, 10)) is None  # 20% apart: a third measurement decides
    third = _median_of_three(first, Stats(1.2, 0.1, 10, probe_ms=2.0, ratio=0.6), Stats(9.0, 0.1, 10), None)
    assert third.median_ms == pytest.approx(1.2) and third.runs == 30


def test_a_job_measures_its_missing_table_with_the_passes_it_asks_for(sqlite_db: Database, tmp_path: Path) -> None:
    from pydantic import ValidationError

    from core.spec import JobSpec
    from store.settings import Settings
    from workers.evaluation import recipes_for

    def spec(**lut: object) -> JobSpec:
        return JobSpec.model_validate(
            {
                "space": "nb201",
                "dataset": "digits",
                "device": "cpu",
                "objectives": [{"metric": "latency_ms"}],
                "strategy": {"name": "random"},
                "budget": {"candidates": 1},
                "evaluators": {"latency_lut": lut},
            }
        )

    settings = Settings(home=tmp_path, database_url=sqlite_db.url)
    with pytest.raises(
        ValidationError, match=r"evaluators\.latency_lut\.passes: Input should be greater than or equal to 1"
    ):
        spec(passes=0)
    (recipe,) = recipes_for(spec(passes=1), db=sqlite_db, settings=settings, progress=lambda *_: None)
    table = recipe.kwargs["table"]
    assert len(table.entries) == len(get_space("nb201").op_catalogue(**DIGITS))
    assert {e.runs for e in table.entries.values()} == {table.info["repeats"]}  # one pass: one set of samples each
    other = Database(f"sqlite:///{tmp_path / 'other.db'}")  # no table yet: measured with the default passes
    other.migrate()
    try:
        (recipe,) = recipes_for(spec(), db=other, settings=settings, progress=lambda *_: None)
        assert all(
            e.runs >= 2 * recipe.kwargs["table"].info["repeats"] for e in recipe.kwargs["table"].entries.values()
        )
    finally:
        other.dispose()
