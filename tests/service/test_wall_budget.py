"""The wall-time budget holds within a batch: a batch still being evaluated when the budget ends
is stopped, its unfinished candidates are not stored, and the job says so."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tests.service.conftest import KEY, spec, wait

SLOW = {"epochs": 3, "train_limit": 512, "val_limit": 128, "width": 0.25, "batch_size": 32, "recal_images": 64}


@pytest.mark.slow
def test_a_batch_longer_than_the_budget_is_cut_at_the_budget(api: TestClient, request: pytest.FixtureRequest) -> None:
    if request.node.callspec.params.get("db") == "postgres":
        pytest.skip("the runner's clock, not the database: once, on SQLite, is enough")
    body = spec(
        objectives=[{"metric": "accuracy", "evaluator": "train"}, {"metric": "params"}],
        constraints=[],
        evaluators={"train": SLOW | {"threads": 1}},
        strategy={"name": "random"},
        budget={"candidates": 64, "wall_seconds": 15},
        batch_size=32,  # 16 trainings per actor: far longer than 15 s
    )
    job = wait(api, api.post("/api/jobs", json=body, headers=KEY).json()["id"], timeout=180)
    assert job["state"] == "succeeded", job["error"]
    assert "stopped at the wall-time budget (15 s) within a batch" in job["error"]
    cands = api.get(f"/api/jobs/{job['id']}/candidates", params={"limit": 1000}).json()
    assert job["evaluated"] == cands["count"] < 32 and all(c["status"] == "ok" for c in cands["data"])
    from datetime import datetime

    took = datetime.fromisoformat(job["finished_at"]) - datetime.fromisoformat(job["started_at"])
    assert took.total_seconds() < 15 + 15  # the budget, plus stopping the actors and storing
