"""A pool of Ray actors that keep a job's evaluators warm and score batches in parallel.

Each actor constructs every evaluator of the job once (tables, weights, data) and then only
scores. A batch is split across the actors; per candidate the evaluators' metrics are merged,
and a candidate fails when any of its evaluators failed (with every reason kept).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import ray

from evaluators import EVALUATORS

if TYPE_CHECKING:
    from search_spaces import Architecture
    from workers.evaluation import Recipe


@dataclass
class Scored:
    """The merged result of all evaluators for one architecture."""

    metrics: dict[str, float] = field(default_factory=dict)
    provenance: dict[str, Any] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.errors


class EvaluatorWorker:
    """Holds constructed evaluators; `score` runs them all on a batch."""

    def __init__(self, recipes: list[Recipe]) -> None:
        self.evaluators = [(EVALUATORS.get(r.name)(**r.kwargs), r.metrics) for r in recipes]

    def score(self, archs: list[Architecture]) -> list[Scored]:
        out = [Scored() for _ in archs]
        for evaluator, metrics in self.evaluators:
            start = time.perf_counter()
            outcomes = evaluator.evaluate(archs)
            share = (time.perf_counter() - start) / max(1, len(archs))
            provenance = evaluator.provenance()
            for scored, outcome in zip(out, outcomes, strict=True):
                scored.seconds += outcome.seconds or share
                if not outcome.ok:
                    scored.errors.append(f"{evaluator.name}: {outcome.error}")
                    continue
                for metric in metrics:
                    if metric not in outcome.metrics:
                        scored.errors.append(f"{evaluator.name}: produced no {metric!r}")
                        continue
                    scored.metrics[metric] = float(outcome.metrics[metric])
                    scored.provenance[metric] = provenance
        return out

    def ping(self) -> bool:
        return True


class EvaluatorPool:
    """``size`` `EvaluatorWorker` actors; `score` splits a batch among them."""

    def __init__(self, recipes: list[Recipe], *, size: int, num_cpus: float = 1.0) -> None:
        remote = ray.remote(EvaluatorWorker).options(num_cpus=num_cpus, max_restarts=0)
        self.actors = [remote.remote(recipes) for _ in range(max(1, size))]
        ray.get([a.ping.remote() for a in self.actors])  # surface construction errors now

    def score(self, archs: list[Architecture]) -> list[Scored]:
        if not archs:
            return []
        k = min(len(self.actors), len(archs))
        size = -(-len(archs) // k)
        chunks = [archs[i : i + size] for i in range(0, len(archs), size)]
        refs = [actor.score.remote(chunk) for actor, chunk in zip(self.actors, chunks, strict=False)]
        return [s for part in ray.get(refs) for s in part]

    def close(self) -> None:
        for actor in self.actors:
            ray.kill(actor)
        self.actors = []
