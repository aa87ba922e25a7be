"""Parameters and MACs, computed exactly from the space's layer list (no model is built)."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from evaluators.base import Evaluator, Task
from search_spaces import get_space

if TYPE_CHECKING:
    from search_spaces import Architecture


class CostEvaluator(Evaluator):
    """``params`` and ``macs`` of each architecture for the task's input shape."""

    name: ClassVar[str] = "cost"
    produces: ClassVar[tuple[str, ...]] = ("params", "macs")

    def __init__(self, *, task: Task) -> None:
        self.task = task
        self.space = get_space(task.space)

    def evaluate_one(self, arch: Architecture) -> dict[str, float]:
        cost = self.space.cost(arch, **self.task.shape)
        return {"params": float(cost.params), "macs": float(cost.macs)}
