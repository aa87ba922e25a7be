"""Tables of measurements keyed by architecture: read them, keep them, answer metrics from them.

Published benchmarks ship exactly this shape (NAS-Bench-201 accuracies, HW-NAS-Bench device
latencies): one row per architecture, one column per measurement. A file is CSV (header row) or
JSON (a list of row objects, or ``{"rows": [...]}``). The key column is one of

* ``arch_str``: the space's architecture string (NAS-Bench-201: ``|op~0|+|op~0|op~1|+|...|``);
* ``arch_index``: the benchmark's own index (spaces with a published index: ``nb201``);
* ``arch``: an architecture as JSON (``{"space", "version", "genome"}``) or its genome list.

Every other column is a measurement whose header names its unit: ``label[unit]``,
``label (unit)`` or ``label_unit`` (``hwnb_pixel3_lat_ms``), or the metric itself (``latency_ms``,
``params``, ``macs``, ``energy_mj``, ``accuracy`` as a fraction). Units: ``ms``, ``us``, ``s``
(-> ``latency_ms``); ``mj``, ``j`` (-> ``energy_mj``); ``%``, ``pct`` (-> ``accuracy`` / 100),
``frac`` (-> ``accuracy``); ``count``, ``k``, ``m``, ``g`` for ``params`` / ``macs`` / ``flops``
labels. Other headers are declared on import (``{"cifar10_test": "accuracy:%"}``) or ignored;
an undeclared header that names no unit is an error naming it. Values are stored in the
metric's unit. A stored table is a folder: ``table.json`` (space, columns, source) and
``table.csv`` (``arch_id``, ``genome`` as JSON, one column per measurement).
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, ClassVar, cast

import numpy as np
from pydantic import Field

from core.errors import InvalidArchitectureError, NasError
from core.metrics import METRICS
from evaluators.base import Evaluator, EvaluatorOptions, Need, Resolved, StoredArtifact, Task
from search_spaces import Architecture, SearchSpace, get_space

FORMAT = "nas-tabular"
KEY_COLUMNS = ("arch_str", "arch_index", "arch")
UNITS: dict[str, tuple[str, float]] = {
    "ms": ("latency_ms", 1.0),
    "us": ("latency_ms", 1e-3),
    "s": ("latency_ms", 1e3),
    "mj": ("energy_mj", 1.0),
    "j": ("energy_mj", 1e3),
    "%": ("accuracy", 0.01),
    "pct": ("accuracy", 0.01),
    "frac": ("accuracy", 1.0),
}
COUNT_UNITS = {"count": 1.0, "k": 1e3, "m": 1e6, "g": 1e9}
COUNT_LABELS = {"params": "params", "macs": "macs", "flops": "macs"}
NATIVE = {"latency_ms": "ms", "energy_mj": "mj", "accuracy": "frac", "params": "count", "macs": "count"}
_BRACKET = re.compile(r"^(.+?)\s*[\[(]\s*([^\])]+?)\s*[\])]$")


class TableFormatError(NasError):
    """A table file that cannot be read; the message names the row or column."""


@dataclass(frozen=True)
class Column:
    """A measurement column: its header, the metric it gives and the unit it was given in."""

    name: str
    metric: str
    unit: str
    scale: float  # metric value = source value x scale

    def tokens(self) -> set[str]:
        return set(re.split(r"[^a-z0-9]+", self.name.lower())) - {""}


def parse_unit(metric: str, unit: str) -> float:
    """The scale from ``unit`` to ``metric``'s unit; `TableFormatError` lists the allowed units."""
    unit = unit.strip().lower()
    if unit == METRICS[metric].unit.lower():  # any registered metric, in its record's own unit
        return 1.0
    if metric in ("params", "macs"):
        allowed = COUNT_UNITS
        scale = COUNT_UNITS.get(unit)
    else:
        allowed = {u: s for u, (m, s) in UNITS.items() if m == metric}
        scale = allowed.get(unit)
    if scale is None:
        raise TableFormatError(f"unit {unit!r} does not fit {metric}; allowed: {', '.join(allowed)}")
    return scale


def infer_column(name: str, declared: dict[str, str]) -> Column | None:
    """The column a header stands for (declared ``metric:unit`` first); None for a declared ``ignore``."""
    if name in declared:
        spec = declared[name]
        if spec == "ignore":
            return None
        metric, _, unit = spec.partition(":")
        if metric not in METRICS:
            raise TableFormatError(f"column {name!r}: metric {metric!r} unknown; known: {', '.join(METRICS)}")
        unit = unit or NATIVE.get(metric) or METRICS[metric].unit
        return Column(name, metric, unit, parse_unit(metric, unit))
    if name in METRICS:
        return Column(name, name, NATIVE.get(name) or METRICS[name].unit, 1.0)
    label, unit = name, ""
    if m := _BRACKET.match(name):
        label, unit = m.group(1), m.group(2)
    elif "_" in name and name.rsplit("_", 1)[1].lower() in UNITS:
        label, unit = name.rsplit("_", 1)
    if unit.lower() in UNITS:
        metric, scale = UNITS[unit.lower()]
        return Column(name, metric, unit.lower(), scale)
    if label.lower() in COUNT_LABELS and unit.lower() in ("", *COUNT_UNITS):
        return Column(name, COUNT_LABELS[label.lower()], unit.lower() or "count", COUNT_UNITS.get(unit.lower(), 1.0))
    raise TableFormatError(
        f"column {name!r} names no unit; declare it as METRIC:UNIT (e.g. {name}=accuracy:%) or ignore it "
        f"({name}=ignore); units: {', '.join([*UNITS, *COUNT_UNITS])}"
    )


def pick_column(columns: list[Column], metric: str, hints: tuple[str, ...] = ()) -> Column:
    """The column giving ``metric``: the only one, the one whose name holds a hint (device or
    dataset name) as a word, or the one named exactly ``metric``; else an error listing them."""
    found = [c for c in columns if c.metric == metric]
    if not found:
        names = ", ".join(f"{c.name} ({c.metric})" for c in columns)
        raise NasError(f"table has no {metric} column; columns: {names}")
    if len(found) == 1:
        return found[0]
    hinted = [c for c in found if c.tokens() & {h.lower() for h in hints}]
    if len(hinted) == 1:
        return hinted[0]
    exact = [c for c in found if c.name == metric]
    if len(exact) == 1:
        return exact[0]
    raise NasError(
        f"table has several {metric} columns ({', '.join(c.name for c in found)}); choose one (in a job: "
        f'evaluators.tabular.columns = {{"{metric}": "<column>"}}; in the CLI: --column)'
    )


@dataclass
class Table:
    """Measurements of architectures of one space, in metric units (NaN where a row has none)."""

    space: str
    version: str
    columns: list[Column]
    arch_ids: list[str]
    genomes: list[tuple[str, ...]]
    values: np.ndarray  # rows x columns
    source: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.index = {a: i for i, a in enumerate(self.arch_ids)}

    def __len__(self) -> int:
        return len(self.arch_ids)

    def column(self, name: str) -> int:
        for i, c in enumerate(self.columns):
            if c.name == name:
                return i
        raise NasError(f"table has no column {name!r}; columns: {', '.join(c.name for c in self.columns)}")

    def architectures(self) -> list[Architecture]:
        return [Architecture(space=self.space, version=self.version, genome=g) for g in self.genomes]

    def pick(self, metric: str, hints: tuple[str, ...] = ()) -> Column:
        return pick_column(self.columns, metric, hints)

    # -- stored form ---------------------------------------------------------------------------------
    def save(self, folder: Path) -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        meta = {
            "format": FORMAT,
            "version": 1,
            "space": self.space,
            "space_version": self.version,
            "rows": len(self),
            "columns": [asdict(c) for c in self.columns],
            "source": self.source,
        }
        (folder / "table.json").write_text(json.dumps(meta, indent=1))
        with (folder / "table.csv").open("w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(["arch_id", "genome", *(c.name for c in self.columns)])
            for arch_id, genome, row in zip(self.arch_ids, self.genomes, self.values, strict=True):
                writer.writerow(
                    [arch_id, json.dumps(list(genome)), *("" if math.isnan(v) else repr(float(v)) for v in row)]
                )
        return folder

    @classmethod
    def load(cls, folder: Path) -> Table:
        meta = read_meta(folder)
        ids, genomes, rows = [], [], []
        with (Path(folder) / "table.csv").open(newline="") as f:
            reader = csv.reader(f)
            next(reader)
            for record in reader:
                ids.append(record[0])
                genomes.append(tuple(json.loads(record[1])))
                rows.append([float(v) if v else math.nan for v in record[2:]])
        columns = [Column(**c) for c in meta["columns"]]
        values = np.asarray(rows, dtype=float).reshape(len(ids), len(columns))
        return cls(meta["space"], meta["space_version"], columns, ids, genomes, values, meta.get("source", {}))


def read_meta(folder: Path) -> dict[str, Any]:
    """``table.json`` of a stored table (cheap: no rows)."""
    path = Path(folder) / "table.json"
    try:
        meta = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise NasError(f"{folder} is not a stored table: {e}") from None
    if meta.get("format") != FORMAT:
        raise NasError(f"{path}: format {meta.get('format')!r} is not {FORMAT!r}")
    return meta


# -- import --------------------------------------------------------------------------------------
def _rows(text: str, fmt: str) -> list[dict[str, Any]]:
    if fmt == "csv":
        reader = csv.DictReader(io.StringIO(text))
        if not reader.fieldnames:
            raise TableFormatError("the CSV file has no header row")
        return list(reader)
    if fmt == "json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as e:
            raise TableFormatError(f"malformed JSON: {e}") from None
        rows = data.get("rows") if isinstance(data, dict) else data
        if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
            raise TableFormatError('JSON tables are a list of row objects or {"rows": [...]}')
        return rows
    raise TableFormatError(f"format {fmt!r} unknown; known: csv, json")


def _arch(space: SearchSpace, key: str, value: Any) -> Architecture:
    if key == "arch_str":
        parse = getattr(space, "from_arch_str", None)
        if parse is None:
            raise TableFormatError(f"space {space.name} has no architecture strings; key rows by 'arch'")
        return parse(str(value))
    if key == "arch_index":
        lookup = getattr(space, "from_index", None)
        if lookup is None:
            raise TableFormatError(f"space {space.name} has no benchmark index; key rows by 'arch' or 'arch_str'")
        return lookup(int(value))
    data = json.loads(value) if isinstance(value, str) else value
    if isinstance(data, list):
        return space.from_genome([str(g) for g in data])
    return space.validate(Architecture.from_dict(data, validate=False))


def read_table(
    text: str,
    *,
    space: str,
    fmt: str = "csv",
    columns: dict[str, str] | None = None,
    source: dict[str, Any] | None = None,
) -> Table:
    """Parse a table file's text for ``space``; ``columns`` declares headers (``"metric:unit"`` or
    ``"ignore"``). Errors name the row (1-based, header excluded) and the column."""
    sp, declared = get_space(space), dict(columns or {})
    rows = _rows(text, fmt)
    if not rows:
        raise TableFormatError("the table has no rows")
    headers = list(rows[0])
    keys = [k for k in KEY_COLUMNS if k in headers]
    if not keys:
        raise TableFormatError(f"no key column; one of {', '.join(KEY_COLUMNS)} is needed, got {', '.join(headers)}")
    unknown = set(declared) - set(headers)
    if unknown:
        raise TableFormatError(f"declared columns {sorted(unknown)} are not in the file; its columns: {headers}")
    cols = [c for h in headers if h not in KEY_COLUMNS for c in [infer_column(h, declared)] if c is not None]
    if not cols:
        raise TableFormatError("the table has no measurement columns")
    key, ids, genomes, values = keys[0], [], [], np.full((len(rows), len(cols)), np.nan)
    seen: dict[str, int] = {}
    for r, row in enumerate(rows, start=1):
        try:
            arch = _arch(sp, key, row.get(key))
        except (InvalidArchitectureError, TableFormatError, ValueError, TypeError) as e:
            raise TableFormatError(f"row {r}, column {key}: {e}") from None
        if arch.arch_id in seen:
            raise TableFormatError(f"row {r}: the same architecture as row {seen[arch.arch_id]} ({arch.arch_id})")
        seen[arch.arch_id] = r
        ids.append(arch.arch_id)
        genomes.append(arch.genome)
        for c, col in enumerate(cols):
            raw = row.get(col.name)
            if raw in (None, ""):
                continue
            try:
                value = float(raw)
            except (TypeError, ValueError):
                raise TableFormatError(f"row {r}, column {col.name}: {raw!r} is not a number") from None
            if not math.isfinite(value):
                raise TableFormatError(f"row {r}, column {col.name}: {raw!r} is not finite")
            values[r - 1, c] = value * col.scale
    info = {"rows": len(rows), "key": key, **(source or {})}
    return Table(sp.name, sp.version, cols, ids, genomes, values, info)


def read_table_file(path: Path, *, space: str, columns: dict[str, str] | None = None) -> Table:
    """`read_table` on a ``.csv`` / ``.json`` file (optionally ``.gz``)."""
    import gzip

    path = Path(path)
    name = path.name.lower().removesuffix(".gz")
    fmt = "json" if name.endswith(".json") else "csv"
    raw = gzip.decompress(path.read_bytes()) if path.name.lower().endswith(".gz") else path.read_bytes()
    return read_table(raw.decode("utf-8-sig"), space=space, fmt=fmt, columns=columns, source={"file": path.name})


class TabularEvaluator(Evaluator):
    """Metrics looked up in a stored table; ``columns`` maps each metric to the column answering it."""

    name: ClassVar[str] = "tabular"
    produces: ClassVar[tuple[str, ...] | None] = None
    needs: ClassVar[tuple[Need, ...]] = (
        StoredArtifact(
            kind="table",
            option="table",
            match=("space",),
            path_arg="table",
            id_arg="table_id",
            hint="nas predictor import-table FILE --space {space}",
        ),
    )

    class Options(EvaluatorOptions):
        table: str | None = Field(None, description="Imported table id or name (default: the newest for the space).")
        columns: dict[str, str] = Field(
            default_factory=dict, description="Metric -> column (default: picked by the job's device or dataset)."
        )

    @classmethod
    def recipe(cls, job: Resolved) -> dict[str, Any]:
        """Each metric's column: named in ``columns``, else picked by the job's device or dataset."""
        explicit = cast("TabularEvaluator.Options", job.options).columns
        columns = [Column(**c) for c in read_meta(Path(job.resolved["table"]))["columns"]]
        chosen = {m: explicit.get(m) or pick_column(columns, m, job.hints).name for m in job.metrics}
        return {"task": job.task, **job.resolved, "columns": chosen}

    def __init__(self, *, task: Task, table: str, columns: dict[str, str], table_id: str = "") -> None:
        self.task, self.table_id = task, table_id
        self.table = Table.load(Path(table))
        if self.table.space != task.space:
            raise NasError(f"table {table_id or table} is for space {self.table.space}, not {task.space}")
        unknown = [m for m in columns if m not in METRICS]
        if unknown:
            raise NasError(f"tabular columns: unknown metrics {unknown}; known: {', '.join(METRICS)}")
        self.columns = {metric: self.table.column(name) for metric, name in columns.items()}
        self.names = dict(columns)

    @property
    def metrics(self) -> tuple[str, ...]:
        return tuple(self.columns)

    def evaluate_one(self, arch: Architecture) -> dict[str, float]:
        row = self.table.index.get(arch.arch_id)
        if row is None:
            raise NasError(f"architecture {arch.arch_id} is not in table {self.table_id} ({len(self.table)} rows)")
        out = {}
        for metric, c in self.columns.items():
            value = float(self.table.values[row, c])
            if math.isnan(value):
                raise NasError(f"table {self.table_id} has no {self.names[metric]} for architecture {arch.arch_id}")
            out[metric] = value
        return out

    def provenance(self) -> dict[str, Any]:
        return {"evaluator": self.name, "table_id": self.table_id, "columns": self.names}
