"""A job on a device that no Ray node offers fails at once, naming the resource and how a node joins.

Before, the device agent's actor stayed pending forever (nothing offers ``device_cuda`` here: torch
is the CPU build) while the runner's heartbeat kept renewing the job's lease: ``running`` forever.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import ray

from core.spec import JobSpec
from evaluators.devices import builtin_device
from store import jobs as repo
from store import latency as lut_repo
from store.session import Database
from store.settings import Settings
from workers.device_agent import AgentTimeouts, DeviceUnavailableError, call_agent, start_agent
from workers.scheduler import Scheduler

pytestmark = pytest.mark.usefixtures("ray_cluster")
DIGITS = {"in_channels": 1, "input_size": 8, "num_classes": 10}
JOIN = """ray start --address=<head>:6379 --resources='{"device_cuda": 1}'"""


def test_a_latency_job_on_a_device_no_node_offers_fails_within_60_s(sqlite_db: Database, tmp_path: Path) -> None:
    assert ray.cluster_resources().get("device_cuda", 0) == 0  # the session's Ray has no GPU node
    spec = JobSpec.model_validate(
        {
            "space": "mnasnet",
            "dataset": "digits",
            "device": "cuda",
            "objectives": [{"metric": "latency_ms"}],
            "strategy": {"name": "random"},
            "budget": {"candidates": 4},
        }
    )
    with sqlite_db.session() as s:
        job, _ = repo.create_job(
            s, spec=spec.model_dump(mode="json"), spec_hash=spec.digest(), budget=4, name=None, idempotency_key=None
        )
        job_id = job.id
    scheduler = Scheduler(Settings(home=tmp_path, database_url=sqlite_db.url, lease_seconds=3, ray_num_cpus=2))
    started = time.time()
    try:
        while time.time() - started < 60:
            scheduler.tick()
            with sqlite_db.session() as s:
                job = repo.get_job(s, job_id)
            if job.state in repo.FINAL:
                break
            time.sleep(0.2)
    finally:
        scheduler.stop()
    assert job.state == "failed", (job.state, job.phase)
    assert "device_cuda" in job.error and JOIN in job.error, job.error
    with sqlite_db.session() as s:  # nothing half-measured is left behind for a device nobody offers
        assert lut_repo.find_table(s, device="cuda", space="mnasnet", shape=DIGITS, status="measuring") is None


def test_agent_calls_have_deadlines() -> None:
    cpu = builtin_device("cpu")
    agent = start_agent(cpu, AgentTimeouts(start=60, call=0.5))
    try:

        @ray.remote(num_cpus=0)
        def slow() -> None:
            time.sleep(30)

        with pytest.raises(DeviceUnavailableError, match=r"did not answer within 0.5 s \(a slow call\)"):
            call_agent(slow.remote(), device=cpu, what="a slow call", timeouts=AgentTimeouts(call=0.5))
        assert call_agent(agent.ready.remote(), device=cpu, what="ready", timeouts=AgentTimeouts(call=30)) is True
    finally:
        ray.kill(agent)
    # an agent that cannot be placed in time (the device is held by another) fails, it does not hang
    holder = start_agent(cpu)
    try:
        t = time.time()
        with pytest.raises(DeviceUnavailableError, match="did not start within 1 s"):
            start_agent(cpu, AgentTimeouts(start=1))
        assert time.time() - t < 20
    finally:
        ray.kill(holder)


def test_an_autoscaling_cluster_may_be_given_time_for_the_node_to_join() -> None:
    t = time.time()
    with pytest.raises(DeviceUnavailableError, match="device_cuda"):
        start_agent(builtin_device("cuda"), AgentTimeouts(node=1))  # waits 1 s for a node, none joins
    assert 1 <= time.time() - t < 20
