"""Comparing the final fronts of several jobs against one reference point."""

from __future__ import annotations

from typing import Annotated

import numpy as np
from fastapi import APIRouter, Query

from core.errors import NasError
from evaluators.pareto import hypervolume
from service.api.deps import SessionDep
from service.schemas import FrontComparison
from service.views import front_public, objectives_of
from store import jobs as repo

router = APIRouter(prefix="/fronts", tags=["fronts"])


@router.get("/compare")
def compare(
    session: SessionDep,
    jobs: Annotated[str | None, Query(max_length=2000, description="Job ids, comma-separated.")] = None,
    job: Annotated[list[str], Query(max_length=20, description="A job id (repeatable).")] = [],  # noqa: B006
) -> FrontComparison:
    """Hypervolume of each job's current front against a common reference point: the worst of
    the jobs' own reference points. The jobs must share their objectives. Name them as
    ``?jobs=a,b`` or ``?job=a&job=b``."""
    ids = [*job, *(j.strip() for j in (jobs or "").split(",") if j.strip())]
    if not 1 <= len(ids) <= 20:
        raise NasError(f"jobs: name 1 to 20 jobs (?jobs=a,b or ?job=a&job=b), got {len(ids)}")
    jobs_ = [repo.get_job(session, j) for j in ids]
    objectives = objectives_of(jobs_[0])
    if any(objectives_of(j) != objectives for j in jobs_):
        raise NasError("fronts can be compared only between jobs with the same objectives")
    fronts = {j.id: front_public(session, j) for j in jobs_}
    signs = np.array([1.0 if o["direction"] == "min" else -1.0 for o in objectives])
    refs = [
        np.array([f.reference_point[o["metric"]] for o in objectives]) * signs
        for f in fronts.values()
        if f.reference_point
    ]
    if not refs:
        raise NasError("none of these jobs has a front yet")
    reference = np.max(refs, axis=0)
    volumes, sizes = {}, {}
    for job_id, front in fronts.items():
        pts = np.array([[m.metrics[o["metric"]] for o in objectives] for m in front.members if m.feasible]).reshape(
            -1, len(objectives)
        )
        volumes[job_id] = hypervolume(pts * signs, reference) if len(pts) else 0.0
        sizes[job_id] = len(front.members)
    ref_public = {o["metric"]: float(v * s) for o, v, s in zip(objectives, reference, signs, strict=True)}
    return FrontComparison(objectives=objectives, reference_point=ref_public, hypervolume=volumes, front_size=sizes)
