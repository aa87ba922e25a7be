"""Latency tables as files: our JSON and CSV formats both ways, and foreign tables in.

Native JSON (what `nas lut export` writes; latencies in milliseconds)::

    {"format": "nas-latency-table", "version": 1, "units": "ms",
     "device": {"name": "cpu", "kind": "cpu-x86", "runtime": "torch", "threads": 2, "batch_size": 1},
     "space": "mnasnet", "input": {"in_channels": 1, "input_size": 28, "num_classes": 10},
     "overhead_ms": 0.12, "info": {...},
     "entries": [{"signature": "mbconv-i28x28x16-o24-...", "median_ms": 0.41, "spread_ms": 0.02, "runs": 20}]}

Native CSV: columns ``signature,median_ms[,spread_ms,runs]``; device, space and input shape are
given on import. Foreign CSV: the ProxylessNAS/Once-for-All mobile table layout (``key, op,
in_h, in_w, in_c, out_h, out_w, out_c, expand, kernel, stride, idskip, count, mean_ms, var_ms2``);
rows are translated to our operator signatures (``Conv`` = 3x3 stem, ``Conv_1`` = 1x1 head,
``Logits`` = classifier, ``expanded_conv`` = MBConv, expansion 1 = depthwise separable), the mean
becomes the entry's value and the spread is the normal IQR, 1.349 x sqrt(variance). Imported for a
staged space (`search_spaces.staged`), the operators carry that space's attributes (ProxylessNAS:
ReLU6), so the table prices the space's own signatures.

`PROXYLESS_MOBILE_LUT` is ProxylessNAS's mobile table as shipped with this package (source and
licence in ``evaluators/data/README.md``); it prices every architecture of the ``proxylessnas``
space at 224x224x3 -> 1000.
"""

from __future__ import annotations

import csv
import io
import json
import math
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.errors import NasError
from evaluators.devices import Device
from evaluators.latency_lut import Entry, LatencyTable
from search_spaces import SPACES, get_space
from search_spaces.ops.spec import AttrValue, OpSpec
from search_spaces.staged import StagedSpace

FORMAT = "nas-latency-table"
PROXYLESS_MOBILE_LUT = Path(__file__).parent / "data" / "proxylessnas_mobile_lut.csv"
PROXYLESS_COLUMNS = {
    "op",
    "in_h",
    "in_c",
    "out_h",
    "out_c",
    "expand",
    "kernel",
    "stride",
    "idskip",
    "mean_ms",
}


class TableFormatError(NasError):
    """A latency table file that cannot be read; the message names the row or field."""


@dataclass
class ImportResult:
    table: LatencyTable
    device: Device
    skipped: list[str]


def new_table_id() -> str:
    return uuid.uuid4().hex


def to_json(table: LatencyTable, device: Device) -> str:
    doc = {
        "format": FORMAT,
        "version": 1,
        "units": "ms",
        "id": table.id,
        "device": device.to_dict(),
        "space": table.space,
        "input": dict(table.shape),
        "batch_size": table.batch_size,
        "overhead_ms": table.overhead_ms,
        "source": table.source,
        "info": table.info,
        "entries": [
            {"signature": sig, "median_ms": e.median_ms, "spread_ms": e.spread_ms, "runs": e.runs}
            for sig, e in sorted(table.entries.items())
        ],
    }
    return json.dumps(doc, indent=1)


def to_csv(table: LatencyTable) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["signature", "median_ms", "spread_ms", "runs"])
    for sig, e in sorted(table.entries.items()):
        writer.writerow([sig, f"{e.median_ms:.6g}", f"{e.spread_ms:.6g}", e.runs])
    return out.getvalue()


def _number(value: Any, where: str, *, positive: bool = False) -> float:
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise TableFormatError(f"{where}: {value!r} is not a number") from None
    if not math.isfinite(x) or x < 0 or (positive and x == 0):
        raise TableFormatError(
            f"{where}: {value!r} must be a finite {'positive' if positive else 'non-negative'} number"
        )
    return x


def from_json(text: str) -> ImportResult:
    """Parse our JSON format (`TableFormatError` names what is wrong)."""
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as e:
        raise TableFormatError(f"malformed JSON: {e}") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise TableFormatError(f'not a latency table: expected "format": "{FORMAT}"')
    if doc.get("units", "ms") != "ms":
        raise TableFormatError(f"units: {doc.get('units')!r} unsupported; tables are in ms")
    try:
        dev = doc["device"]
        device = Device(
            str(dev["name"]),
            str(dev.get("kind", "external")),
            dev.get("runtime", "external"),
            int(dev.get("threads", 1)),
            int(dev.get("batch_size", 1)),
            str(dev.get("description", "")),
        )
        shape = doc["input"]
        table = LatencyTable(
            id=str(doc.get("id") or new_table_id()),
            device=device.name,
            space=str(doc["space"]),
            in_channels=int(shape["in_channels"]),
            input_size=int(shape["input_size"]),
            num_classes=int(shape["num_classes"]),
            batch_size=int(doc.get("batch_size", device.batch_size)),
            overhead_ms=float(doc.get("overhead_ms", 0.0)),
            source=str(doc.get("source", "imported")),
            info=dict(doc.get("info") or {}),
        )
        rows = doc["entries"]
    except (KeyError, TypeError, ValueError) as e:
        raise TableFormatError(f"missing or malformed field: {e}") from None
    if not isinstance(rows, list) or not rows:
        raise TableFormatError("entries: expected a non-empty list")
    for i, row in enumerate(rows):
        if not isinstance(row, dict) or not isinstance(row.get("signature"), str):
            raise TableFormatError(f"entries[{i}]: expected an object with a string signature")
        table.entries[row["signature"]] = Entry(
            _number(row.get("median_ms"), f"entries[{i}].median_ms", positive=True),
            _number(row.get("spread_ms", 0.0), f"entries[{i}].spread_ms"),
            int(_number(row.get("runs", 0), f"entries[{i}].runs")),
        )
    return ImportResult(table, device, [])


def from_csv(text: str, *, device: Device, space: str, shape: dict[str, int]) -> ImportResult:
    """Parse a native or ProxylessNAS-style CSV for ``device``/``space``/``shape``."""
    reader = csv.DictReader(io.StringIO(text))
    columns = set(reader.fieldnames or ())
    table = LatencyTable(
        id=new_table_id(), device=device.name, space=space, batch_size=device.batch_size, source="imported", **shape
    )
    skipped: list[str] = []
    if {"signature", "median_ms"} <= columns:
        for n, row in enumerate(reader, start=2):
            table.entries[row["signature"]] = Entry(
                _number(row["median_ms"], f"line {n} median_ms", positive=True),
                _number(row.get("spread_ms") or 0, f"line {n} spread_ms"),
                int(_number(row.get("runs") or 0, f"line {n} runs")),
            )
    elif columns >= PROXYLESS_COLUMNS:
        attrs = _op_attrs(space)
        for n, row in enumerate(reader, start=2):
            spec = _proxyless_op(row, n, shape["num_classes"], attrs)
            if spec is None:
                skipped.append(f"line {n}: {row.get('key') or row.get('op')}")
                continue
            spread = 1.349 * math.sqrt(_number(row.get("var_ms2") or 0, f"line {n} var_ms2"))
            runs = int(_number(row.get("count") or 0, f"line {n} count"))
            table.entries[spec.signature()] = Entry(
                _number(row["mean_ms"], f"line {n} mean_ms", positive=True), spread, runs
            )
    else:
        raise TableFormatError(
            "unrecognised CSV header; expected columns signature,median_ms[,spread_ms,runs] or the ProxylessNAS "
            f"layout ({', '.join(sorted(PROXYLESS_COLUMNS))}); got {', '.join(sorted(columns)) or 'none'}"
        )
    if not table.entries:
        raise TableFormatError("the table has no usable rows")
    return ImportResult(table, device, skipped)


def _op_attrs(space: str) -> tuple[tuple[str, AttrValue], ...]:
    """The attributes every operator of ``space`` carries (staged spaces); none for other spaces."""
    if space not in SPACES.names():
        return ()
    instance = get_space(space)
    return instance.desc.op_attrs if isinstance(instance, StagedSpace) else ()


def _proxyless_op(
    row: dict[str, str], n: int, num_classes: int, attrs: tuple[tuple[str, AttrValue], ...] = ()
) -> OpSpec | None:
    def num(key: str) -> int:
        return int(_number(row[key], f"line {n} {key}"))

    op = row["op"]
    if op == "Logits":
        return (
            OpSpec("classifier", num("in_c"), num("out_c"), num("in_h"), name="classifier")
            if num("out_c") == num_classes
            else None
        )
    stride = max(1, round(num("in_h") / num("out_h")))
    if op == "Conv":  # the 3x3 stem
        return OpSpec("conv", num("in_c"), num("out_c"), num("in_h"), kernel=3, stride=stride, attrs=attrs)
    if op == "Conv_1":  # the 1x1 head
        return OpSpec("conv", num("in_c"), num("out_c"), num("in_h"), kernel=1, stride=stride, attrs=attrs)
    if op == "expanded_conv":
        expand, skip = num("expand"), "id" if num("idskip") else "none"
        kind = "dconv" if expand == 1 else "mbconv"
        return OpSpec(
            kind,
            num("in_c"),
            num("out_c"),
            num("in_h"),
            kernel=num("kernel"),
            stride=num("stride"),
            expansion=expand,
            skip=skip,
            attrs=attrs,
        )
    return None
