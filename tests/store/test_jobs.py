"""The job store on SQLite and PostgreSQL: idempotency, leases, exactly-once results, queries."""

from __future__ import annotations

import time

import pytest
from sqlalchemy.exc import IntegrityError

from store import jobs as repo
from store.session import Database

SPEC = {"space": "mnasnet", "objectives": [{"metric": "params", "direction": "min"}]}


def new_job(db: Database, key: str | None = None, spec_hash: str = "h1", budget: int = 10) -> str:
    with db.session() as s:
        job, _ = repo.create_job(s, spec=SPEC, spec_hash=spec_hash, budget=budget, name="t", idempotency_key=key)
        return job.id


def row(arch_id: str, params: float, status: str = "ok") -> repo.CandidateRow:
    return repo.CandidateRow(
        arch_id, {"space": "mnasnet", "genome": [arch_id]}, status, metrics={"params": params, "macs": 2 * params}
    )


def test_idempotency_key_returns_the_same_job_or_conflicts(db: Database) -> None:
    first = new_job(db, key="k1")
    assert new_job(db, key="k1") == first
    with pytest.raises(repo.ConflictError, match="different spec"):
        new_job(db, key="k1", spec_hash="other")
    assert new_job(db, key="k2") != first


def test_a_job_is_claimed_once_until_its_lease_expires(db: Database) -> None:
    job_id = new_job(db)
    with db.session() as s:
        assert repo.claim_job(s, job_id=job_id, owner="a", ttl=0.5)
    with db.session() as s:
        assert not repo.claim_job(s, job_id=job_id, owner="b", ttl=0.5)
        assert repo.runnable_jobs(s, limit=10) == []
    time.sleep(0.7)
    with db.session() as s:
        assert repo.runnable_jobs(s, limit=10) == [job_id]
        assert repo.claim_job(s, job_id=job_id, owner="b", ttl=30)
    with db.session() as s:
        assert not repo.renew_lease(s, job_id=job_id, owner="a", ttl=30)  # the old runner is out
        assert repo.renew_lease(s, job_id=job_id, owner="b", ttl=30)
        assert repo.get_job(s, job_id).attempt == 2


def test_batches_are_written_only_by_the_lease_owner_and_exactly_once(db: Database) -> None:
    job_id = new_job(db)
    with db.session() as s:
        repo.claim_job(s, job_id=job_id, owner="a", ttl=30)
    front = repo.FrontUpdate(step=2, hypervolume=1.5, reference_point=[10.0], members=[0])
    with db.session() as s:
        assert repo.record_batch(
            s, job_id=job_id, owner="a", ttl=30, rows=[row("x", 1), row("y", 2)], front=front, phase="p"
        ) == [0, 1]
    with pytest.raises(repo.LeaseLostError), db.session() as s:
        repo.record_batch(s, job_id=job_id, owner="b", ttl=30, rows=[row("z", 3)], front=None, phase="p")
    with pytest.raises(IntegrityError), db.session() as s:  # the same architecture twice in one job
        repo.record_batch(s, job_id=job_id, owner="a", ttl=30, rows=[row("x", 1)], front=None, phase="p")
    with db.session() as s:
        job = repo.get_job(s, job_id)
        assert (job.evaluated, [c.arch_id for c in repo.all_candidates(s, job_id)]) == (2, ["x", "y"])
        assert repo.latest_front(s, job_id).candidate_ids == [0]
        kinds = [e.kind for e in repo.events_after(s, job_id=job_id, after=0)]
        assert kinds == ["state", "state", "progress"]


def test_candidates_filter_and_sort_on_metrics(db: Database) -> None:
    job_id = new_job(db)
    with db.session() as s:
        repo.claim_job(s, job_id=job_id, owner="a", ttl=30)
        rows = [row(f"a{i}", p) for i, p in enumerate([5.0, 1.0, 3.0, 4.0])] + [row("bad", 0, "failed")]
        repo.record_batch(s, job_id=job_id, owner="a", ttl=30, rows=rows, front=None, phase="p")
    with db.session() as s:
        got, count = repo.list_candidates(s, job_id=job_id, status="ok", sort="params", limit=2)
        assert count == 4 and [c.metrics["params"] for c in got] == [1.0, 3.0]
        got, _ = repo.list_candidates(s, job_id=job_id, sort="macs", descending=True, ranges={"params": (2.0, 4.5)})
        assert [c.metrics["params"] for c in got] == [4.0, 3.0]
        got, count = repo.list_candidates(s, job_id=job_id, status="ok", limit=2, offset=2)
        assert count == 4 and [c.seq for c in got] == [2, 3]


def test_cancel_is_immediate_for_queued_jobs_and_idempotent(db: Database) -> None:
    job_id = new_job(db)
    with db.session() as s:
        assert repo.request_cancel(s, job_id).state == "cancelled"
    with db.session() as s:
        assert repo.request_cancel(s, job_id).state == "cancelled"
        assert not repo.claim_job(s, job_id=job_id, owner="a", ttl=30)
    running = new_job(db)
    with db.session() as s:
        repo.claim_job(s, job_id=running, owner="a", ttl=30)
    with db.session() as s:
        job = repo.request_cancel(s, running)
        assert (job.state, job.cancel_requested) == ("running", True)


def test_jobs_whose_runner_keeps_dying_fail_with_a_reason(db: Database) -> None:
    job_id = new_job(db)
    for attempt in range(3):
        with db.session() as s:
            assert repo.claim_job(s, job_id=job_id, owner=f"r{attempt}", ttl=0.2)
        time.sleep(0.3)
    with db.session() as s:
        assert repo.fail_exhausted(s, max_attempts=3) == [job_id]
    with db.session() as s:
        job = repo.get_job(s, job_id)
        assert job.state == "failed" and "stopped responding 3 times" in job.error


def test_migrations_coexist_with_optuna_tables(db: Database) -> None:
    import optuna

    storage = optuna.storages.RDBStorage(db.url)
    optuna.create_study(storage=storage, study_name="coexist")
    tables = set(db.tables())
    assert {"nas_jobs", "nas_candidates", "nas_alembic_version", "studies", "trials", "alembic_version"} <= tables
    assert db.is_at_head()
    db.migrate()  # idempotent

    from alembic import command

    command.check(db.alembic_config())  # the models and the migrations agree (no drift)
