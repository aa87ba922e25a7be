"""Architecture -> metrics: the evaluator contract, objectives, Pareto fronts and the evaluators.

Evaluators are looked up by name in `EVALUATORS`.
"""

from __future__ import annotations

from core.registry import Registry
from evaluators.base import Evaluator, Outcome, Task

EVALUATORS: Registry[type[Evaluator]] = Registry(
    "evaluator",
    {
        "cost": "evaluators.cost:CostEvaluator",
        "latency_lut": "evaluators.latency_lut:LatencyLutEvaluator",
        "predictor": "evaluators.predicted:PredictorEvaluator",
        "sparse_train": "evaluators.dass.sparse_train:SparseTrainEvaluator",
        "supernet": "evaluators.supernet.evaluator:SupernetEvaluator",
        "tabular": "evaluators.tabular:TabularEvaluator",
        "train": "evaluators.scratch:TrainEvaluator",
        "zero_cost": "evaluators.zero_cost:ZeroCostEvaluator",
    },
)

__all__ = ["EVALUATORS", "Evaluator", "Outcome", "Task"]
