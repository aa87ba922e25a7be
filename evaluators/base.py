"""The evaluator contract: a batch of architectures in, one `Outcome` per architecture out.

An evaluator declares itself once, on its class: the metrics it `produces`, its job `Options`
(a pydantic model, validated when a job is submitted) and what it `needs` from the worker layer
(data folders, a latency table, a stored artifact), which resolves those generically.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import BaseModel, ConfigDict

from core.task import Task

if TYPE_CHECKING:
    from collections.abc import Sequence

    from search_spaces import Architecture


class EvaluatorOptions(BaseModel):
    """A job's options for one evaluator (``"evaluators": {name: {...}}``); unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, frozen=True)


@dataclass(frozen=True)
class DataDirs:
    """Need: the evaluator reads a dataset; the worker passes the configured folders as ``data_dirs``."""


@dataclass(frozen=True)
class LatencyTableNeed:
    """Need: the job device's latency table for the space and shape, passed as ``table``; option
    ``table`` names one, else the stored one is used or (``measure_missing``) measured first."""

    options: tuple[str, ...] = ("table", "measure_missing", "passes")


@dataclass(frozen=True)
class StoredArtifact:
    """Need: a stored artifact of ``kind``. Option ``option`` names it (id or name; with
    ``per_metric`` a metric -> name mapping), else the newest one whose metadata matches the job
    on ``match`` (``space``, ``dataset``, ``shape``, ``metric``; ``label`` prefers one labelled
    with the job's device or dataset). Its file is passed as ``path_arg`` and its id as ``id_arg``
    (per metric: dicts); ``hint`` says how to make one."""

    kind: str
    option: str
    match: tuple[str, ...]
    path_arg: str
    id_arg: str
    hint: str
    per_metric: bool = False

    @property
    def options(self) -> tuple[str, ...]:
        return (self.option,)


Need = DataDirs | LatencyTableNeed | StoredArtifact


@dataclass(frozen=True)
class Resolved:
    """What an evaluator of a job is made from: the task, its validated options, what the worker
    resolved for its `needs`, the metrics the job takes from it, and the job's device and dataset."""

    task: Task
    options: EvaluatorOptions
    resolved: dict[str, Any]
    metrics: tuple[str, ...]
    hints: tuple[str, ...] = ()


@dataclass
class Outcome:
    """The result for one architecture: its metrics, or the reason it failed."""

    metrics: dict[str, float] = field(default_factory=dict)
    error: str | None = None
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.error is None

    @classmethod
    def failed(cls, error: BaseException | str, seconds: float = 0.0) -> Outcome:
        text = error if isinstance(error, str) else f"{type(error).__name__}: {error}"
        return cls(error=text, seconds=seconds)


class Evaluator(ABC):
    """Scores architectures on some metrics.

    Contract: `evaluate` takes a batch and returns exactly one `Outcome` per architecture, in
    order. A failure of one candidate is returned as a failed `Outcome` with its reason — never
    raised through the batch, never dropped. Expensive state (tables, weights, data) is loaded in
    the constructor once and reused across batches; evaluators hold no database handle (the
    worker layer passes in what they need). `metrics` names what every ok `Outcome` contains;
    `provenance` says what produced them (stored with each result).
    """

    name: ClassVar[str]
    produces: ClassVar[tuple[str, ...] | None] = ()  # metrics it can produce; None: those of its table
    Options: ClassVar[type[EvaluatorOptions]] = EvaluatorOptions
    needs: ClassVar[tuple[Need, ...]] = ()
    timeout_s: ClassVar[float] = 60.0  # default deadline for one candidate (a job's candidate_timeout_s wins)

    @classmethod
    def recipe(cls, job: Resolved) -> dict[str, Any]:
        """Constructor keyword arguments: the task, the job's validated options (less those that
        name what `needs` resolved) and what the worker resolved. Evaluators that adapt what was
        resolved (pick table columns, check a predictor) override this."""
        consumed = {o for need in cls.needs for o in getattr(need, "options", ())}
        return {"task": job.task, **job.options.model_dump(exclude=consumed), **job.resolved}

    @classmethod
    def reads_data(cls) -> bool:
        """Whether it trains or scores on the job's dataset (so needs one with images)."""
        return any(isinstance(n, DataDirs) for n in cls.needs)

    @property
    def metrics(self) -> tuple[str, ...]:
        """Metric names this evaluator produces (default: all it declares)."""
        return tuple(self.produces or ())

    @abstractmethod
    def evaluate_one(self, arch: Architecture) -> dict[str, float]:
        """Metrics of one architecture (raise on failure). Batch-capable evaluators override `evaluate`."""

    def evaluate(self, archs: Sequence[Architecture]) -> list[Outcome]:
        """One `Outcome` per architecture; exceptions become failed outcomes."""
        out = []
        for arch in archs:
            start = time.perf_counter()
            try:
                out.append(Outcome(self.evaluate_one(arch), seconds=time.perf_counter() - start))
            except Exception as e:  # recorded with its reason, not swallowed
                out.append(Outcome.failed(e, time.perf_counter() - start))
        return out

    def provenance(self) -> dict[str, Any]:
        """What produced the metrics (table id, checkpoint, predictor version, ...)."""
        return {"evaluator": self.name}
