"""The strategy contract: ask for architectures, tell their results, replay stored history.

Strategies speak plain values: no Ray, no database, no pickling. The runner stores whatever a
proposal's ``attrs`` hold with the candidate (e.g. NSGA-II's generation) and hands them back to
`replay` after a restart, so a resumed job continues the same search instead of starting over.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from evaluators.objectives import Constraint, Objective, violations
from search_spaces import Architecture, SearchSpace
from search_spaces.errors import NasError


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


class Strategy(ABC):
    """Proposes architectures of ``space`` to optimise ``objectives`` under ``constraints``.

    Contract: `ask(n)` returns at most ``n`` proposals (fewer, or none, when the strategy has
    nothing new to offer right now); every proposal gets exactly one `tell`, in any order, possibly
    after later asks. Proposals may repeat architectures already evaluated — the runner answers
    those from the database without re-evaluating. `replay(records)` is called once, before the
    first ask, with the job's stored candidates in evaluation order. Randomness comes from
    ``seed`` only. Options are keyword-only constructor arguments, validated at once.
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
