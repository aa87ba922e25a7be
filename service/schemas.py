"""Response models of the REST API (requests use `core.spec.JobSpec` directly)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field


class ErrorPublic(BaseModel):
    """Every 4xx/503 body: one line naming the field and what is allowed, and the details."""

    message: str | None = None
    detail: Any = None


ERRORS: dict[int | str, dict[str, Any]] = {
    # JSON on every route, the event stream's too (its errors come before the stream starts)
    code: {
        "model": ErrorPublic,
        "description": what,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorPublic"}}},
    }
    for code, what in {
        400: "A body that is not JSON (or not UTF-8)",
        401: "No API key where one is needed",
        403: "A wrong or revoked key, or another key's job",
        404: "No such resource",
        409: "An Idempotency-Key reused with another body",
        413: "Body too large",
        422: "Bad input: the message names the field and the allowed values",
        503: "The database is unreachable",
    }.items()
}


class JobPublic(BaseModel):
    id: str
    name: str | None
    state: str = Field(description="queued, running, succeeded, failed or cancelled")
    phase: str = Field(description="What the runner is doing now.")
    error: str | None
    budget: int
    evaluated: int
    failed: int
    progress: float = Field(description="evaluated / budget, in [0, 1].")
    attempt: int
    queue_position: int | None = Field(None, description="A queued job's place in the line (1: starts next).")
    owner: str | None = Field(description="The id of the API key that submitted it (service: the service's own).")
    cancel_requested: bool
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    updated_at: datetime
    hypervolume: float | None
    front_size: int
    best: dict[str, float] = Field(description="Best value of each objective on the current front.")
    spec: dict[str, Any]


class Fidelity(BaseModel):
    n: int = Field(description="Finalists that measured an accuracy (the tau's sample).")
    trained: int = Field(description="Finalists stored (some stopped early by ASHA, or failed).")
    kendall_tau: float | None = Field(description="Cheap score against measured accuracy (None below 3).")
    ci95: list[float] | None = Field(description="Bootstrap 95% interval of the tau.")


class FinalistPublic(BaseModel):
    seq: int
    arch_id: str
    cheap: float = Field(description="The cheap evaluator's value of the metric during the search.")
    accuracy: float | None = Field(description="Validation accuracy trained from scratch (None: stopped or failed).")
    epochs: int
    stopped_early: bool
    seconds: float
    error: str | None
    trained_weights: bool = Field(description="Its downloads carry the weights it was trained to.")


class FinalistsPublic(BaseModel):
    job_id: str
    metric: str | None = Field(description="The objective whose cheap score was checked (None: no finalists asked).")
    chosen: int = Field(description="Finalists the job trains (the front's best and a spread of the cheap score).")
    fidelity: Fidelity
    data: list[FinalistPublic]


class JobsPublic(BaseModel):
    data: list[JobPublic]
    count: int


class CandidatePublic(BaseModel):
    job_id: str
    seq: int = Field(description="Evaluation order within the job; the candidate's id in URLs.")
    arch_id: str
    arch: dict[str, Any]
    summary: str
    status: str
    metrics: dict[str, float]
    provenance: dict[str, Any]
    feasible: bool
    violation: float
    error: str | None
    seconds: float
    created_at: datetime


class CandidatesPublic(BaseModel):
    data: list[CandidatePublic]
    count: int


class Layer(BaseModel):
    """One layer of a candidate's network, as the space lists it (what builds, costs and prices it)."""

    name: str = Field(description="Dotted position: stage or cell, then block (stem, b3.2, cell0.edge_0_1).")
    kind: str
    c_in: int
    c_out: int
    hw: int = Field(description="Input height = width.")
    kernel: int
    stride: int
    expansion: int
    se: float
    skip: str
    attrs: dict[str, Any]
    params: int
    macs: int


class CandidateLayers(BaseModel):
    job_id: str
    seq: int
    shape: dict[str, int]
    layers: list[Layer]


class CandidatePoints(BaseModel):
    """Every scored candidate as columns (one entry per candidate, in evaluation order)."""

    job_id: str
    count: int
    seq: list[int]
    arch_id: list[str]
    feasible: list[bool]
    metrics: dict[str, list[float | None]] = Field(
        description="Metric -> one value per candidate (null: not measured)."
    )


class FrontPublic(BaseModel):
    job_id: str
    step: int = Field(description="Evaluations when this front was recorded.")
    hypervolume: float
    hypervolume_share: float | None = Field(
        None, description="The hypervolume over the box from the front's ideal point to the reference point."
    )
    objectives: list[dict[str, Any]]
    reference_point: dict[str, float] = Field(description="Hypervolume reference, in metric units.")
    members: list[CandidatePublic]


class FrontPoint(BaseModel):
    step: int
    hypervolume: float
    size: int


class FrontHistory(BaseModel):
    job_id: str
    points: list[FrontPoint]


class FrontComparison(BaseModel):
    objectives: list[dict[str, Any]]
    reference_point: dict[str, float]
    hypervolume: dict[str, float] = Field(description="Job id -> hypervolume against the common reference.")
    front_size: dict[str, int]
