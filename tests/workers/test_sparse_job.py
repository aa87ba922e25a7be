"""The sparse space in the service: its operators measured into a latency table through the device
agent, and a search job over it with the cost and latency-table evaluators."""

from __future__ import annotations

from pathlib import Path

import pytest

from evaluators.devices import Device, builtin_device
from evaluators.latency_lut import Entry, LatencyTable
from search_spaces import Architecture, get_space
from search_spaces.ops.sparse import effective_cost
from store import jobs as repo
from store import latency as lut_repo
from store.session import Database
from store.settings import Settings
from tests.workers.test_resume import run_until, submit
from workers.latency import measure_table
from workers.scheduler import Scheduler

DIGITS = {"in_channels": 1, "input_size": 8, "num_classes": 10}
pytestmark = pytest.mark.usefixtures("ray_cluster")


def test_sparse_operators_are_measured_at_each_level(sqlite_db: Database) -> None:
    """The first catalogue entries: stem, a depthwise layer, then the first 1x1 layer at every
    (sparsity, block), each built pruned and timed through the sparse inference path."""
    table = measure_table(
        sqlite_db, space="sparse", device=builtin_device("cpu"), shape=DIGITS, warmup=1, repeats=3, passes=1, limit=12
    )
    catalogue = get_space("sparse").op_catalogue(**DIGITS)[:12]
    assert [op.signature() for op in catalogue] == sorted(table.entries, key=[o.signature() for o in catalogue].index)
    sparse = [sig for sig in table.entries if sig.startswith("sparse_conv1x1")]
    assert len(sparse) == 10 and {"-block1-sparsity0", "-block4-sparsity0.5", "-block2-sparsity0.7"} <= {
        sig[sig.index("-block") :] for sig in sparse
    }
    assert all(e.median_ms > 0 and e.runs == 3 for e in table.entries.values())


def test_search_job_over_the_sparse_space(sqlite_db: Database, tmp_path: Path) -> None:
    """Random search with `cost` (params) and `latency_lut` (a table imported for a phone whose
    entries scale with each operator's non-zero MACs): every candidate is scored by both."""
    space = get_space("sparse")
    table = LatencyTable(id="sparse-phone", device="phone2", space="sparse", source="imported", **DIGITS)
    for op in space.op_catalogue(**DIGITS):
        table.entries[op.signature()] = Entry(1e-5 * effective_cost(op).macs + 0.01)
    with sqlite_db.session() as s:
        lut_repo.save_device(s, Device("phone2", "phone", "external", threads=1))
        lut_repo.create_table(s, table, status="ready")
    scheduler = Scheduler(Settings(home=tmp_path, database_url=sqlite_db.url, lease_seconds=5, ray_num_cpus=2))
    job_id = submit(
        sqlite_db,
        space="sparse",
        dataset="digits",
        device="phone2",
        objectives=[{"metric": "latency_ms"}, {"metric": "params"}],
        strategy={"name": "random"},
        budget={"candidates": 24},
        batch_size=8,
    )
    job = run_until(scheduler, sqlite_db, job_id, lambda j: j.state in repo.FINAL)
    with sqlite_db.session() as s:
        cands = repo.all_candidates(s, job_id)
        front = repo.latest_front(s, job_id)
    scheduler.stop()
    assert (job.state, job.evaluated, job.failed) == ("succeeded", 24, 0)
    assert all(c.status == "ok" and c.arch["space"] == "sparse" for c in cands)
    for c in cands:
        arch = Architecture.from_dict(c.arch)
        assert c.metrics["params"] == space.cost(arch, **DIGITS).params
        assert c.metrics["latency_ms"] == pytest.approx(table.predict(space.ops(arch, **DIGITS)))
        assert c.provenance["latency_ms"]["lut_id"] == "sparse-phone"
    assert front is not None and front.candidate_ids
