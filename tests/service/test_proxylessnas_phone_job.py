"""A search on a phone that only a shipped lookup table knows: ProxylessNAS's mobile table,
imported as it is for the ProxylessNAS space, prices every candidate of a job on that phone."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from store.session import Database
from store.settings import Settings
from tests.service.conftest import KEY, wait
from workers.operations.latency import LutImportRequest, import_latency_table

SHIPPED = Path(__file__).parents[2] / "evaluators" / "data" / "proxylessnas_mobile_lut.csv"


def test_a_proxylessnas_job_on_the_shipped_phone_table_prices_every_candidate(
    api: TestClient, db: Database, tmp_path: Path
) -> None:
    request = LutImportRequest(
        text=SHIPPED.read_text(), format="csv", device="pixel1", kind="phone", space="proxylessnas"
    )
    table = import_latency_table(db, Settings(home=tmp_path, database_url=db.url), request)
    body = {
        "space": "proxylessnas",
        "dataset": "shape:3x224x224:1000",  # ImageNet's shape; latency and size need no images
        "device": "pixel1",
        "objectives": [{"metric": "latency_ms"}, {"metric": "params"}],
        "constraints": ["latency_ms <= 100"],
        "strategy": {"name": "nsga2", "options": {"population_size": 20}},
        "budget": {"candidates": 60},
        "batch_size": 20,
    }
    created = api.post("/api/jobs", json=body, headers=KEY)
    assert created.status_code == 201, created.text
    job = wait(api, created.json()["id"], timeout=180)
    assert job["state"] == "succeeded", job
    cands = api.get(f"/api/jobs/{job['id']}/candidates", params={"limit": 1000}).json()["data"]
    assert len(cands) == 60 and all(c["status"] == "ok" for c in cands), [c["error"] for c in cands][:3]
    latencies = [c["metrics"]["latency_ms"] for c in cands]
    assert min(latencies) > 60 and max(latencies) < 150  # the table's range for this space (ms on the phone)
    assert {c["provenance"]["latency_ms"]["lut_id"] for c in cands} == {table.table_id}
    assert any(c["feasible"] for c in cands) and api.get(f"/api/jobs/{job['id']}/front").json()["members"]


def test_the_shipped_table_cannot_price_the_mnasnet_space_and_says_so(
    api: TestClient, db: Database, tmp_path: Path
) -> None:
    request = LutImportRequest(text=SHIPPED.read_text(), format="csv", device="pixel1", kind="phone", space="mnasnet")
    import_latency_table(db, Settings(home=tmp_path, database_url=db.url), request)
    body = {
        "space": "mnasnet",
        "dataset": "shape:3x224x224:1000",
        "device": "pixel1",
        "objectives": [{"metric": "latency_ms"}],
        "budget": {"candidates": 10},
    }
    refused = api.post("/api/jobs", json=body, headers=KEY)
    assert refused.status_code == 422 and "cannot price the mnasnet space" in refused.json()["message"]
    assert "of its 3081 operators have no entry" in refused.json()["message"]
