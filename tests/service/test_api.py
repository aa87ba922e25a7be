"""The REST API end to end: lifecycle, fronts, progress stream, bad input, auth, idempotency."""

from __future__ import annotations

import concurrent.futures
import itertools
import json
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

from evaluators.pareto import dominates, hypervolume
from search_spaces import SPACES
from service.main import create_app
from store.session import Database
from store.settings import Settings
from tests.service.conftest import KEY, spec, wait
from workers.strategies import STRATEGIES

KNOWN_SPACES = ", ".join(SPACES.names())


def brute_front(cands: list[dict], objectives: list[dict]) -> set[int]:
    feasible = [c for c in cands if c["status"] == "ok" and c["feasible"]]
    sign = {"min": 1.0, "max": -1.0}
    loss = {
        c["seq"]: np.array([sign[o["direction"]] * c["metrics"][o["metric"]] for o in objectives]) for c in feasible
    }
    return {i for i in loss if not any(dominates(loss[j], loss[i]) for j in loss if j != i)}


def sse(client: TestClient, job_id: str, headers: dict | None = None) -> list[tuple[int, dict]]:
    """(id, data) of each event, parsed from the wire format (blank-line separated fields)."""
    with client.stream("GET", f"/api/jobs/{job_id}/events", headers=headers or {}) as stream:
        text = "".join(stream.iter_text())
    events = []
    for block in text.split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line and not line.startswith(":"))
        if "data" in fields and "id" in fields:  # phase events carry no id
            events.append((int(fields["id"]), json.loads(fields["data"])))
    return events


def test_job_lifecycle_front_and_progress(api: TestClient) -> None:
    created = api.post("/api/jobs", json=spec(), headers=KEY)
    assert created.status_code == 201 and created.headers["location"] == f"/api/jobs/{created.json()['id']}"
    job = wait(api, created.json()["id"])
    assert (job["state"], job["evaluated"], job["progress"], job["error"]) == ("succeeded", 64, 1.0, None)
    cands = api.get(f"/api/jobs/{job['id']}/candidates", params={"limit": 1000}).json()
    assert cands["count"] == 64 and len({c["arch_id"] for c in cands["data"]}) == 64
    assert [c["seq"] for c in cands["data"]] == list(range(64))
    assert all(c["provenance"]["params"]["evaluator"] == "cost" for c in cands["data"])

    front = api.get(f"/api/jobs/{job['id']}/front").json()
    assert {m["seq"] for m in front["members"]} == brute_front(cands["data"], front["objectives"])
    ref = np.array([front["reference_point"]["params"], front["reference_point"]["macs"]])
    assert ref[0] == 2e6  # the constraint bound is the reference for its objective
    pts = np.array([[m["metrics"]["params"], m["metrics"]["macs"]] for m in front["members"]])
    assert front["hypervolume"] == pytest.approx(hypervolume(pts, ref))
    box = np.prod(ref - pts.min(axis=0))  # from the front's ideal point to the reference point
    assert front["hypervolume_share"] == pytest.approx(front["hypervolume"] / box, rel=1e-5) and box > 0
    assert (front["hypervolume_share"] < 1) == (len(pts) > 1)  # one member fills its box, more never do
    assert job["best"]["params"] == pts[:, 0].min() and job["front_size"] == len(pts)

    history = api.get(f"/api/jobs/{job['id']}/front/history").json()["points"]
    steps = [p["step"] for p in history]  # one snapshot per batch (duplicates are answered, not evaluated)
    assert (
        steps == sorted(set(steps))
        and steps[-1] == 64
        and all(b - a <= 16 for a, b in zip([0, *steps], steps, strict=False))
    )
    assert all(a["hypervolume"] <= b["hypervolume"] + 1e-6 for a, b in itertools.pairwise(history))

    events = sse(api, job["id"])
    ids = [i for i, _ in events]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    assert [e["evaluated"] for _, e in events if e["kind"] == "progress"] == steps
    assert events[-1][1] == {"kind": "state", "state": "succeeded", "error": None}
    # resume after the third event: exactly the rest, no gap, no duplicate
    rest = sse(api, job["id"], headers={"Last-Event-ID": str(ids[2])})
    assert [i for i, _ in rest] == ids[3:]


def test_candidate_queries(api: TestClient) -> None:
    job = wait(api, api.post("/api/jobs", json=spec(), headers=KEY).json()["id"])
    url = f"/api/jobs/{job['id']}/candidates"
    by_params = api.get(url, params={"sort": "params", "order": "desc", "limit": 5}).json()["data"]
    values = [c["metrics"]["params"] for c in by_params]
    assert values == sorted(values, reverse=True)
    ranged = api.get(url, params={"range": "params:1e5:1e6", "feasible": "true", "limit": 1000}).json()
    assert all(1e5 <= c["metrics"]["params"] <= 1e6 and c["feasible"] for c in ranged["data"])
    one = api.get(f"{url}/{by_params[0]['seq']}").json()
    assert one["arch_id"] == by_params[0]["arch_id"] and one["summary"]
    assert api.get(f"{url}/9999").status_code == 404
    assert api.get(url, params={"sort": "nonsense"}).status_code == 422
    assert api.get(url, params={"range": "params:x:1"}).status_code == 422
    assert api.get("/api/jobs/nope/candidates").status_code == 404
    # the dashboard's columnar view: every scored candidate, in order, the same values as the rows
    every = [c for c in api.get(url, params={"limit": 1000}).json()["data"] if c["status"] == "ok"]
    points = api.get(f"/api/jobs/{job['id']}/points").json()
    assert points["count"] == len(every) == len(points["seq"]) > 0
    assert points["seq"] == [c["seq"] for c in every] and points["arch_id"] == [c["arch_id"] for c in every]
    assert points["feasible"] == [c["feasible"] for c in every]
    assert points["metrics"] == {m: [c["metrics"][m] for c in every] for m in ("macs", "params")}
    assert api.get("/api/jobs/nope/points").status_code == 404
    # a candidate's layers (what the dashboard draws) cost exactly what the cost evaluator counted
    net = api.get(f"{url}/{every[0]['seq']}/layers").json()
    assert net["shape"] == {"in_channels": 1, "input_size": 8, "num_classes": 10}
    assert sum(layer["params"] for layer in net["layers"]) == every[0]["metrics"]["params"]
    assert sum(layer["macs"] for layer in net["layers"]) == every[0]["metrics"]["macs"]
    assert net["layers"][0]["name"] == "stem"
    assert api.get(f"{url}/9999/layers").status_code == 404


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"space": "resnet"}, "space: unknown search space 'resnet'; known: " + KNOWN_SPACES),
        ({"objectives": [{"metric": "speed"}]}, "objectives.0.metric: unknown metric 'speed'"),
        ({"objectives": []}, "objectives: List should have at least 1 item"),
        ({"objectives": [{"metric": "params"}, {"metric": "params"}]}, "each metric at most once"),
        ({"constraints": ["latency < 3"]}, "write it as '<metric> <= <number>'"),
        ({"budget": {"candidates": 0}}, "budget.candidates: Input should be greater than or equal to 1"),
        ({"budget": {"candidates": 10**9}}, "budget.candidates: Input should be less than or equal to 100000"),
        ({"strategy": {"name": "annealing"}}, "strategy: unknown 'annealing'; known: " + ", ".join(STRATEGIES.names())),
        ({"strategy": {"name": "nsga2", "options": {"population_size": 1}}}, "population_size must be at least 2"),
        ({"strategy": {"name": "nsga2", "options": {"bogus": 1}}}, "unexpected keyword argument 'bogus'"),
        ({"dataset": "mnist"}, "dataset: unknown dataset 'mnist'"),
        ({"device": "toaster"}, "unknown device 'toaster'; known: cpu, cpu-onnx, cuda"),
        ({"objectives": [{"metric": "params", "evaluator": "oracle"}]}, "evaluator 'oracle' unknown"),
        ({"surprise": 1}, "surprise: Extra inputs are not permitted"),
        ({"reference_point": {"params": 1.0}}, "reference_point: give exactly the objective metrics"),
    ],
)
def test_bad_specs_get_422_naming_the_field(api: TestClient, change: dict, message: str) -> None:
    r = api.post("/api/jobs", json=spec(**change), headers=KEY)
    assert r.status_code == 422, r.text
    assert message in r.json()["message"]
    assert api.get("/api/jobs").json()["count"] == 0  # nothing stored


def test_non_finite_numbers_and_malformed_bodies(api: TestClient) -> None:
    body = json.dumps(spec()).replace('"batch_size": 16', '"batch_size": 16, "seed": NaN')
    r = api.post("/api/jobs", content=body, headers={**KEY, "content-type": "application/json"})
    assert r.status_code == 422 and "seed" in r.json()["message"]
    r = api.post("/api/jobs", content="{not json", headers={**KEY, "content-type": "application/json"})
    assert r.status_code == 422
    r = api.post("/api/jobs", content="x" * 2_000_000, headers={**KEY, "content-type": "application/json"})
    assert r.status_code == 413


def test_every_mutating_route_needs_the_key(api: TestClient) -> None:
    paths = api.app.openapi()["paths"]  # every operation the app serves
    mutating = [(m.upper(), p) for p, ops in paths.items() for m in ops if m in {"post", "put", "patch", "delete"}]
    assert {("POST", "/api/jobs"), ("DELETE", "/api/jobs/{job_id}")} <= set(mutating)
    for method, path in mutating:
        url = path.replace("{job_id}", "x")
        missing = api.request(method, url, json=spec())
        assert missing.status_code == 401 and missing.headers["www-authenticate"] == "APIKey"
        assert api.request(method, url, json=spec(), headers={"X-API-Key": "wrong"}).status_code == 403


def test_cancel_and_idempotent_submission(api: TestClient) -> None:
    big = spec(budget={"candidates": 5000}, batch_size=8)
    job = api.post("/api/jobs", json=big, headers={**KEY, "Idempotency-Key": "once"}).json()
    again = api.post("/api/jobs", json=big, headers={**KEY, "Idempotency-Key": "once"})
    assert again.status_code == 200 and again.json()["id"] == job["id"]
    clash = api.post("/api/jobs", json=spec(), headers={**KEY, "Idempotency-Key": "once"})
    assert clash.status_code == 409 and "different spec" in clash.json()["message"]
    assert api.delete(f"/api/jobs/{job['id']}", headers=KEY).status_code == 200
    done = wait(api, job["id"])
    assert done["state"] == "cancelled" and done["evaluated"] < 5000
    assert api.delete(f"/api/jobs/{job['id']}", headers=KEY).json()["state"] == "cancelled"


def test_concurrent_submissions(api: TestClient) -> None:
    small = spec(budget={"candidates": 8}, batch_size=8)

    def post(i: int) -> str:
        headers = {**KEY, "Idempotency-Key": "race"} if i % 2 else KEY
        r = api.post("/api/jobs", json=small, headers=headers)
        assert r.status_code in (200, 201), r.text
        return r.json()["id"]

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        ids = list(pool.map(post, range(16)))
    assert len(set(ids)) == 9  # 8 plain submissions + one for the 8 racing duplicates
    for job_id in set(ids):
        assert wait(api, job_id)["state"] == "succeeded"


def test_a_job_naming_a_missing_table_is_refused_at_submission(api: TestClient) -> None:
    bad = spec(objectives=[{"metric": "latency_ms"}], constraints=[], evaluators={"latency_lut": {"table": "missing"}})
    created = api.post("/api/jobs", json=bad, headers=KEY)
    assert created.status_code == 422, created.text
    assert created.json()["message"] == "evaluators.latency_lut.table: no latency table 'missing'"
    assert api.get("/api/jobs").json()["count"] == 0


def test_catalog_and_health(api: TestClient) -> None:
    assert api.get("/healthz").json() == {"status": "ok"}
    assert api.get("/readyz").json()["status"] == "ready"
    spaces = api.get("/api/spaces").json()
    by_name = {sp["name"]: sp for sp in spaces}
    assert set(by_name) == set(SPACES.names()) and by_name["mnasnet"]["cardinality"] == 1380949413693751296
    assert {"nsga2", "tpe", "random", "evolution", "mnasnet_rl"} <= set(api.get("/api/strategies").json())
    assert any(d["name"] == "cpu" and d["measurable"] for d in api.get("/api/devices").json())


def test_queued_jobs_show_their_place_in_line(sqlite_db: Database, tmp_path: Path) -> None:
    settings = Settings(home=tmp_path, database_url=sqlite_db.url, api_key="test-key")
    with TestClient(create_app(settings, scheduler=False)) as client:  # nothing starts them
        ids = [client.post("/api/jobs", json=spec(seed=i), headers=KEY).json()["id"] for i in range(3)]
        assert [client.get(f"/api/jobs/{i}").json()["queue_position"] for i in ids] == [1, 2, 3]
        client.delete(f"/api/jobs/{ids[0]}", headers=KEY)
        assert [client.get(f"/api/jobs/{i}").json()["queue_position"] for i in ids] == [None, 1, 2]
