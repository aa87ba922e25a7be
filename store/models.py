"""Database tables. Every name starts with ``nas_`` so the schema coexists with Optuna's
(``studies``, ``trials``, ``alembic_version``) in one database; our tables are the truth."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite keeps no zone: values are stored as
    naive UTC and read back as aware)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        value = value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(
        naming_convention={
            "ix": "ix_%(table_name)s_%(column_0_N_name)s",
            "uq": "uq_%(table_name)s_%(column_0_N_name)s",
            "ck": "ck_%(table_name)s_%(constraint_name)s",
            "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
            "pk": "pk_%(table_name)s",
        }
    )
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        dict[str, Any]: JSON,
        list[Any]: JSON,
        datetime: UTCDateTime(),
    }


class Job(Base):
    """A search job: its spec, its state machine, its lease and its progress."""

    __tablename__ = "nas_jobs"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str | None] = mapped_column(String(200))
    spec: Mapped[dict[str, Any]]
    spec_hash: Mapped[str] = mapped_column(String(64))
    idempotency_key: Mapped[str | None] = mapped_column(String(200), unique=True)
    state: Mapped[str] = mapped_column(String(16), index=True)  # queued|running|succeeded|failed|cancelled
    budget: Mapped[int]
    evaluated: Mapped[int] = mapped_column(default=0)  # candidates stored (ok or failed)
    failed: Mapped[int] = mapped_column(default=0)
    phase: Mapped[str] = mapped_column(String(200), default="")  # what the runner is doing now
    error: Mapped[str | None] = mapped_column(Text)
    attempt: Mapped[int] = mapped_column(default=0)
    owner: Mapped[str | None] = mapped_column(String(32))  # the id of the API key that submitted it
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    lease_owner: Mapped[str | None] = mapped_column(String(64))
    lease_expires_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]


class Candidate(Base):
    """One evaluated architecture of a job; ``(job_id, arch_id)`` and ``(job_id, seq)`` are unique,
    so a result is stored exactly once even when a resumed runner proposes it again."""

    __tablename__ = "nas_candidates"
    __table_args__ = (
        UniqueConstraint("job_id", "arch_id"),
        UniqueConstraint("job_id", "seq"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    job_id: Mapped[str] = mapped_column(ForeignKey("nas_jobs.id", ondelete="CASCADE"), index=True)
    seq: Mapped[int]  # 0-based evaluation order within the job
    arch_id: Mapped[str] = mapped_column(String(16))
    arch: Mapped[dict[str, Any]]
    status: Mapped[str] = mapped_column(String(8))  # ok|failed
    metrics: Mapped[dict[str, Any]] = mapped_column(default=dict)
    provenance: Mapped[dict[str, Any]] = mapped_column(default=dict)  # metric -> what produced it
    feasible: Mapped[bool] = mapped_column(Boolean, default=True)
    violation: Mapped[float] = mapped_column(Float, default=0.0)
    error: Mapped[str | None] = mapped_column(Text)
    strategy_attrs: Mapped[dict[str, Any]] = mapped_column(default=dict)  # e.g. NSGA-II generation
    seconds: Mapped[float] = mapped_column(Float, default=0.0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class FrontSnapshot(Base):
    """The job's Pareto front after ``step`` evaluations, with its hypervolume."""

    __tablename__ = "nas_front_snapshots"
    __table_args__ = (UniqueConstraint("job_id", "step"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    job_id: Mapped[str] = mapped_column(ForeignKey("nas_jobs.id", ondelete="CASCADE"), index=True)
    step: Mapped[int]
    hypervolume: Mapped[float] = mapped_column(Float)
    reference_point: Mapped[list[Any]]
    candidate_ids: Mapped[list[Any]]  # seq numbers of the front's members
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ApiKey(Base):
    """A key for the API's mutating (and, when configured, reading) endpoints, stored as its
    SHA-256; an admin key may cancel any job, others only their own. The service's own key (its
    settings' ``api_key``) is the admin ``service``, kept outside this table."""

    __tablename__ = "nas_api_keys"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    admin: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[datetime | None]


class Finalist(Base):
    """A candidate of a job trained from scratch after the search: its cheap score beside what the
    training measured (``accuracy`` None: stopped early by ASHA, or failed with ``error``)."""

    __tablename__ = "nas_finalists"
    __table_args__ = (UniqueConstraint("job_id", "seq"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    job_id: Mapped[str] = mapped_column(ForeignKey("nas_jobs.id", ondelete="CASCADE"), index=True)
    seq: Mapped[int]  # the candidate's
    arch_id: Mapped[str] = mapped_column(String(16))
    metric: Mapped[str] = mapped_column(String(64))  # the objective whose cheap score this checks
    cheap: Mapped[float] = mapped_column(Float)
    accuracy: Mapped[float | None] = mapped_column(Float)
    epochs: Mapped[int] = mapped_column(default=0)
    stopped_early: Mapped[bool] = mapped_column(Boolean, default=False)
    seconds: Mapped[float] = mapped_column(Float, default=0.0)
    weights: Mapped[str | None] = mapped_column(String(500))  # the trained weights, relative to the artifacts
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class JobEvent(Base):
    """Progress events; the global id is the Server-Sent Events id (resume with Last-Event-ID)."""

    __tablename__ = "nas_job_events"
    __table_args__ = (Index("ix_nas_job_events_job_id_id", "job_id", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    job_id: Mapped[str] = mapped_column(ForeignKey("nas_jobs.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(32))
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Device(Base):
    """A device known to the database: built-in ones once measured, and imported external ones."""

    __tablename__ = "nas_devices"

    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    runtime: Mapped[str] = mapped_column(String(32))
    threads: Mapped[int]
    batch_size: Mapped[int]
    info: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class LatencyTable(Base):
    """A per-operator latency lookup table for one (device, space, input shape)."""

    __tablename__ = "nas_latency_tables"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    device: Mapped[str] = mapped_column(String(100), index=True)
    space: Mapped[str] = mapped_column(String(64))
    in_channels: Mapped[int]
    input_size: Mapped[int]
    num_classes: Mapped[int]
    batch_size: Mapped[int]
    overhead_ms: Mapped[float] = mapped_column(Float, default=0.0)
    source: Mapped[str] = mapped_column(String(16))  # measured|imported
    status: Mapped[str] = mapped_column(String(16), default="ready")  # measuring|ready
    info: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class LatencyEntry(Base):
    __tablename__ = "nas_latency_entries"
    __table_args__ = (UniqueConstraint("table_id", "signature"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    table_id: Mapped[str] = mapped_column(ForeignKey("nas_latency_tables.id", ondelete="CASCADE"), index=True)
    signature: Mapped[str] = mapped_column(String(300))
    median_ms: Mapped[float] = mapped_column(Float)
    spread_ms: Mapped[float] = mapped_column(Float, default=0.0)  # interquartile range
    runs: Mapped[int] = mapped_column(default=0)


class Artifact(Base):
    """A file or folder under the artifact root (supernet checkpoint, predictor, export bundle)."""

    __tablename__ = "nas_artifacts"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    kind: Mapped[str] = mapped_column(String(32), index=True)
    name: Mapped[str] = mapped_column(String(200))
    path: Mapped[str] = mapped_column(String(500))  # relative to the artifact root
    sha256: Mapped[str | None] = mapped_column(String(64))
    info: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
