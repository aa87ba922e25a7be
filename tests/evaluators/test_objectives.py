"""Objectives and constraints."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from core.errors import NasError
from core.objectives import Constraint, Objective, loss_matrix, violations


def test_objective_defaults_follow_the_metric() -> None:
    assert Objective(metric="accuracy").direction == "max"
    assert Objective(metric="latency_ms").evaluator == "latency_lut"
    assert Objective(metric="params", direction="max").sign == -1.0
    with pytest.raises(ValidationError, match="unknown metric 'speed'"):
        Objective(metric="speed")


def test_constraints_parse_and_measure_violation() -> None:
    c = Constraint.parse("latency_ms <= 15")
    assert (c.metric, c.op, c.bound, str(c)) == ("latency_ms", "<=", 15.0, "latency_ms <= 15")
    assert c.violation(12) == 0 and c.violation(18) == 3
    low = Constraint.parse("accuracy >= 0.9")
    assert low.violation(0.95) == 0 and low.violation(0.8) == pytest.approx(0.1)
    assert violations({"accuracy": 0.5}, [c, low]) == [float("inf"), pytest.approx(0.4)]
    for bad, msg in [("latency < 3", "write it as"), ("speed <= 3", "unknown metric"), ("params <= 1e999", "finite")]:
        with pytest.raises(NasError, match=msg):
            Constraint.parse(bad)


def test_loss_matrix_negates_maximised_metrics() -> None:
    objectives = [Objective(metric="accuracy"), Objective(metric="params")]
    assert loss_matrix([{"accuracy": 0.9, "params": 5.0}], objectives).tolist() == [[-0.9, 5.0]]
