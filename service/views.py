"""Turning stored rows into API models (shared by the JSON routes and the dashboard)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from core.spec import JobSpec
from search_spaces import Architecture, get_space
from service.schemas import (
    CandidateLayers,
    CandidatePublic,
    Fidelity,
    FinalistPublic,
    FinalistsPublic,
    FrontPublic,
    JobPublic,
    Layer,
)
from store import jobs as repo
from workers.finalists import choose, fidelity

if TYPE_CHECKING:
    from store import models as m
    from store.session import Session


def summary(arch: dict) -> str:
    """A one-line description of an architecture (for tables and hover labels)."""
    try:
        value = Architecture.from_dict(arch, validate=False)
        return get_space(value.space).summary(value)
    except Exception:
        return " | ".join(arch.get("genome", []))


def candidate_public(c: m.Candidate) -> CandidatePublic:
    return CandidatePublic(
        job_id=c.job_id,
        seq=c.seq,
        arch_id=c.arch_id,
        arch=c.arch,
        summary=summary(c.arch),
        status=c.status,
        metrics=c.metrics,
        provenance=c.provenance,
        feasible=c.feasible,
        violation=c.violation,
        error=c.error,
        seconds=c.seconds,
        created_at=c.created_at,
    )


def layers_public(job: m.Job, c: m.Candidate) -> CandidateLayers:
    """The candidate's layers at the job's task shape (the space's own list: no model is built)."""
    spec = parse_spec(job)
    space, shape = get_space(spec.space), spec.task.shape
    arch = space.from_genome(c.arch["genome"])
    layers = []
    for op in space.ops(arch, **shape):
        cost = op.cost()
        fields = {k: getattr(op, k) for k in ("name", "kind", "c_in", "c_out", "hw", "kernel", "stride", "expansion")}
        layers.append(Layer(**fields, se=op.se, skip=op.skip, attrs=dict(op.attrs), params=cost.params, macs=cost.macs))
    return CandidateLayers(job_id=job.id, seq=c.seq, shape=shape, layers=layers)


def objectives_of(job: m.Job) -> list[dict[str, str]]:
    return [{"metric": o["metric"], "direction": o["direction"]} for o in job.spec["objectives"]]


def front_public(session: Session, job: m.Job) -> FrontPublic:
    snap = repo.latest_front(session, job.id)
    objectives = objectives_of(job)
    if snap is None:
        return FrontPublic(
            job_id=job.id, step=0, hypervolume=0.0, objectives=objectives, reference_point={}, members=[]
        )
    members, _ = repo.list_candidates(
        session, job_id=job.id, seqs=snap.candidate_ids, limit=len(snap.candidate_ids) or 1
    )
    ref = {
        o["metric"]: (v if o["direction"] == "min" else -v)
        for o, v in zip(objectives, snap.reference_point, strict=False)
    }
    return FrontPublic(
        job_id=job.id,
        step=snap.step,
        hypervolume=snap.hypervolume,
        hypervolume_share=_share(snap.hypervolume, snap.reference_point, objectives, members),
        objectives=objectives,
        reference_point=ref,
        members=[candidate_public(c) for c in members],
    )


def _share(hv: float, reference: list[float], objectives: list[dict[str, str]], members: list) -> float | None:
    """``hv`` over the volume of the box from the front's ideal point (its best value of each
    objective) to the reference point, both as losses; None where the box is empty."""
    feasible = [c for c in members if c.feasible and c.status == "ok"]
    if not feasible or len(reference) != len(objectives):
        return None
    signs = [1.0 if o["direction"] == "min" else -1.0 for o in objectives]
    ideal = [min(s * c.metrics[o["metric"]] for c in feasible) for s, o in zip(signs, objectives, strict=True)]
    box = 1.0
    for r, i in zip(reference, ideal, strict=True):
        box *= r - i
    return round(hv / box, 6) if box > 0 else None


def job_public(session: Session, job: m.Job) -> JobPublic:
    front = front_public(session, job)
    best: dict[str, float] = {}
    feasible = [c for c in front.members if c.feasible]
    for o in front.objectives:
        values = [c.metrics[o["metric"]] for c in feasible if o["metric"] in c.metrics]
        if values:
            best[o["metric"]] = min(values) if o["direction"] == "min" else max(values)
    return JobPublic(
        id=job.id,
        name=job.name,
        state=job.state,
        phase=job.phase,
        error=job.error,
        budget=job.budget,
        evaluated=job.evaluated,
        failed=job.failed,
        progress=min(1.0, job.evaluated / job.budget) if job.budget else 0.0,
        attempt=job.attempt,
        queue_position=repo.queue_position(session, job),
        owner=job.owner,
        cancel_requested=job.cancel_requested,
        created_at=job.created_at,
        started_at=job.started_at,
        finished_at=job.finished_at,
        updated_at=job.updated_at,
        hypervolume=front.hypervolume if front.step else None,
        front_size=len(front.members),
        best=best,
        spec=job.spec,
    )


def finalists_public(session: Session, job: m.Job) -> FinalistsPublic:
    spec = parse_spec(job)
    rows = repo.finalists(session, job.id)
    f = spec.finalists
    if f is None:
        return FinalistsPublic(job_id=job.id, metric=None, chosen=0, fidelity=Fidelity(**fidelity([], 1.0)), data=[])
    sign = -next(o.sign for o in spec.objectives if o.metric == f.metric)  # +1: higher is better
    snap = repo.latest_front(session, job.id)
    chosen = len(choose(repo.all_candidates(session, job.id), snap.candidate_ids if snap else [], spec))
    return FinalistsPublic(
        job_id=job.id,
        metric=f.metric,
        chosen=chosen,
        fidelity=Fidelity(**fidelity(rows, sign)),
        data=[
            FinalistPublic(
                **{k: getattr(r, k) for k in FinalistPublic.model_fields if k != "trained_weights"},
                trained_weights=r.weights is not None,
            )
            for r in rows
        ],
    )


def parse_spec(job: m.Job) -> JobSpec:
    return JobSpec.model_validate(job.spec)
