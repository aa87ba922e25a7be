"""Latency lookup tables: predicted latency = sum of the operators' measured entries + overhead.

The table is keyed by `OpSpec.signature()` — the same ops list the model is built from — for
one (device, space, input shape, batch size). ``overhead_ms`` is the per-network term fitted
against end-to-end measurements (what a network costs beyond its operators measured in
isolation: glue, residual additions, cache effects); imported tables may carry their own.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
from pydantic import Field

from core.errors import NasError
from core.task import TaskShape
from evaluators.base import Evaluator, EvaluatorOptions, LatencyTableNeed, Need, Task
from search_spaces import get_space

if TYPE_CHECKING:
    from collections.abc import Sequence

    from search_spaces import Architecture
    from search_spaces.ops.spec import OpSpec


class MissingEntriesError(NasError):
    """The table has no entry for some operators of an architecture."""


@dataclass(frozen=True)
class Entry:
    median_ms: float
    spread_ms: float = 0.0
    runs: int = 0


@dataclass
class LatencyTable:
    """One lookup table. ``entries`` maps operator signatures to measured latencies (ms)."""

    id: str
    device: str
    space: str
    in_channels: int
    input_size: int
    num_classes: int
    batch_size: int = 1
    overhead_ms: float = 0.0
    source: str = "measured"
    entries: dict[str, Entry] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)

    def ops_sum(self, ops: Sequence[OpSpec]) -> float:
        """Sum of the operators' entries; `MissingEntriesError` lists what is not in the table."""
        missing = sorted({op.signature() for op in ops if op.signature() not in self.entries})
        if missing:
            shown = ", ".join(missing[:3]) + (f" and {len(missing) - 3} more" if len(missing) > 3 else "")
            raise MissingEntriesError(
                f"latency table {self.id} ({self.device}) has no entry for {len(missing)} operator(s): {shown}; "
                f"measure them with `nas lut measure --space {self.space} --device {self.device}`"
            )
        return float(sum(self.entries[op.signature()].median_ms for op in ops))

    def predict(self, ops: Sequence[OpSpec]) -> float:
        """Predicted end-to-end latency of a network made of ``ops`` (ms)."""
        return self.ops_sum(ops) + self.overhead_ms

    def fit_overhead(self, sums: Sequence[float], measured: Sequence[float]) -> float:
        """Set ``overhead_ms`` to the median gap between measured networks and their operator sums."""
        if len(sums) != len(measured) or not sums:
            raise NasError("fit_overhead needs as many operator sums as end-to-end measurements (at least 1)")
        self.overhead_ms = float(np.median(np.asarray(measured) - np.asarray(sums)))
        return self.overhead_ms

    def check_task(self, task: Task) -> None:
        if (task.space, task.shape) != (self.space, self.shape):
            raise NasError(f"latency table {self.id} is for {self.describe()}, not {task.space} {task.shape}")

    @property
    def shape(self) -> TaskShape:
        """The task shape; unpacks as the keyword arguments of `SearchSpace.ops`."""
        return TaskShape(self.in_channels, self.input_size, self.num_classes)

    def describe(self) -> str:
        return f"{self.space} {self.shape} on {self.device} (batch {self.batch_size})"


class LatencyLutEvaluator(Evaluator):
    """``latency_ms`` from a lookup table (microseconds per candidate; no model is built)."""

    name: ClassVar[str] = "latency_lut"
    produces: ClassVar[tuple[str, ...]] = ("latency_ms",)
    needs: ClassVar[tuple[Need, ...]] = (LatencyTableNeed(),)

    class Options(EvaluatorOptions):
        table: str | None = Field(None, description="Latency table id to use (default: the device's table).")
        measure_missing: bool = Field(True, description="Measure the table first when the device has none.")
        passes: int | None = Field(
            None, ge=1, le=5, description="Drift-corrected measurement passes over the operators (default 2)."
        )

    def __init__(self, *, task: Task, table: LatencyTable) -> None:
        table.check_task(task)
        self.task, self.table = task, table
        self.space = get_space(task.space)

    def evaluate_one(self, arch: Architecture) -> dict[str, float]:
        return {"latency_ms": self.table.predict(self.space.ops(arch, **self.task.shape))}

    def provenance(self) -> dict[str, Any]:
        return {"evaluator": self.name, "lut_id": self.table.id, "device": self.table.device}
