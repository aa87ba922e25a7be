"""Jobs: submit (idempotent), list, read, cancel, progress stream, candidates, Pareto front."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Header, HTTPException, Query, Request, Response, status
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from fastapi.sse import EventSourceResponse, ServerSentEvent

from core.errors import NasError
from core.metrics import METRICS
from core.spec import JobSpec
from service.api.deps import MAX_ROW, DbDep, Offset, PrincipalDep, Seq, SessionDep
from service.schemas import (
    CandidateLayers,
    CandidatePoints,
    CandidatePublic,
    CandidatesPublic,
    FinalistsPublic,
    FrontHistory,
    FrontPoint,
    FrontPublic,
    JobPublic,
    JobsPublic,
)
from service.views import candidate_public, finalists_public, front_public, job_public, layers_public
from store import jobs as repo
from workers.evaluation import check_runnable, device_defaults, supernet_defaults

router = APIRouter(prefix="/jobs", tags=["jobs"])


@router.post("", status_code=status.HTTP_201_CREATED, responses={200: {"model": JobPublic}})
def create_job(
    spec: JobSpec,
    session: SessionDep,
    principal: PrincipalDep,
    response: Response,
    idempotency_key: Annotated[str | None, Header(max_length=200)] = None,
) -> JobPublic:
    """Store a job (committed before the 201). A repeated Idempotency-Key returns the same job (200).
    On an external device with an onboarded predictor and no latency table, ``latency_ms`` comes
    from the predictor unless the objective names its evaluator; a job scored by a supernet trained at
    one setting of its space holds those genes (``fixed``)."""
    spec = supernet_defaults(session, device_defaults(session, spec))
    check_runnable(session, spec)
    job, created = repo.create_job(
        session,
        spec=spec.model_dump(mode="json"),
        spec_hash=spec.digest(),
        budget=spec.budget.candidates,
        name=spec.name,
        idempotency_key=idempotency_key,
        owner=principal.key_id,
    )
    session.commit()
    if not created:
        response.status_code = status.HTTP_200_OK
    response.headers["Location"] = f"/api/jobs/{job.id}"
    return job_public(session, job)


@router.get("")
def list_jobs(
    session: SessionDep,
    state: Literal["queued", "running", "succeeded", "failed", "cancelled"] | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Offset = 0,
) -> JobsPublic:
    rows, count = repo.list_jobs(session, state=state, limit=limit, offset=offset)
    return JobsPublic(data=[job_public(session, j) for j in rows], count=count)


@router.get("/{job_id}")
def get_job(job_id: str, session: SessionDep) -> JobPublic:
    return job_public(session, repo.get_job(session, job_id))


@router.delete("/{job_id}")
def cancel_job(job_id: str, session: SessionDep, principal: PrincipalDep) -> JobPublic:
    """Cancel: a queued job stops at once, a running one after its current batch. Repeating is
    harmless. A key cancels only the jobs it submitted, unless it is an admin key (403)."""
    owner = repo.get_job(session, job_id).owner
    if not principal.admin and owner != principal.key_id:
        raise repo.ForbiddenError(f"job {job_id} was submitted by another key; only it or an admin key cancels it")
    job = repo.request_cancel(session, job_id)
    session.commit()
    return job_public(session, job)


def event_cursor(
    job_id: str,
    session: SessionDep,
    last_event_id: Annotated[str | None, Header()] = None,
    after: Annotated[
        int | None, Query(ge=0, le=MAX_ROW, description="Resume after this event id (or send Last-Event-ID).")
    ] = None,
) -> int:
    """Where a stream resumes; an unknown job (404) or a bad cursor (422) is answered here, as a
    dependency, before the stream's 200 is sent."""
    repo.get_job(session, job_id)
    if after is not None:
        return after
    text = (last_event_id or "0").strip()
    if not text.isdigit() or int(text) > MAX_ROW:
        raise HTTPException(422, detail=f"Last-Event-ID must be a whole number from 0 to {MAX_ROW}, got {text!r}")
    return int(text)


@router.get("/{job_id}/events", response_class=EventSourceResponse)
async def job_events(
    job_id: str, request: Request, db: DbDep, cursor: Annotated[int, Depends(event_cursor)]
) -> AsyncIterator[ServerSentEvent]:
    """Progress as Server-Sent Events: ``state`` and ``progress`` events carry resumable ids;
    ``phase`` events (what the runner is doing, e.g. measuring a latency table) carry none."""

    def poll(cursor: int) -> tuple[list[tuple[int, str, dict]], str, str]:
        with db.session() as s:
            job = repo.get_job(s, job_id)
            rows = repo.events_after(s, job_id=job_id, after=cursor)
            return [(r.id, r.kind, r.payload) for r in rows], job.state, job.phase

    phase = None
    while True:
        rows, state, now = await run_in_threadpool(poll, cursor)
        if now != phase:
            phase = now
            yield ServerSentEvent(data={"kind": "phase", "phase": phase, "state": state}, event="phase")
        for event_id, kind, payload in rows:
            yield ServerSentEvent(data={"kind": kind, **payload}, event=kind, id=str(event_id))
            cursor = event_id
        if not rows and state in repo.FINAL:
            return
        if await request.is_disconnected():
            return
        await asyncio.sleep(0.3)


def _ranges(values: list[str]) -> dict[str, tuple[float | None, float | None]]:
    out: dict[str, tuple[float | None, float | None]] = {}
    for v in values:
        parts = v.split(":")
        if len(parts) != 3 or parts[0] not in METRICS:
            raise NasError(
                f"range {v!r}: write metric:min:max (either bound may be empty); metrics: {', '.join(METRICS)}"
            )
        try:
            out[parts[0]] = (float(parts[1]) if parts[1] else None, float(parts[2]) if parts[2] else None)
        except ValueError:
            raise NasError(f"range {v!r}: bounds must be numbers") from None
    return out


@router.get("/{job_id}/candidates")
def list_candidates(
    job_id: str,
    session: SessionDep,
    status_: Annotated[Literal["ok", "failed"] | None, Query(alias="status")] = None,
    feasible: bool | None = None,
    sort: Annotated[str, Query(description="seq or a metric name")] = "seq",
    order: Literal["asc", "desc"] = "asc",
    range_: Annotated[list[str], Query(alias="range", description="metric:min:max, repeatable")] = [],  # noqa: B006
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Offset = 0,
) -> CandidatesPublic:
    repo.get_job(session, job_id)
    if sort != "seq" and sort not in METRICS:
        raise NasError(f"sort: {sort!r} unknown; use seq or one of {', '.join(METRICS)}")
    rows, count = repo.list_candidates(
        session,
        job_id=job_id,
        status=status_,
        feasible=feasible,
        sort=sort,
        descending=order == "desc",
        ranges=_ranges(range_),
        limit=limit,
        offset=offset,
    )
    return CandidatesPublic(data=[candidate_public(c) for c in rows], count=count)


@router.get("/{job_id}/points", response_model=CandidatePoints)
def candidate_points(job_id: str, session: SessionDep) -> JSONResponse:
    """Every scored candidate's metrics as columns: what the dashboard plots (10,000 in one small response)."""
    repo.get_job(session, job_id)
    rows = repo.candidate_points(session, job_id)
    names = sorted({k for *_, metrics in rows for k in metrics})
    body = {
        "job_id": job_id,
        "count": len(rows),
        "seq": [r[0] for r in rows],
        "arch_id": [r[1] for r in rows],
        "feasible": [r[2] for r in rows],
        "metrics": {k: [r[3].get(k) for r in rows] for k in names},
    }
    return JSONResponse(body)  # built as the schema says; validating 10,000-long lists again costs more than the query


@router.get("/{job_id}/candidates/{seq}")
def get_candidate(job_id: str, seq: Seq, session: SessionDep) -> CandidatePublic:
    return candidate_public(repo.get_candidate(session, job_id=job_id, seq=seq))


@router.get("/{job_id}/candidates/{seq}/layers")
def get_layers(job_id: str, seq: Seq, session: SessionDep) -> CandidateLayers:
    """The candidate's network layer by layer (the dashboard draws it as stages or cells of blocks)."""
    job = repo.get_job(session, job_id)
    return layers_public(job, repo.get_candidate(session, job_id=job_id, seq=seq))


@router.get("/{job_id}/front")
def get_front(job_id: str, session: SessionDep) -> FrontPublic:
    """The current Pareto front (feasible, non-dominated candidates) and its hypervolume."""
    return front_public(session, repo.get_job(session, job_id))


@router.get("/{job_id}/finalists")
def get_finalists(job_id: str, session: SessionDep) -> FinalistsPublic:
    """Candidates trained from scratch after the search, and the cheap evaluator's Kendall tau on them."""
    return finalists_public(session, repo.get_job(session, job_id))


@router.get("/{job_id}/front/history")
def get_front_history(job_id: str, session: SessionDep) -> FrontHistory:
    """Hypervolume and front size after each batch."""
    repo.get_job(session, job_id)
    points = [
        FrontPoint(step=s.step, hypervolume=s.hypervolume, size=len(s.candidate_ids))
        for s in repo.front_history(session, job_id)
    ]
    return FrontHistory(job_id=job_id, points=points)
