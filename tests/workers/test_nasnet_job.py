"""NASNet in jobs: its operators measure through the device agent, and a random search on digits
is scored by the cost evaluator and by a latency table measured over the space's whole catalogue."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch

from core.spec import JobSpec
from evaluators.devices import Device, builtin_device
from evaluators.latency_lut import Entry, LatencyTable
from evaluators.lut_io import new_table_id
from search_spaces import Architecture, get_space
from store import jobs as repo
from store import latency as lut_repo
from store.session import Database
from store.settings import Settings
from workers.latency import measure_table
from workers.scheduler import Scheduler

DIGITS = {"in_channels": 1, "input_size": 8, "num_classes": 10}
pytestmark = pytest.mark.usefixtures("ray_cluster")


@pytest.fixture
def one_thread() -> Iterator[None]:
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


def measure_whole_table(device: Device) -> LatencyTable:
    """Every operator of the catalogue timed in this process on ``device`` (one thread: the agent's
    two threads spin against the other tests on a shared 2-core machine), the overhead fitted on two
    small networks timed end to end."""
    space = get_space("nasnet")
    measurer = device.measurer()
    table = LatencyTable(id=new_table_id(), device=device.name, space="nasnet", info={"test": True}, **DIGITS)
    for op in space.op_catalogue(**DIGITS):
        st = measurer.measure(op.build(), (op.c_in, op.hw, op.hw), warmup=1, repeats=2)
        table.entries[op.signature()] = Entry(st.median_ms, st.spread_ms, st.runs)
    rng = np.random.default_rng(0)
    archs = [space.decode(space.to_params(space.sample(rng)) | {"cells": 1, "filters": 8}) for _ in range(2)]
    e2e = [measurer.measure(space.build(a, **DIGITS), (1, 8, 8), warmup=1, repeats=3).median_ms for a in archs]
    table.fit_overhead([table.ops_sum(space.ops(a, **DIGITS)) for a in archs], e2e)
    return table


def test_nasnet_operators_measure_through_the_device_agent(sqlite_db: Database) -> None:
    table = measure_table(
        sqlite_db, space="nasnet", device=builtin_device("cpu"), shape=DIGITS, warmup=1, repeats=2, passes=1, limit=12
    )
    catalogue = get_space("nasnet").op_catalogue(**DIGITS)
    assert list(table.entries) == [op.signature() for op in catalogue[:12]]
    assert all(e.median_ms > 0 and e.runs == 2 for e in table.entries.values())


def test_random_nasnet_job_with_cost_and_a_measured_latency_table(
    sqlite_db: Database, tmp_path: Path, one_thread: None
) -> None:
    space = get_space("nasnet")
    device = Device("cpu-1t", "cpu-x86", "torch", threads=1, description="this host's CPU, one thread")
    table = measure_whole_table(device)
    assert len(table.entries) == len(space.op_catalogue(**DIGITS)) and all(
        e.median_ms > 0 for e in table.entries.values()
    )
    with sqlite_db.session() as s:
        lut_repo.save_device(s, device)
        lut_repo.create_table(s, table, status="ready")

    spec = JobSpec.model_validate(
        {
            "space": "nasnet",
            "dataset": "digits",
            "device": device.name,
            "objectives": [{"metric": "latency_ms"}, {"metric": "params"}],
            "strategy": {"name": "random"},
            "budget": {"candidates": 12},
            "batch_size": 6,
            "seed": 3,
        }
    )
    with sqlite_db.session() as s:
        job, _ = repo.create_job(
            s, spec=spec.model_dump(mode="json"), spec_hash=spec.digest(), budget=12, name=None, idempotency_key=None
        )
        job_id = job.id
    scheduler = Scheduler(Settings(home=tmp_path, database_url=sqlite_db.url, lease_seconds=5, ray_num_cpus=2))
    try:
        deadline = time.time() + 120
        while time.time() < deadline:
            scheduler.tick()
            with sqlite_db.session() as s:
                job = repo.get_job(s, job_id)
            if job.state in repo.FINAL:
                break
            time.sleep(0.1)
        with sqlite_db.session() as s:
            cands = repo.all_candidates(s, job_id)
    finally:
        scheduler.stop()
    assert (job.state, job.evaluated, job.failed) == ("succeeded", 12, 0)  # the table covers every candidate
    for cand in cands:
        arch = Architecture.from_dict(cand.arch)
        assert cand.metrics["latency_ms"] == pytest.approx(table.predict(space.ops(arch, **DIGITS)))
        assert cand.metrics["params"] == space.cost(arch, **DIGITS).params
        assert cand.provenance["latency_ms"] == {"evaluator": "latency_lut", "lut_id": table.id, "device": device.name}
    assert len({c.arch["genome"][2] for c in cands}) > 1  # the macro setting is searched too
