"""Crashes mid-job: the runner is killed, a new one resumes from the database, nothing is lost
or stored twice; failed candidates are recorded and the job goes on."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

from core.spec import JobSpec
from evaluators.devices import Device
from evaluators.latency_lut import Entry, LatencyTable
from evaluators.pareto import front_indices
from search_spaces import get_space
from store import jobs as repo
from store import latency as lut_repo
from store.session import Database
from store.settings import Settings
from workers.scheduler import Scheduler

pytestmark = pytest.mark.usefixtures("ray_cluster")


def submit(db: Database, **spec: object) -> str:
    parsed = JobSpec.model_validate(spec)
    with db.session() as s:
        job, _ = repo.create_job(
            s,
            spec=parsed.model_dump(mode="json"),
            spec_hash=parsed.digest(),
            budget=parsed.budget.candidates,
            name=None,
            idempotency_key=None,
        )
        return job.id


def run_until(scheduler: Scheduler, db: Database, job_id: str, done, timeout: float = 120):
    deadline = time.time() + timeout
    while time.time() < deadline:
        scheduler.tick()
        with db.session() as s:
            job = repo.get_job(s, job_id)
            if done(job):
                return job
        time.sleep(0.05)
    raise AssertionError(f"timed out: {job.state} {job.evaluated}")


def test_killed_runner_is_replaced_and_the_job_resumes(db: Database, tmp_path: Path) -> None:
    settings = Settings(home=tmp_path, database_url=db.url, lease_seconds=2, ray_num_cpus=2, pool_size=1)
    scheduler = Scheduler(settings)
    job_id = submit(
        db,
        space="mnasnet",
        dataset="digits",
        objectives=[{"metric": "params"}, {"metric": "macs"}],
        strategy={"name": "nsga2", "options": {"population_size": 8}},
        budget={"candidates": 120},
        batch_size=2,
    )
    run_until(scheduler, db, job_id, lambda j: j.evaluated >= 20)
    scheduler.stop_runner(job_id)  # SIGKILL-equivalent: the actor's process dies mid-job
    with db.session() as s:
        at_kill = [c.arch_id for c in repo.all_candidates(s, job_id)]
    job = run_until(scheduler, db, job_id, lambda j: j.state in repo.FINAL, timeout=180)
    assert (job.state, job.evaluated, job.attempt) == ("succeeded", 120, 2)
    with db.session() as s:
        cands = repo.all_candidates(s, job_id)
        events = repo.events_after(s, job_id=job_id, after=0)
        front = repo.latest_front(s, job_id)
    arch_ids = [c.arch_id for c in cands]
    assert [c.seq for c in cands] == list(range(120)) and len(set(arch_ids)) == 120
    assert arch_ids[: len(at_kill)] == at_kill  # nothing stored before the crash was lost or replaced
    evaluated = [a for e in events if e.kind == "progress" for a in e.payload["arch_ids"]]
    assert evaluated == arch_ids  # every stored result was evaluated and written exactly once
    losses = np.array([[c.metrics["params"], c.metrics["macs"]] for c in cands])
    assert set(front.candidate_ids) == {cands[i].seq for i in front_indices(losses, np.zeros(120))}
    # NSGA-II continued its generations after the restart instead of starting over
    gens = [c.strategy_attrs["sampler"]["NSGAIISampler:generation"] for c in cands]
    assert max(gens) >= 10 and gens == sorted(gens)
    scheduler.stop()


def test_failed_candidates_are_recorded_and_the_job_goes_on(db: Database, tmp_path: Path) -> None:
    """A phone table that lacks every regular-conv-with-SE operator: those candidates fail."""
    space = get_space("mnasnet")
    shape = {"in_channels": 1, "input_size": 8, "num_classes": 10}
    table = LatencyTable(id="phone-table", device="phone1", space="mnasnet", source="imported", **shape)
    for op in space.op_catalogue(**shape):
        if not (op.kind == "conv" and op.se):
            table.entries[op.signature()] = Entry(1e-6 * op.cost().macs + 0.05)
    with db.session() as s:
        lut_repo.save_device(s, Device("phone1", "phone", "external", threads=1))
        lut_repo.create_table(s, table, status="ready")
    scheduler = Scheduler(Settings(home=tmp_path, database_url=db.url, lease_seconds=5, ray_num_cpus=2))
    job_id = submit(
        db,
        space="mnasnet",
        dataset="digits",
        device="phone1",
        objectives=[{"metric": "latency_ms"}, {"metric": "params"}],
        strategy={"name": "random"},
        budget={"candidates": 60},
        batch_size=20,
    )
    job = run_until(scheduler, db, job_id, lambda j: j.state in repo.FINAL)
    with db.session() as s:
        cands = repo.all_candidates(s, job_id)
    failed = [c for c in cands if c.status == "failed"]
    assert job.state == "succeeded" and job.evaluated == 60 and job.failed == len(failed) > 0
    assert all("latency_lut: MissingEntriesError" in c.error and "nas lut measure" in c.error for c in failed)
    assert all(any(b.startswith("conv_") and "_se0.25_" in b for b in c.arch["genome"]) for c in failed)
    ok = [c for c in cands if c.status == "ok"]
    assert ok and all(
        c.provenance["latency_ms"] == {"evaluator": "latency_lut", "lut_id": "phone-table", "device": "phone1"}
        for c in ok
    )
    scheduler.stop()
