"""Jobs, candidates, fronts and events: the durable queue and the record of every result.

The job row is a state machine with a lease: ``queued -> running -> succeeded | failed |
cancelled``. A runner owns a running job while its lease is fresh; every write it makes checks
that it still owns the lease, in the same transaction, so a runner presumed dead can never write
after another took over. Candidates are unique per (job, architecture) and per (job, sequence
number): a result is stored exactly once.
"""

from __future__ import annotations

import uuid
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.exc import IntegrityError

from core.errors import NasError
from store import models as m

if TYPE_CHECKING:
    from collections.abc import Sequence

    from sqlalchemy.orm import Session

ACTIVE = ("queued", "running")
FINAL = ("succeeded", "failed", "cancelled")


class NotFoundError(NasError):
    """No such job or candidate."""


class ConflictError(NasError):
    """A request that contradicts stored state (e.g. an idempotency key reused with another body)."""


class ForbiddenError(NasError):
    """The request's key may not act on this resource (another key's job)."""


class LeaseLostError(NasError):
    """The runner no longer owns the job (another runner took over, or it was cancelled)."""


def now() -> datetime:
    return datetime.now(UTC)


def new_id() -> str:
    return uuid.uuid4().hex


# -- jobs ---------------------------------------------------------------------------------------
def create_job(
    session: Session,
    *,
    spec: dict[str, Any],
    spec_hash: str,
    budget: int,
    name: str | None,
    idempotency_key: str | None,
    owner: str | None = None,
) -> tuple[m.Job, bool]:
    """Insert a queued job; returns (job, created). A repeated idempotency key returns the first
    job when the spec is the same and raises `ConflictError` when it differs."""
    if idempotency_key is not None:
        existing = session.scalars(select(m.Job).where(m.Job.idempotency_key == idempotency_key)).first()
        if existing is not None:
            return _same_spec(existing, spec_hash), False
    job = m.Job(
        id=new_id(),
        name=name,
        spec=spec,
        spec_hash=spec_hash,
        idempotency_key=idempotency_key,
        owner=owner,
        state="queued",
        budget=budget,
        evaluated=0,
        failed=0,
        phase="queued",
    )
    try:
        with session.begin_nested():
            session.add(job)
            session.flush()
    except IntegrityError:  # a concurrent request with the same key won the race
        existing = session.scalars(select(m.Job).where(m.Job.idempotency_key == idempotency_key)).one()
        return _same_spec(existing, spec_hash), False
    add_event(session, job_id=job.id, kind="state", payload={"state": "queued"})
    return job, True


def _same_spec(job: m.Job, spec_hash: str) -> m.Job:
    if job.spec_hash != spec_hash:
        raise ConflictError(f"Idempotency-Key already used for job {job.id} with a different spec")
    return job


def get_job(session: Session, job_id: str) -> m.Job:
    job = session.get(m.Job, job_id)
    if job is None:
        raise NotFoundError(f"no job {job_id!r}")
    return job


def list_jobs(
    session: Session, *, state: str | None = None, limit: int = 50, offset: int = 0
) -> tuple[list[m.Job], int]:
    query = select(m.Job)
    if state is not None:
        query = query.where(m.Job.state == state)
    count = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.scalars(query.order_by(m.Job.created_at.desc()).limit(limit).offset(offset))
    return list(rows), count


def claim_job(session: Session, *, job_id: str, owner: str, ttl: float) -> bool:
    """Atomically take a queued job, or a running one whose lease expired."""
    t = now()
    result = session.execute(
        update(m.Job)
        .where(
            m.Job.id == job_id,
            m.Job.cancel_requested.is_(False),
            or_(m.Job.state == "queued", and_(m.Job.state == "running", m.Job.lease_expires_at < t)),
        )
        .values(
            state="running",
            lease_owner=owner,
            lease_expires_at=t + timedelta(seconds=ttl),
            attempt=m.Job.attempt + 1,
            started_at=func.coalesce(m.Job.started_at, t),
            updated_at=t,
        )
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        return False
    add_event(session, job_id=job_id, kind="state", payload={"state": "running", "owner": owner})
    return True


def renew_lease(session: Session, *, job_id: str, owner: str, ttl: float, phase: str | None = None) -> bool:
    """Extend the lease; False when the runner no longer owns the job."""
    values: dict[str, Any] = {"lease_expires_at": now() + timedelta(seconds=ttl), "updated_at": now()}
    if phase is not None:
        values["phase"] = phase[:200]
    result = session.execute(
        update(m.Job)
        .where(m.Job.id == job_id, m.Job.lease_owner == owner, m.Job.state == "running")
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1  # type: ignore[attr-defined]


def runnable_jobs(session: Session, *, limit: int) -> list[str]:
    """Queued jobs and running jobs with an expired lease, oldest first."""
    rows = session.scalars(
        select(m.Job.id)
        .where(
            m.Job.cancel_requested.is_(False),
            or_(m.Job.state == "queued", and_(m.Job.state == "running", m.Job.lease_expires_at < now())),
        )
        .order_by(m.Job.created_at)
        .limit(limit)
    )
    return list(rows)


def queue_position(session: Session, job: m.Job) -> int | None:
    """A queued job's place in the line (1: next to start; oldest first, as the scheduler starts them)."""
    if job.state != "queued" or job.cancel_requested:
        return None
    ahead = select(func.count()).where(
        m.Job.state == "queued", m.Job.cancel_requested.is_(False), m.Job.created_at < job.created_at
    )
    return int(session.scalar(ahead) or 0) + 1


def running_count(session: Session) -> int:
    return session.scalar(select(func.count()).where(m.Job.state == "running", m.Job.lease_expires_at >= now())) or 0


def fail_exhausted(session: Session, *, max_attempts: int) -> list[str]:
    """Fail running jobs whose lease expired after ``max_attempts`` runner attempts."""
    rows = list(
        session.scalars(
            select(m.Job).where(m.Job.state == "running", m.Job.lease_expires_at < now(), m.Job.attempt >= max_attempts)
        )
    )
    for job in rows:
        _finish(session, job, "failed", f"the runner stopped responding {job.attempt} times; giving up")
    return [j.id for j in rows]


def request_cancel(session: Session, job_id: str) -> m.Job:
    """Cancel a job: queued jobs stop at once, running ones at their next batch. Idempotent."""
    job = get_job(session, job_id)
    if job.state in FINAL:
        return job
    job.cancel_requested = True
    if job.state == "queued" or (job.lease_expires_at is not None and job.lease_expires_at < now()):
        _finish(session, job, "cancelled", None)
    else:
        add_event(session, job_id=job.id, kind="cancel_requested", payload={})
    return job


def finish_job(session: Session, *, job_id: str, owner: str, state: str, error: str | None = None) -> None:
    job = get_job(session, job_id)
    if job.lease_owner != owner or job.state != "running":
        raise LeaseLostError(f"job {job_id}: lease lost before finishing")
    _finish(session, job, state, error)


def _finish(session: Session, job: m.Job, state: str, error: str | None) -> None:
    job.state, job.error, job.finished_at, job.lease_owner, job.lease_expires_at = state, error, now(), None, None
    job.phase = state
    add_event(session, job_id=job.id, kind="state", payload={"state": state, "error": error})


# -- candidates ----------------------------------------------------------------------------------
@dataclass
class CandidateRow:
    arch_id: str
    arch: dict[str, Any]
    status: str
    metrics: dict[str, float] = field(default_factory=dict)
    provenance: dict[str, Any] = field(default_factory=dict)
    feasible: bool = True
    violation: float = 0.0
    error: str | None = None
    strategy_attrs: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0


@dataclass
class FrontUpdate:
    step: int
    hypervolume: float
    reference_point: list[float]
    members: list[int]  # sequence numbers


def record_batch(
    session: Session,
    *,
    job_id: str,
    owner: str,
    ttl: float,
    rows: Sequence[CandidateRow],
    front: FrontUpdate | None,
    phase: str,
) -> list[int]:
    """Store a batch of results, the new front and a progress event in one transaction, only
    while ``owner`` holds the lease. Returns the sequence numbers given to the rows."""
    job = session.scalars(select(m.Job).where(m.Job.id == job_id).with_for_update()).one()
    if job.lease_owner != owner or job.state != "running":
        raise LeaseLostError(f"job {job_id}: lease lost")
    first = job.evaluated
    seqs = list(range(first, first + len(rows)))
    session.add_all(
        m.Candidate(
            job_id=job_id,
            seq=seq,
            arch_id=r.arch_id,
            arch=r.arch,
            status=r.status,
            metrics=r.metrics,
            provenance=r.provenance,
            feasible=r.feasible,
            violation=r.violation,
            error=r.error,
            strategy_attrs=r.strategy_attrs,
            seconds=r.seconds,
        )
        for seq, r in zip(seqs, rows, strict=True)
    )
    n_failed = sum(r.status != "ok" for r in rows)
    job.evaluated, job.failed, job.phase = first + len(rows), job.failed + n_failed, phase
    job.lease_expires_at, job.updated_at = now() + timedelta(seconds=ttl), now()
    payload: dict[str, Any] = {
        "evaluated": job.evaluated,
        "budget": job.budget,
        "failed": job.failed,
        "arch_ids": [r.arch_id for r in rows],
    }
    if front is not None:
        session.add(
            m.FrontSnapshot(
                job_id=job_id,
                step=front.step,
                hypervolume=front.hypervolume,
                reference_point=front.reference_point,
                candidate_ids=front.members,
            )
        )
        payload.update(hypervolume=front.hypervolume, front=front.members)
    add_event(session, job_id=job_id, kind="progress", payload=payload)
    return seqs


@dataclass
class FinalistRow:
    seq: int
    arch_id: str
    metric: str
    cheap: float
    accuracy: float | None
    epochs: int
    stopped_early: bool
    seconds: float
    weights: str | None = None
    error: str | None = None


def record_finalist(session: Session, *, job_id: str, owner: str, ttl: float, row: FinalistRow, phase: str) -> None:
    """Store one trained finalist (once: a resumed runner skips those stored), only while
    ``owner`` holds the lease, with a ``finalist`` event."""
    job = session.scalars(select(m.Job).where(m.Job.id == job_id).with_for_update()).one()
    if job.lease_owner != owner or job.state != "running":
        raise LeaseLostError(f"job {job_id}: lease lost")
    session.add(m.Finalist(job_id=job_id, **asdict(row)))
    job.phase, job.lease_expires_at, job.updated_at = phase, now() + timedelta(seconds=ttl), now()
    add_event(session, job_id=job_id, kind="finalist", payload=asdict(row))


def get_finalist(session: Session, *, job_id: str, seq: int) -> m.Finalist | None:
    return session.scalars(select(m.Finalist).where(m.Finalist.job_id == job_id, m.Finalist.seq == seq)).first()


def finalists(session: Session, job_id: str) -> list[m.Finalist]:
    """A job's finalists in the order of their candidates."""
    return list(session.scalars(select(m.Finalist).where(m.Finalist.job_id == job_id).order_by(m.Finalist.seq)))


def all_candidates(session: Session, job_id: str) -> list[m.Candidate]:
    """Every candidate of a job in evaluation order (replay on resume)."""
    return list(session.scalars(select(m.Candidate).where(m.Candidate.job_id == job_id).order_by(m.Candidate.seq)))


def candidate_points(session: Session, job_id: str) -> list[tuple[int, str, bool, dict[str, float]]]:
    """(seq, arch_id, feasible, metrics) of every scored candidate, in order: what a plot needs."""
    c = m.Candidate
    query = select(c.seq, c.arch_id, c.feasible, c.metrics).where(c.job_id == job_id, c.status == "ok")
    return [tuple(r) for r in session.execute(query.order_by(c.seq))]  # type: ignore[misc]


def get_candidate(session: Session, *, job_id: str, seq: int) -> m.Candidate:
    row = session.scalars(select(m.Candidate).where(m.Candidate.job_id == job_id, m.Candidate.seq == seq)).first()
    if row is None:
        raise NotFoundError(f"job {job_id} has no candidate {seq}")
    return row


def list_candidates(
    session: Session,
    *,
    job_id: str,
    status: str | None = None,
    feasible: bool | None = None,
    sort: str = "seq",
    descending: bool = False,
    ranges: dict[str, tuple[float | None, float | None]] | None = None,
    seqs: Sequence[int] | None = None,
    limit: int = 100,
    offset: int = 0,
) -> tuple[list[m.Candidate], int]:
    """Filter (status, feasibility, metric ranges, explicit members), sort by ``seq`` or a metric, paginate."""
    query = select(m.Candidate).where(m.Candidate.job_id == job_id)
    if status is not None:
        query = query.where(m.Candidate.status == status)
    if feasible is not None:
        query = query.where(m.Candidate.feasible.is_(feasible))
    if seqs is not None:
        query = query.where(m.Candidate.seq.in_(list(seqs)))
    for metric, (lo, hi) in (ranges or {}).items():
        value = _metric(metric)
        if lo is not None:
            query = query.where(value >= lo)
        if hi is not None:
            query = query.where(value <= hi)
    count = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    key = m.Candidate.seq if sort == "seq" else _metric(sort)
    order = key.desc() if descending else key.asc()
    rows = session.scalars(query.order_by(order.nulls_last(), m.Candidate.seq).limit(limit).offset(offset))
    return list(rows), count


def _metric(name: str) -> Any:
    """A metric of the JSON column as a float, portable across SQLite and PostgreSQL."""
    return m.Candidate.metrics[name].as_float()


# -- fronts and events -------------------------------------------------------------------------
def latest_front(session: Session, job_id: str) -> m.FrontSnapshot | None:
    return session.scalars(
        select(m.FrontSnapshot).where(m.FrontSnapshot.job_id == job_id).order_by(m.FrontSnapshot.step.desc()).limit(1)
    ).first()


def front_history(session: Session, job_id: str) -> list[m.FrontSnapshot]:
    return list(
        session.scalars(select(m.FrontSnapshot).where(m.FrontSnapshot.job_id == job_id).order_by(m.FrontSnapshot.step))
    )


def add_event(session: Session, *, job_id: str, kind: str, payload: dict[str, Any]) -> None:
    session.add(m.JobEvent(job_id=job_id, kind=kind, payload=payload))


def events_after(session: Session, *, job_id: str, after: int, limit: int = 500) -> list[m.JobEvent]:
    return list(
        session.scalars(
            select(m.JobEvent)
            .where(m.JobEvent.job_id == job_id, m.JobEvent.id > after)
            .order_by(m.JobEvent.id)
            .limit(limit)
        )
    )
