"""Latency tables: prediction arithmetic, file formats, imports of foreign tables."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import pytest

from core.errors import NasError
from evaluators.base import Task
from evaluators.devices import Device
from evaluators.latency_lut import Entry, LatencyLutEvaluator, LatencyTable, MissingEntriesError
from evaluators.lut_io import TableFormatError, from_csv, from_json, to_csv, to_json
from search_spaces import get_space

space = get_space("mnasnet")
SHAPE = {"in_channels": 3, "input_size": 224, "num_classes": 1000}
PHONE_CSV = Path(__file__).parents[1] / "data" / "proxylessnas_mobile_lut.csv"
PHONE = Device("pixel1", "phone", "external", threads=1)


def table_for(archs: list, *, overhead: float = 0.0) -> LatencyTable:
    """A table whose entry for an operator is a function of its position, to check sums."""
    table = LatencyTable(id="t1", device="cpu", space="mnasnet", overhead_ms=overhead, **SHAPE)
    for arch in archs:
        for op in space.ops(arch, **SHAPE):
            table.entries.setdefault(op.signature(), Entry(0.1 + 0.01 * len(table.entries), 0.001, 5))
    return table


def test_prediction_is_the_sum_of_entries_plus_overhead() -> None:
    a1 = space.reference("mnasnet-a1")
    table = table_for([a1], overhead=0.5)
    ops = space.ops(a1, **SHAPE)
    expected = sum(table.entries[op.signature()].median_ms for op in ops) + 0.5
    assert table.predict(ops) == pytest.approx(expected)
    # repeated layers share one entry: b4.2-b4.4 are one signature counted three times
    assert len({op.signature() for op in ops}) < len(ops)
    evaluator = LatencyLutEvaluator(task=Task(space="mnasnet", **SHAPE), table=table)
    [outcome] = evaluator.evaluate([a1])
    assert outcome.ok and outcome.metrics["latency_ms"] == pytest.approx(expected)
    assert evaluator.provenance() == {"evaluator": "latency_lut", "lut_id": "t1", "device": "cpu"}


def test_missing_entries_are_named_and_fail_only_that_candidate() -> None:
    a1, b1 = space.reference("mnasnet-a1"), space.reference("mnasnet-b1")
    table = table_for([a1])
    with pytest.raises(MissingEntriesError, match=r"no entry for \d+ operator\(s\): .*nas lut measure"):
        table.predict(space.ops(b1, **SHAPE))
    outcomes = LatencyLutEvaluator(task=Task(space="mnasnet", **SHAPE), table=table).evaluate([a1, b1, a1])
    assert [o.ok for o in outcomes] == [True, False, True]
    assert "MissingEntriesError" in (outcomes[1].error or "")


def test_overhead_fit_is_the_median_gap() -> None:
    table = table_for([])
    assert table.fit_overhead([1.0, 2.0, 3.0], [1.5, 2.1, 3.9]) == pytest.approx(0.5)
    with pytest.raises(NasError):
        table.fit_overhead([], [])


def test_table_refuses_another_task_shape() -> None:
    with pytest.raises(
        NasError, match=r"is for mnasnet 3x224x224 -> 1000 classes on cpu \(batch 1\), not mnasnet 1x28x28"
    ):
        LatencyLutEvaluator(
            task=Task(space="mnasnet", in_channels=1, input_size=28, num_classes=10), table=table_for([])
        )


def test_json_and_csv_round_trip() -> None:
    table = table_for([space.reference("mnasnet-a1")], overhead=0.25)
    device = Device("cpu", "cpu-x86", "torch")
    back = from_json(to_json(table, device))
    assert back.table.entries == table.entries
    assert (back.table.overhead_ms, back.table.shape, back.device) == (0.25, table.shape, device)
    again = from_csv(to_csv(table), device=device, space="mnasnet", shape=SHAPE)
    assert set(again.table.entries) == set(table.entries)
    for sig, e in table.entries.items():
        assert again.table.entries[sig].median_ms == pytest.approx(e.median_ms, rel=1e-5)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{nope", "malformed JSON"),
        ('{"format": "other"}', "not a latency table"),
        ('{"format": "nas-latency-table", "units": "us"}', "units: 'us' unsupported"),
        ('{"format": "nas-latency-table", "space": "mnasnet"}', "missing or malformed field: 'device'"),
    ],
)
def test_malformed_json_tables_are_refused_with_a_reason(text: str, message: str) -> None:
    with pytest.raises(TableFormatError, match=message):
        from_json(text)


def test_bad_values_name_the_row() -> None:
    doc = json.loads(to_json(table_for([space.reference("mnasnet-a1")]), Device("cpu", "cpu-x86", "torch")))
    doc["entries"][3]["median_ms"] = -1
    with pytest.raises(TableFormatError, match=r"entries\[3\].median_ms: -1 must be a finite positive number"):
        from_json(json.dumps(doc))
    doc["entries"][3]["median_ms"] = "NaN"
    with pytest.raises(TableFormatError, match=r"entries\[3\].median_ms"):
        from_json(json.dumps(doc))
    with pytest.raises(TableFormatError, match="line 3 median_ms: 'x' is not a number"):
        from_csv("signature,median_ms\na,1.0\nb,x\n", device=PHONE, space="mnasnet", shape=SHAPE)
    with pytest.raises(TableFormatError, match="unrecognised CSV header"):
        from_csv("a,b\n1,2\n", device=PHONE, space="mnasnet", shape=SHAPE)


def test_proxylessnas_phone_table_imports_and_prices_mnasnet_b1() -> None:
    result = from_csv(PHONE_CSV.read_text(), device=PHONE, space="mnasnet", shape=SHAPE)
    assert len(result.table.entries) == 72 and result.skipped == []
    # MnasNet-B1's widths (16, 24, 40, 80, 96, 192, 320) are ProxylessNAS's: the phone table covers it.
    b1_ops = space.ops(space.reference("mnasnet-b1"), **SHAPE)
    rows = {r["key"]: float(r["mean_ms"]) for r in csv.DictReader(PHONE_CSV.open())}

    def key(op: object) -> str:  # ProxylessNAS's own key for one of our operators
        if op.kind == "classifier":
            return f"Logits-input:{op.hw}x{op.hw}x{op.c_in}-output:{op.c_out}"
        io = f"input:{op.hw}x{op.hw}x{op.c_in}-output:{op.hw_out}x{op.hw_out}x{op.c_out}"
        if op.kind == "conv":
            return f"{'Conv' if op.kernel == 3 else 'Conv_1'}-{io}"
        skip = int(op.skip == "id")
        return f"expanded_conv-{io}-expand:{op.expansion}-kernel:{op.kernel}-stride:{op.stride}-idskip:{skip}"

    expected = sum(rows[key(op)] for op in b1_ops)
    assert result.table.predict(b1_ops) == pytest.approx(expected)
    assert 30 < expected < 200  # a phone runs MnasNet-B1 in tens of milliseconds
    spread = result.table.entries[b1_ops[0].signature()].spread_ms
    assert spread == pytest.approx(1.349 * math.sqrt(0.1562765530967112))
