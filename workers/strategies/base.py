"""The strategy contract: ask for architectures, tell their results, replay stored history.

Strategies speak plain values: no Ray, no database, no pickling. The runner stores whatever a
proposal's ``attrs`` hold with the candidate (e.g. NSGA-II's generation) and hands them back to
`replay` after a restart, so a resumed job continues the same search instead of starting over.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from core.errors import NasError
from core.objectives import Constraint, Objective, violations
from evaluators.base import Task
from search_spaces import Architecture, SearchSpace


@dataclass
class Proposal:
    """An architecture a strategy wants evaluated; ``attrs`` travel with it into the database."""

    arch: Architecture
    attrs: dict[str, Any] = field(default_factory=dict)
    key: int = -1  # the strategy's own handle (e.g. an Optuna trial number); not stored


@dataclass(frozen=True)
class Result:
    """What became of a proposal: its metrics, or None when evaluation failed."""

    metrics: Mapping[str, float] | None

    @property
    def ok(self) -> bool:
        return self.metrics is not None


@dataclass(frozen=True)
class Record:
    """A stored candidate, as `replay` sees it."""

    arch: Architecture
    result: Result
    attrs: Mapping[str, Any]


@dataclass(frozen=True)
class StrategyContext:
    """What the runner offers a strategy that does work of its own (a differentiable search):
    the job's ``task`` and data folders, a ``workdir`` kept across restarts of the job (for
    checkpoints), and ``report(phase, event)``, which sets the job's phase line and, with an
    event payload, appends a ``strategy`` event to the job's event stream."""

    job_id: str
    task: Task
    data_dirs: tuple[Path, ...]
    workdir: Path
    report: Callable[[str, dict[str, Any] | None], None]


class Strategy(ABC):
    """Proposes architectures of ``space`` to optimise ``objectives`` under ``constraints``.

    Contract: `ask(n)` returns at most ``n`` proposals (fewer, or none, when the strategy has
    nothing new to offer right now); every proposal gets exactly one `tell`, in any order, possibly
    after later asks. Proposals may repeat architectures already evaluated — the runner answers
    those from the database without re-evaluating. `replay(records)` is called once, before the
    first ask, with the job's stored candidates in evaluation order. Randomness comes from
    ``seed`` only. Options are keyword-only constructor arguments, validated at once.

    A strategy that works for a long time between proposals (one long trial) gets a
    `StrategyContext` through `bind` before `replay`; it does its work in chunks inside `ask`
    (returning no proposals until it has some), so the runner keeps checking cancellation and the
    wall-time budget between chunks. When it sets `finished`, the job ends once its proposals are
    stored, whatever budget is left.
    """

    name: ClassVar[str]

    def __init__(
        self,
        *,
        space: SearchSpace,
        objectives: Sequence[Objective],
        constraints: Sequence[Constraint] = (),
        seed: int = 0,
    ) -> None:
        if not objectives:
            raise NasError("a strategy needs at least one objective")
        self.space = space
        self.objectives = list(objectives)
        self.constraints = list(constraints)
        self.rng = np.random.default_rng(seed)
        self.seed = seed

    finished: bool = False  # True: nothing more to propose, ever

    @classmethod
    def num_cpus(cls, options: Mapping[str, Any]) -> float:
        """CPUs the job's runner holds for this strategy's own work (default 0: it only proposes;
        a strategy that trains, the DASS search, holds the CPUs its threads use)."""
        return 0.0

    def bind(self, context: StrategyContext) -> None:  # noqa: B027 - optional hook
        """The job's context, before `replay` (default: not needed)."""

    @abstractmethod
    def ask(self, n: int) -> list[Proposal]:
        """Up to ``n`` proposals."""

    @abstractmethod
    def tell(self, proposal: Proposal, result: Result) -> None:
        """The result of one earlier proposal."""

    def replay(self, records: Sequence[Record]) -> None:
        """Rebuild state from stored candidates (default: tell them as if just evaluated)."""
        for record in records:
            self.tell(Proposal(record.arch, dict(record.attrs)), record.result)

    # helpers shared by implementations
    def losses(self, metrics: Mapping[str, float]) -> list[float]:
        """Objective values with smaller-is-better signs."""
        return [o.sign * float(metrics[o.metric]) for o in self.objectives]

    def violation(self, metrics: Mapping[str, float]) -> float:
        return float(sum(violations(metrics, self.constraints)))
