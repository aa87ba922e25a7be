"""Hostile requests found by probing the API (issue 29): each answers a 4xx naming what is wrong,
never a 500 or a stream that breaks after its 200, and concurrent downloads do not corrupt
each other."""

from __future__ import annotations

import concurrent.futures
import io
import zipfile

import pytest
import torch
from fastapi.testclient import TestClient

from tests.service.conftest import KEY, spec, wait

HUGE = str(10**20)


@pytest.fixture
def job_id(api: TestClient) -> str:
    created = api.post("/api/jobs", json=spec(budget={"candidates": 16}), headers=KEY)
    assert created.status_code == 201, created.text
    return wait(api, created.json()["id"])["id"]


@pytest.mark.parametrize(
    "dataset",
    ["imagefolder:/" + "a" * 300, "imagefolder:~no_such_user_here/x", "imagefolder:/" + "a/" * 3000],
)
def test_unusable_image_folders_are_a_422(api: TestClient, dataset: str) -> None:
    answer = api.post("/api/jobs", json=spec(dataset=dataset), headers=KEY)
    assert answer.status_code == 422, answer.text
    assert "imagefolder" in answer.json()["message"]


@pytest.mark.parametrize(
    "path",
    [
        f"/api/jobs?offset={HUGE}",
        "/api/jobs/{job}/candidates?offset=" + HUGE,
        "/api/jobs/{job}/candidates/" + HUGE,
        "/api/jobs/{job}/candidates/" + HUGE + "/files/arch.json",
        "/api/jobs/{job}/candidates/" + HUGE + "/files",
        "/api/jobs/{job}/events?after=" + HUGE,
        "/api/jobs/{job}/front.zip?limit=100000",
    ],
)
def test_integers_beyond_the_database_are_a_422(api: TestClient, path: str) -> None:
    answer = api.get(path.format(job="nope"))  # refused by validation, before any lookup
    assert answer.status_code == 422, answer.text


def test_an_event_stream_refuses_before_it_starts(api: TestClient, job_id: str) -> None:
    bad = api.get(f"/api/jobs/{job_id}/events", headers={"Last-Event-ID": "abc"})
    assert bad.status_code == 422 and "Last-Event-ID must be a whole number" in bad.text
    assert api.get("/api/jobs/nope/events").status_code == 404
    ok = api.get(f"/api/jobs/{job_id}/events", headers={"Last-Event-ID": "1"})
    assert ok.status_code == 200 and "event: state" in ok.text


def test_unknown_names_in_paths_are_a_404(api: TestClient) -> None:
    answer = api.get("/api/spaces/nope")
    assert answer.status_code == 404 and "known: " in answer.json()["message"]
    assert api.get("/api/spaces/mnasnet").status_code == 200


def test_fronts_compare_takes_the_documented_comma_list_and_repeated_ids(api: TestClient, job_id: str) -> None:
    listed = api.get(f"/api/fronts/compare?jobs={job_id},{job_id}")
    repeated = api.get(f"/api/fronts/compare?job={job_id}")
    assert listed.status_code == repeated.status_code == 200, listed.text
    assert listed.json()["hypervolume"] == repeated.json()["hypervolume"]
    assert api.get("/api/fronts/compare").status_code == 422


@pytest.mark.slow
def test_concurrent_front_zips_are_all_whole(api: TestClient, job_id: str, request: pytest.FixtureRequest) -> None:
    if request.node.callspec.params.get("db") == "postgres":
        pytest.skip("exports do not touch the database's write path: once, on SQLite, is enough")

    def fetch(_: int) -> tuple[int, bytes]:
        answer = api.get(f"/api/jobs/{job_id}/front.zip?limit=1")
        return answer.status_code, answer.content

    forward = torch.nn.Module.__call__
    with concurrent.futures.ThreadPoolExecutor(6) as pool:
        answers = list(pool.map(fetch, range(6)))
    assert [code for code, _ in answers] == [200] * 6
    assert torch.nn.Module.__call__ is forward  # no tracer left patched in by concurrent fx traces
    for _, body in answers:
        with zipfile.ZipFile(io.BytesIO(body)) as z:
            assert z.testzip() is None and "manifest.json" in z.namelist()
