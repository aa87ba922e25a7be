"""Metrics from trained predictors (microseconds per candidate instead of seconds).

One saved predictor per metric; each is loaded once (a stale one — trained with other features
than the code computes — is refused) and must have been trained for the job's space and input
shape. A batch is featurised and predicted at once; the predicted mean is the metric.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import Field

from core.errors import NasError
from evaluators.base import Evaluator, EvaluatorOptions, Need, Outcome, Resolved, StoredArtifact, Task
from predictors import Predictor, load_predictor

if TYPE_CHECKING:
    from collections.abc import Sequence

    from search_spaces import Architecture


def check_predictor(predictor: Predictor, task: Task, where: str) -> None:
    """The predictor was trained for the task's space and input shape (else `NasError`)."""
    fz = predictor.featurizer
    if fz.space.name != task.space:
        raise NasError(f"predictor {where} is for space {fz.space.name}, not {task.space}")
    if fz.shape != task.shape:
        raise NasError(f"predictor {where} was trained for input shape {fz.shape}, the job needs {task.shape}")


class PredictorEvaluator(Evaluator):
    """``predictors`` maps each metric to a saved predictor folder (``ids``: their artifact ids)."""

    name: ClassVar[str] = "predictor"
    produces: ClassVar[tuple[str, ...] | None] = None
    needs: ClassVar[tuple[Need, ...]] = (
        StoredArtifact(
            kind="predictor",
            option="predictors",
            match=("space", "metric", "shape", "label"),
            path_arg="predictors",
            id_arg="ids",
            hint="nas predictor train --space {space} --metric {metric} ...",
            per_metric=True,
        ),
    )

    class Options(EvaluatorOptions):
        predictors: dict[str, str] = Field(
            default_factory=dict, description="Metric -> predictor id or name (default: the newest that fits)."
        )

    @classmethod
    def recipe(cls, job: Resolved) -> dict[str, Any]:
        """Refuses a stale or mismatched predictor here, on the runner, before any candidate."""
        for metric, path in job.resolved["predictors"].items():
            check_predictor(load_predictor(Path(path)), job.task, job.resolved["ids"][metric])
        return super().recipe(job)

    def __init__(self, *, task: Task, predictors: dict[str, str], ids: dict[str, str] | None = None) -> None:
        if not predictors:
            raise NasError("the predictor evaluator needs at least one predictor (metric -> saved predictor)")
        self.task, self.ids = task, dict(ids or {})
        self.models: dict[str, Predictor] = {}
        for metric, path in predictors.items():
            model = load_predictor(Path(path))
            check_predictor(model, task, self.ids.get(metric, path))
            if model.metric != metric:
                raise NasError(f"predictor {self.ids.get(metric, path)} predicts {model.metric}, not {metric}")
            self.models[metric] = model

    @property
    def metrics(self) -> tuple[str, ...]:
        return tuple(self.models)

    def evaluate_one(self, arch: Architecture) -> dict[str, float]:
        return {m: float(p.predict_archs([arch]).mean[0]) for m, p in self.models.items()}

    def evaluate(self, archs: Sequence[Architecture]) -> list[Outcome]:
        try:
            means = {m: p.predict_archs(list(archs)).mean for m, p in self.models.items()}
        except Exception:  # one bad architecture: fall back to one at a time, each with its reason
            return super().evaluate(archs)
        return [Outcome({m: float(v[i]) for m, v in means.items()}) for i in range(len(archs))]

    def provenance(self) -> dict[str, Any]:
        return {
            "evaluator": self.name,
            "predictors": {
                m: {
                    "id": self.ids.get(m, ""),
                    "kind": p.kind,
                    "n_train": p.n_train,
                    "feature_version": p.featurizer.version,
                    "cv_kendall_tau": (p.cv or {}).get("mean", {}).get("kendall_tau"),
                }
                for m, p in self.models.items()
            },
        }
