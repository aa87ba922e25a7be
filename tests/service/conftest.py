"""A running API (real scheduler on the session's Ray) per database backend."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from service.main import create_app
from store.session import Database
from store.settings import Settings

KEY = {"X-API-Key": "test-key"}
FINAL = ("succeeded", "failed", "cancelled")


@pytest.fixture
def api(db: Database, tmp_path: Path, ray_cluster: None) -> Iterator[TestClient]:
    settings = Settings(
        home=tmp_path, database_url=db.url, api_key="test-key", lease_seconds=3, ray_num_cpus=2, pool_size=1
    )
    with TestClient(create_app(settings)) as client:
        yield client


def spec(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "space": "mnasnet",
        "dataset": "digits",
        "objectives": [{"metric": "params"}, {"metric": "macs"}],
        "constraints": ["params <= 2e6"],
        "strategy": {"name": "nsga2", "options": {"population_size": 16}},
        "budget": {"candidates": 64},
        "batch_size": 16,
    }
    return base | overrides


def wait(client: TestClient, job_id: str, timeout: float = 120) -> dict[str, Any]:
    deadline = time.time() + timeout
    while time.time() < deadline:
        job = client.get(f"/api/jobs/{job_id}").json()
        if job["state"] in FINAL:
            return job
        time.sleep(0.2)
    raise AssertionError(f"job {job_id} did not finish: {job}")
