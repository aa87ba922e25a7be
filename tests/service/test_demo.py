"""The demo's job (`nas demo`): NAS-Bench-201's published accuracies, imported on first use from
the table the space ships, and latency measured on this CPU, over REST on a fresh service."""

from __future__ import annotations

import csv
import gzip
import json

import pytest
from fastapi.testclient import TestClient

from search_spaces import get_space
from service.cli.demo import DEMO_SPEC
from tests.service.conftest import KEY, wait


@pytest.mark.parametrize("db", ["sqlite"], indirect=True)
def test_the_demo_job_scores_published_accuracy_and_measured_latency(api: TestClient) -> None:
    body = json.loads(DEMO_SPEC.read_text()) | {"budget": {"candidates": 100}}
    assert api.get("/api/artifacts").json() == []  # nothing imported, measured or trained yet
    job = wait(api, api.post("/api/jobs", json=body, headers=KEY).json()["id"])
    assert (job["state"], job["evaluated"], job["failed"]) == ("succeeded", 100, 0), job["error"]

    (shipped,) = get_space("nb201").tables
    with gzip.open(shipped, "rt", newline="") as f:
        published = {r["arch_str"]: float(r["cifar10_test[%]"]) / 100 for r in csv.DictReader(f)}
    artifacts = {a["kind"]: a for a in api.get("/api/artifacts").json()}
    assert artifacts["table"]["name"] == "nb201-published" and artifacts["table"]["info"]["rows"] == 15625
    assert artifacts["latency_table"]["info"]["source"] == "measured"
    cands = api.get(f"/api/jobs/{job['id']}/candidates", params={"limit": 100}).json()["data"]
    space = get_space("nb201")
    for c in cands:  # each accuracy is the benchmark's CIFAR-10 figure for that cell, not a model's
        assert c["metrics"]["accuracy"] == pytest.approx(published[c["summary"]], abs=1e-9)
        assert c["provenance"]["accuracy"]["columns"] == {"accuracy": "cifar10_test[%]"}
        assert c["provenance"]["latency_ms"]["lut_id"] == artifacts["latency_table"]["id"]
        assert c["feasible"] == (c["metrics"]["params"] <= 1e6)
        assert c["metrics"]["params"] == space.cost(space.from_genome(c["arch"]["genome"]), input_size=32,
                                                    num_classes=10).params  # fmt: skip
    assert len({round(c["metrics"]["latency_ms"], 6) for c in cands}) > 20  # a latency per network, not a constant
    assert sum(c["feasible"] for c in cands[:50]) >= 25  # the constraint is met from the first batch
