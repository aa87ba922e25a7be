"""The dashboard in a real browser: headless Chromium (Debian's ``chromium``) driven by Playwright
against a running service with a finished job. Screenshots go to ``test-artifacts/``."""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from service.main import create_app
from store.session import Database
from store.settings import Settings
from tests.service.conftest import KEY, spec, wait

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
DATA = Path(__file__).parents[1] / "data"

if CHROMIUM is None and os.environ.get("NAS_REQUIRE_BROWSER") != "1":
    pytest.skip("no chromium on this machine (apt-get install chromium; CI installs it)", allow_module_level=True)


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("browser")


@pytest.fixture(scope="module")
def service(home: Path, ray_cluster: None) -> Iterator[str]:
    """The real app under uvicorn on a free port (Ray is the session's, started in the main thread)."""
    db = Database(f"sqlite:///{home / 'nas.db'}")
    db.migrate()
    settings = Settings(home=home, database_url=db.url, api_key="test-key", lease_seconds=3, ray_num_cpus=2)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 60
    while not server.started:
        assert time.time() < deadline and thread.is_alive(), "the service did not start"
        time.sleep(0.1)
    yield url
    server.should_exit = True
    thread.join(timeout=30)
    db.dispose()


@contextmanager
def browser_page(width: int = 1280, height: int = 900) -> Iterator[Any]:
    """A page of headless Chromium; the block fails if the page raised a script error."""
    from playwright.sync_api import sync_playwright

    errors: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": width, "height": height})
        page.on("pageerror", lambda e: errors.append(str(e)))
        yield page


@cache
def finished_job(url: str) -> dict:
    """One finished cost job of the service at ``url`` (run once, shared by the tests that read it)."""
    with httpx.Client(base_url=url, headers=KEY, timeout=30) as c:
        body = spec(name="browser check", budget={"candidates": 48}, batch_size=16)
        job = wait(c, c.post("/api/jobs", json=body).raise_for_status().json()["id"])
        front = c.get(f"/api/jobs/{job['id']}/front").json()
        cands = c.get(f"/api/jobs/{job['id']}/candidates", params={"limit": 1000}).json()["data"]
    return {"job": job, "front": front, "cands": cands}


def test_front_renders_and_a_click_opens_the_candidate(service: str) -> None:
    data = finished_job(service)
    job, front, cands = data["job"], data["front"], data["cands"]
    assert job["state"] == "succeeded"
    ok = [c for c in cands if c["status"] == "ok"]
    ARTIFACTS.mkdir(exist_ok=True)
    with browser_page(1400, 900) as page:
        page.goto(f"{service}/dashboard")
        row = page.locator(f"tr[data-id='{job['id']}']")
        row.wait_for()
        assert "browser check" in row.inner_text() and "succeeded" in row.inner_text()

        page.goto(f"{service}/dashboard/jobs/{job['id']}")
        plot = page.locator("#front-plot[data-front-points]")
        plot.wait_for()
        traces = page.locator("#front-plot .scatterlayer .trace")
        assert traces.count() == 3  # dominated, infeasible, front (drawn last)
        front_points = traces.nth(2).locator("path.point")
        all_points = page.locator("#front-plot .scatterlayer path.point")
        assert front_points.count() == len(front["members"]) == int(plot.get_attribute("data-front-points"))
        assert all_points.count() == len(ok) == int(plot.get_attribute("data-total-points"))
        assert page.locator("#history-plot .scatterlayer path.point").count() >= 1
        share = page.locator("#hv-share").inner_text()
        assert share == f"{100 * front['hypervolume_share']:.1f}%", share
        sources = set(page.locator("#sources").inner_text().split(" · "))  # where each metric comes from
        assert sources == {f"{m}: cost (counted from the architecture)" for m in ("params", "macs")}, sources
        page.screenshot(path=str(ARTIFACTS / "dashboard-job.png"), full_page=True)

        box = front_points.first.bounding_box()
        assert box is not None
        page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
        page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
        page.wait_for_url("**/candidates/*", timeout=15_000)
        seq = int(page.url.rsplit("/", 1)[1])
        title = page.locator("#candidate-title")
        title.wait_for()
        clicked = next(c for c in cands if c["seq"] == seq)
        assert f"#{seq}" in title.inner_text() and clicked["arch_id"] in title.inner_text()
        assert page.locator("#downloads a").count() == 5
        network = page.locator("#network .stage")  # drawn as stages of blocks, from the layers route
        network.first.wait_for()
        layers = httpx.get(f"{service}/api/jobs/{job['id']}/candidates/{seq}/layers").json()["layers"]
        stages = list(dict.fromkeys(layer["name"].split(".")[0] for layer in layers))
        assert [n.get_attribute("data-name") for n in network.all()] == stages  # MnasNet: no two stages alike
        assert page.locator("#network .block").count() == len(layers)
        page.screenshot(path=str(ARTIFACTS / "dashboard-candidate.png"), full_page=True)

        page.goto(f"{service}/dashboard/jobs/{job['id']}/candidates")
        page.locator("#cands tbody tr").first.wait_for()
        assert page.locator("#cands tbody tr").count() == min(50, len(cands))
        page.locator("th[data-sort='params']").click()
        page.wait_for_function("document.querySelector('#page').textContent.includes('params asc')")
        first = page.locator("#cands tbody tr td:first-child").first.inner_text()
        smallest = min(ok, key=lambda c: c["metrics"]["params"])
        assert int(first) == smallest["seq"]


def test_the_job_page_shows_the_finalists_fidelity(service: str, home: Path) -> None:
    from tests.service.test_finalists import check_finalists
    from tests.service.test_finalists import job as finalists_job

    with httpx.Client(base_url=service, headers=KEY, timeout=30) as c:
        job = wait(c, c.post("/api/jobs", json=finalists_job()).raise_for_status().json()["id"], timeout=300)
        assert job["state"] == "succeeded", job["error"]
        settings = Settings(home=home, database_url=f"sqlite:///{home / 'nas.db'}")
        db = Database(settings.db_url)
        report = check_finalists(c, job["id"], db, settings)
        db.dispose()
    with browser_page(1280, 900) as page:
        page.goto(f"{service}/dashboard/jobs/{job['id']}")
        shown = page.locator("#fidelity")
        shown.wait_for()
        text = shown.inner_text()
        tau = report["fidelity"]["kendall_tau"]
        assert "against training from scratch" in text and "3/3 finalists trained with train (n = 3)" in text, text
        shown_tau = "not yet" if tau is None else str(int(tau)) if float(tau).is_integer() else f"{tau:#.4g}"
        assert shown_tau in text, text  # as the page's fmt() writes it
        assert shown.locator("a").count() == 3
        page.screenshot(path=str(ARTIFACTS / "dashboard-finalists.png"), full_page=True)


def test_the_artifacts_page_lists_each_kind_with_its_figures(service: str, home: Path) -> None:
    from workers.operations.latency import LutImportRequest, import_latency_table

    settings = Settings(home=home, database_url=f"sqlite:///{home / 'nas.db'}")
    db = Database(settings.db_url)
    lut = LutImportRequest(text=(DATA / "proxylessnas_mobile_lut.csv").read_text(), format="csv", device="pixel1",
                           kind="phone", space="mnasnet")  # fmt: skip
    table_id = import_latency_table(db, settings, lut).table_id
    db.dispose()
    with browser_page(1280, 800) as page:
        page.goto(f"{service}/dashboard")
        page.locator("header a[href='/dashboard/artifacts']").click()
        row = page.locator(f"#artifacts tr[data-id='{table_id}']")
        row.wait_for()
        text = row.inner_text()
        assert "latency_table" in text and "mnasnet on pixel1, ready (imported); not validated" in text, text
        page.screenshot(path=str(ARTIFACTS / "dashboard-artifacts.png"), full_page=True)


def test_two_jobs_are_compared_against_one_reference(service: str) -> None:
    first = finished_job(service)["job"]
    with httpx.Client(base_url=service, headers=KEY, timeout=30) as c:
        body = spec(name="second", budget={"candidates": 32}, batch_size=16, seed=7)
        second = wait(c, c.post("/api/jobs", json=body).raise_for_status().json()["id"])
        expected = c.get("/api/fronts/compare", params={"jobs": f"{first['id']},{second['id']}"}).json()
    with browser_page(1280, 900) as page:
        page.goto(f"{service}/dashboard")
        page.locator(f"tr[data-id='{second['id']}']").wait_for()
        page.screenshot(path=str(ARTIFACTS / "dashboard-jobs-1280.png"), full_page=True)
        assert page.evaluate("document.documentElement.scrollWidth") <= 1280  # the jobs table fits the window
        for job_id in (first["id"], second["id"]):
            page.locator(f"tr[data-id='{job_id}'] input.pick").check()
        page.locator("#compare").click()
        page.wait_for_url("**/dashboard/compare?jobs=*")
        page.locator("#compare-plot[data-traces='2']").wait_for()
        for job_id in (first["id"], second["id"]):
            row = page.locator(f"#comparison tr[data-id='{job_id}']").inner_text()
            hv = expected["hypervolume"][job_id]
            assert str(expected["front_size"][job_id]) in row, row
            assert page.evaluate(f"fmt({hv})") in row, row  # as the page formats it
        page.screenshot(path=str(ARTIFACTS / "dashboard-compare.png"), full_page=True)


def test_the_demo_job_shows_its_sources_and_the_front_in_parallel_coordinates(service: str) -> None:
    """`nas demo`'s job on a service with nothing imported or measured: NAS-Bench-201's published
    accuracies (the space's shipped table, imported on first use) and latency measured here."""
    import csv
    import gzip
    import json

    from search_spaces import get_space
    from service.cli.demo import DEMO_SPEC

    body = json.loads(DEMO_SPEC.read_text()) | {"budget": {"candidates": 100}}
    with httpx.Client(base_url=service, headers=KEY, timeout=30) as c:
        assert not [a for a in c.get("/api/artifacts").json() if a["info"].get("space") == "nb201"]
        job = wait(c, c.post("/api/jobs", json=body).raise_for_status().json()["id"], timeout=180)
        assert (job["state"], job["evaluated"], job["failed"]) == ("succeeded", 100, 0), job["error"]
        front = c.get(f"/api/jobs/{job['id']}/front").json()
        cands = c.get(f"/api/jobs/{job['id']}/candidates", params={"limit": 100}).json()["data"]
        artifacts = {a["kind"]: a for a in c.get("/api/artifacts").json() if a["info"].get("space") == "nb201"}
    shipped = get_space("nb201").tables["nb201-published"]
    with gzip.open(shipped, "rt", newline="") as f:
        published = {r["arch_str"]: float(r["cifar10_test[%]"]) / 100 for r in csv.DictReader(f)}
    assert artifacts["table"]["name"] == "nb201-published" and artifacts["table"]["info"]["rows"] == 15625
    assert artifacts["latency_table"]["info"]["source"] == "measured"
    for cand in cands:  # each accuracy is the benchmark's CIFAR-10 figure for that cell, not a model's
        assert cand["metrics"]["accuracy"] == pytest.approx(published[cand["summary"]], abs=1e-9)
        assert cand["provenance"]["accuracy"]["columns"] == {"accuracy": "cifar10_test[%]"}
        assert cand["provenance"]["latency_ms"]["lut_id"] == artifacts["latency_table"]["id"]
        assert cand["feasible"] == (cand["metrics"]["params"] <= 1e6)
    assert len({round(cand["metrics"]["latency_ms"], 6) for cand in cands}) > 20  # per network, not a constant
    assert sum(cand["feasible"] for cand in cands[:50]) >= 25  # the constraint is met from the first batch
    with browser_page(1280, 1100) as page:
        page.goto(f"{service}/dashboard/jobs/{job['id']}")
        plot = page.locator(f"#parallel-plot[data-lines='{len(front['members'])}']")
        plot.wait_for()
        # one polyline per front member (each its own trace after the grey context trace)
        assert page.locator("#parallel-plot .scatterlayer .trace").count() == 1 + len(front["members"])
        ticks = page.locator("#parallel-plot .xtick").all_text_contents()  # SVG text: label, then the range
        labels = ["accuracy (max)", "latency_ms (min)", "params (min)"]
        assert len(ticks) == 3 and all(t.startswith(m) and "→" in t for t, m in zip(ticks, labels, strict=True)), ticks
        sources = page.locator("#sources").inner_text()
        assert "accuracy: tabular from table nb201-published, column cifar10_test[%]" in sources, sources
        assert "latency_ms: latency_lut from latency table cpu nb201 3x32x32 (measured)" in sources, sources
        page.screenshot(path=str(ARTIFACTS / "dashboard-demo-job.png"), full_page=True)
        box = page.locator("#parallel-plot .scatterlayer .trace").nth(1).locator("path.point").first.bounding_box()
        assert box is not None
        page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
        page.wait_for_url("**/candidates/*", timeout=15_000)
        assert int(page.url.rsplit("/", 1)[1]) in {m["seq"] for m in front["members"]}
