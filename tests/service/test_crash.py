"""The real process dies: ``nas serve`` (API, scheduler and its local Ray) is SIGKILLed mid-job and
right after a 201, then started again on the same home; every job finishes, nothing is lost or
stored twice — on SQLite and on PostgreSQL."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from store import jobs as repo
from store.session import Database
from tests.conftest import postgres_schema

pytestmark = pytest.mark.slow
KEY = {"X-API-Key": "crash-key"}


class Service:
    """``nas serve`` in its own process group, so a kill takes its Ray processes down with it."""

    def __init__(self, home: Path, database_url: str | None = None) -> None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.home = home
        self.database_url = database_url or f"sqlite:///{home / 'nas.db'}"
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        env = {
            **os.environ,
            "NAS_HOME": str(self.home),
            "NAS_DATABASE_URL": self.database_url,
            "NAS_PORT": str(self.port),
            "NAS_API_KEY": KEY["X-API-Key"],
            "NAS_LEASE_SECONDS": "3",
            "NAS_RAY_NUM_CPUS": "2",
            "NAS_POOL_SIZE": "1",
        }
        env.pop("RAY_ADDRESS", None)
        nas = Path(sys.executable).with_name("nas")
        log = (self.home / "serve.log").open("ab")
        self.proc = subprocess.Popen([str(nas), "serve"], env=env, stdout=log, stderr=log, start_new_session=True)
        deadline = time.time() + 120
        while True:
            try:
                if httpx.get(f"{self.url}/readyz", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            assert self.proc.poll() is None, (self.home / "serve.log").read_text()[-3000:]
            assert time.time() < deadline, "service did not become ready"
            time.sleep(0.3)

    def kill(self) -> None:
        assert self.proc is not None
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=30)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)


@pytest.fixture(params=["sqlite", "postgres"])
def service(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Service]:
    if request.param == "sqlite":
        svc = Service(tmp_path)
        yield svc
        svc.stop()
        return
    with postgres_schema() as url:
        svc = Service(tmp_path, url)
        yield svc
        svc.stop()


def job_spec(candidates: int, batch: int, seed: int) -> dict[str, Any]:
    return {
        "space": "mnasnet",
        "dataset": "digits",
        "objectives": [{"metric": "params"}, {"metric": "macs"}],
        "strategy": {"name": "nsga2", "options": {"population_size": 20}},
        "budget": {"candidates": candidates},
        "batch_size": batch,
        "seed": seed,
    }


def test_sigkilled_service_resumes_every_job(service: Service) -> None:
    service.start()
    with httpx.Client(base_url=service.url, headers=KEY, timeout=30) as c:
        running = c.post("/api/jobs", json=job_spec(candidates=600, batch=4, seed=1)).json()["id"]
        deadline = time.time() + 120
        while c.get(f"/api/jobs/{running}").json()["evaluated"] < 20:
            assert time.time() < deadline
            time.sleep(0.1)
        acked = c.post("/api/jobs", json=job_spec(candidates=40, batch=10, seed=2))
        assert acked.status_code == 201
    service.kill()  # mid-job, and right after the 201 of the second job

    db = Database(service.database_url)
    with db.session() as s:
        before = {c.seq: c.arch_id for c in repo.all_candidates(s, running)}
        assert repo.get_job(s, acked.json()["id"]).state in ("queued", "running")  # the 201 was durable
    assert 20 <= len(before) < 600

    service.start()
    with httpx.Client(base_url=service.url, headers=KEY, timeout=30) as c:
        deadline = time.time() + 300
        jobs = {}
        while time.time() < deadline:
            jobs = {j: c.get(f"/api/jobs/{j}").json() for j in (running, acked.json()["id"])}
            if all(j["state"] in repo.FINAL for j in jobs.values()):
                break
            time.sleep(0.5)
    assert [j["state"] for j in jobs.values()] == ["succeeded", "succeeded"], jobs
    assert jobs[running]["evaluated"] == 600 and jobs[running]["attempt"] == 2
    with db.session() as s:
        after = repo.all_candidates(s, running)
    assert [c.seq for c in after] == list(range(600)) and len({c.arch_id for c in after}) == 600
    assert {c.seq: c.arch_id for c in after if c.seq in before} == before  # nothing stored before the kill changed
    db.dispose()
