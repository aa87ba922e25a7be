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
from ray.exceptions import GetTimeoutError, RayActorError

from core.errors import NasError
from evaluators import EVALUATORS
from workers import threads

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
    """Holds constructed evaluators; `score` runs them all on a batch. It runs as many torch
    threads as the CPUs its actor holds (`workers/threads.py`)."""

    def __init__(self, recipes: list[Recipe], num_cpus: float = 1.0) -> None:
        threads.apply(num_cpus)
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

    def thread_report(self) -> dict[str, Any]:
        return threads.report()


def cpus_for(recipes: list[Recipe]) -> float:
    """CPUs one pool actor holds: the most threads any of its evaluators asks for (default 1)."""
    return float(max([1, *(int(r.kwargs.get("threads") or 1) for r in recipes)]))


class EvaluatorPool:
    """Up to ``size`` `EvaluatorWorker` actors of ``num_cpus`` CPUs each (default: `cpus_for` the
    recipes), as many as the cluster's free CPUs hold (at least one); `score` splits a batch
    among them. Every wait has a deadline: actors that cannot start within ``start_timeout``
    seconds fail the pool with the reason; an actor's share of a batch that takes longer than
    ``candidate_timeout`` seconds per candidate, or whose actor dies, is returned as failed
    candidates with the reason and the actor is replaced, so the job goes on."""

    def __init__(
        self,
        recipes: list[Recipe],
        *,
        size: int,
        num_cpus: float | None = None,
        start_timeout: float = 600.0,
        candidate_timeout: float = 3600.0,
    ) -> None:
        self.recipes, self.start_timeout, self.candidate_timeout = recipes, start_timeout, candidate_timeout
        self.cpus = cpus_for(recipes) if num_cpus is None else num_cpus
        free = ray.available_resources().get("CPU", 0.0)
        size = max(1, min(size, int(free // self.cpus) if self.cpus > 0 else size))
        self.remote = ray.remote(EvaluatorWorker).options(**threads.actor_options(self.cpus), max_restarts=0)
        self.actors = [self.remote.remote(recipes, self.cpus) for _ in range(size)]
        self.stopped: set[int] = set()
        self._started(self.actors)

    def _started(self, actors: list[Any]) -> None:
        """Wait for ``actors`` to be placed and built (surfacing construction errors now)."""
        try:
            ray.get([a.ping.remote() for a in actors], timeout=self.start_timeout)
        except GetTimeoutError:
            self.close()
            total = ray.cluster_resources().get("CPU", 0.0)
            raise NasError(
                f"evaluator pool: {len(actors)} actors of {self.cpus:g} CPUs each did not start within "
                f"{self.start_timeout:g} s; the cluster has {total:g} CPUs (lower pool_size or the evaluators' threads)"
            ) from None

    def score(self, archs: list[Architecture], until: float | None = None) -> list[Scored | None]:
        """Each architecture's merged result, in order. With ``until`` (a `time.time()`), shares
        still running then are stopped (their actors killed) and their entries are None."""
        if not archs:
            return []
        for i in sorted(self.stopped):
            self._replace(i)
        self.stopped.clear()
        k = min(len(self.actors), len(archs))
        size = -(-len(archs) // k)
        chunks = [archs[i : i + size] for i in range(0, len(archs), size)]
        refs = [actor.score.remote(chunk) for actor, chunk in zip(self.actors, chunks, strict=False)]
        deadline = self.candidate_timeout * size
        wait = deadline if until is None else max(0.0, min(deadline, until - time.time()))
        ready, _ = ray.wait(refs, num_returns=len(refs), timeout=wait)
        out: list[Scored | None] = []
        for i, (ref, chunk) in enumerate(zip(refs, chunks, strict=True)):
            if ref in ready:
                try:
                    out.extend(ray.get(ref))
                    continue
                except RayActorError as e:
                    reason = f"its evaluator actor died ({type(e).__name__}); the actor was replaced"
            elif wait < deadline:  # the caller's time ran out first: not a failure of these candidates
                ray.kill(self.actors[i])
                self.stopped.add(i)  # replaced when the pool is next asked to score
                out.extend([None] * len(chunk))
                continue
            else:
                reason = (
                    f"not evaluated within {deadline:g} s ({len(chunk)} candidates x candidate_timeout_s "
                    f"{self.candidate_timeout:g}); the evaluator actor was replaced"
                )
            self._replace(i)
            out.extend(Scored(errors=[reason]) for _ in chunk)
        return out

    def _replace(self, i: int) -> None:
        ray.kill(self.actors[i])
        self.actors[i] = self.remote.remote(self.recipes, self.cpus)
        self._started([self.actors[i]])

    def close(self) -> None:
        for actor in self.actors:
            ray.kill(actor)
        self.actors = []
