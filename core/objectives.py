"""Objectives and constraints: what a job optimises and what it must respect.

Metric names and their rules come from `core.metrics`. A constraint is a string such as
``"latency_ms <= 15"`` or ``"params <= 5e6"``; its violation is how far the metric lies outside
the bound (0 when satisfied), and a candidate is feasible when every violation is 0.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from core.errors import NasError
from core.metrics import METRICS, Direction

_CONSTRAINT = re.compile(r"^\s*([a-z_][a-z0-9_]*)\s*(<=|>=)\s*([-+0-9.eE]+)\s*$")


class Objective(BaseModel):
    """One metric to optimise; direction and evaluator default from the metric."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    metric: str = Field(description="A metric name (GET /api/metrics).")
    direction: Direction | None = Field(None, description="min or max (default: the metric's natural one).")
    evaluator: str | None = Field(None, description="Evaluator that produces the metric (default per metric).")

    @field_validator("metric")
    @classmethod
    def _known_metric(cls, v: str) -> str:
        if v not in METRICS:
            raise ValueError(f"unknown metric {v!r}; known: {', '.join(METRICS)}")
        return v

    @model_validator(mode="after")
    def _defaults(self) -> Objective:
        if self.direction is None:
            object.__setattr__(self, "direction", METRICS[self.metric].direction)
        if self.evaluator is None:
            object.__setattr__(self, "evaluator", METRICS[self.metric].default_evaluator)
        return self

    @property
    def sign(self) -> float:
        """+1 for minimised metrics, -1 for maximised ones (so that smaller is better after multiplying)."""
        return 1.0 if self.direction == "min" else -1.0


class Constraint(BaseModel):
    """``metric <= bound`` or ``metric >= bound``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    metric: str
    op: Literal["<=", ">="]
    bound: float

    @classmethod
    def parse(cls, text: str) -> Constraint:
        m = _CONSTRAINT.match(text)
        if not m:
            raise NasError(f"constraint {text!r}: write it as '<metric> <= <number>' or '<metric> >= <number>'")
        metric, op, bound = m.groups()
        if metric not in METRICS:
            raise NasError(f"constraint {text!r}: unknown metric {metric!r}; known: {', '.join(METRICS)}")
        try:
            value = float(bound)
        except ValueError:
            raise NasError(f"constraint {text!r}: {bound!r} is not a number") from None
        if not math.isfinite(value):
            raise NasError(f"constraint {text!r}: the bound must be finite")
        return cls(metric=metric, op=op, bound=value)  # type: ignore[arg-type]

    def violation(self, value: float) -> float:
        """How far ``value`` is outside the bound (0 when satisfied)."""
        return max(0.0, value - self.bound) if self.op == "<=" else max(0.0, self.bound - value)

    def __str__(self) -> str:  # round-trips exactly: 1234567 stays 1234567, 0.1 stays 0.1
        bound = int(self.bound) if self.bound.is_integer() and abs(self.bound) < 1e15 else repr(self.bound)
        return f"{self.metric} {self.op} {bound}"


def violations(metrics: Mapping[str, float], constraints: Sequence[Constraint]) -> list[float]:
    """One violation per constraint; a missing metric counts as infinitely violated."""
    return [c.violation(metrics[c.metric]) if c.metric in metrics else math.inf for c in constraints]


def loss_matrix(rows: Sequence[Mapping[str, float]], objectives: Sequence[Objective]) -> np.ndarray:
    """(n, k) array where smaller is better in every column (maximised metrics negated)."""
    return np.array([[o.sign * float(r[o.metric]) for o in objectives] for r in rows], dtype=float).reshape(
        len(rows), len(objectives)
    )
