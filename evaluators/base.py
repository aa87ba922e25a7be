"""The evaluator contract: a batch of architectures in, one `Outcome` per architecture out."""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from collections.abc import Sequence

    from search_spaces import Architecture


@dataclass(frozen=True)
class Task:
    """What candidates are built for: the space and the input/output shape (from the dataset)."""

    space: str
    in_channels: int = 3
    input_size: int = 224
    num_classes: int = 1000
    dataset: str | None = None

    @property
    def shape(self) -> dict[str, int]:
        """Keyword arguments for `SearchSpace.build`, `cost` and `ops`."""
        return {
            "in_channels": self.in_channels,
            "input_size": self.input_size,
            "num_classes": self.num_classes,
        }


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

    @property
    @abstractmethod
    def metrics(self) -> tuple[str, ...]:
        """Metric names this evaluator produces."""

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
