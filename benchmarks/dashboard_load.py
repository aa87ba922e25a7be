"""How fast a job page with many candidates loads and answers in headless Chromium.

    .venv/bin/python -m benchmarks.dashboard_load [--candidates 10000] [--runs 5] [--home DIR]

Runs a real job of ``--candidates`` candidates on a fresh service (random search of the MnasNet
space for Fashion-MNIST over parameters and MACs under a parameter bound, so the page draws
dominated, infeasible and front points; kept in ``--home`` so a second run reuses it), then
opens its job page ``--runs`` times in headless Chromium (Debian's ``chromium``, driven by
Playwright) and reports, per run, the milliseconds from navigation start
until the front plot holds every point (``load``) and from changing the plot's x axis until it
is redrawn (``interaction``). Goal (issue 28): both under 1,000 ms at 10,000 candidates; the
script exits 1 when the median misses it. Writes ``benchmarks/results/dashboard_load.json``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import socket
import statistics
import sys
import threading
import time
from pathlib import Path

import httpx
import uvicorn

from service.main import create_app
from store.session import Database
from store.settings import Settings

GOAL_MS = 1000.0
OUT = Path(__file__).parent / "results" / "dashboard_load.json"


def serve(home: Path) -> tuple[uvicorn.Server, str]:
    db = Database(f"sqlite:///{home / 'nas.db'}")
    db.migrate()
    settings = Settings(home=home, database_url=db.url, api_key="bench-key", ray_num_cpus=2)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning"))
    threading.Thread(target=server.run, daemon=True).start()
    deadline = time.time() + 120
    while not server.started:
        if time.time() > deadline:
            raise SystemExit("the service did not start in 120 s")
        time.sleep(0.1)
    return server, f"http://127.0.0.1:{port}"


def run_job(url: str, n: int) -> dict:
    """A job of ``n`` candidates (submitted once: the idempotency key finds it again)."""
    body = {
        "name": f"dashboard load: {n} candidates",
        "space": "mnasnet",
        "dataset": "fashion-mnist",
        "objectives": [{"metric": "params"}, {"metric": "macs"}],
        "constraints": ["params <= 2000000"],
        "strategy": {"name": "random"},
        "budget": {"candidates": n},
        "batch_size": 200,
    }
    with httpx.Client(base_url=url, headers={"X-API-Key": "bench-key"}, timeout=30) as c:
        job = c.post("/api/jobs", json=body, headers={"Idempotency-Key": f"dashboard-load-{n}"}).raise_for_status()
        job_id = job.json()["id"]
        deadline = time.time() + 3600
        while (job := c.get(f"/api/jobs/{job_id}").json())["state"] not in ("succeeded", "failed", "cancelled"):
            if time.time() > deadline:
                raise SystemExit(f"job {job_id} did not finish in an hour")
            print(f"\r  job {job_id}: {job['evaluated']}/{n} ({job['phase']})", end="", flush=True)
            time.sleep(1)
    print()
    if job["state"] != "succeeded":
        raise SystemExit(f"job {job_id} {job['state']}: {job['error']}")
    return job


def measure(url: str, job_id: str, runs: int, n: int) -> list[dict[str, float]]:
    from playwright.sync_api import sync_playwright

    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        raise SystemExit("no chromium (apt-get install chromium)")
    out = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        for _ in range(runs):
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            errors: list[str] = []
            page.on("pageerror", lambda e, errors=errors: errors.append(str(e)))
            page.goto(f"{url}/dashboard/jobs/{job_id}")
            page.locator(f"#front-plot[data-total-points='{n}']").wait_for(timeout=60_000)
            load = page.evaluate("window.frontDrawnAt")
            drawn = int(page.locator("#front-plot").get_attribute("data-drawn") or 0)
            before = page.evaluate("performance.now()")
            page.select_option("#x", "params")
            page.locator(f"#front-plot[data-drawn='{drawn + 1}']").wait_for(timeout=60_000)
            interaction = page.evaluate("window.frontDrawnAt") - before
            if errors:
                raise SystemExit(f"script errors on the page: {errors}")
            out.append({"load_ms": load, "interaction_ms": interaction})
            print(f"  load {load:7.0f} ms   interaction {interaction:7.0f} ms")
            page.close()
        browser.close()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--candidates", type=int, default=10_000)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--home", type=Path, default=Path("/tmp/nas-dashboard-load"))
    args = ap.parse_args()
    args.home.mkdir(parents=True, exist_ok=True)
    server, url = serve(args.home)
    try:
        t0 = time.time()
        job = run_job(url, args.candidates)
        print(f"job {job['id']}: {job['evaluated']} candidates ({time.time() - t0:.0f} s)")
        runs = measure(url, job["id"], args.runs, job["evaluated"] - job["failed"])
    finally:
        server.should_exit = True
    med = {k: statistics.median(r[k] for r in runs) for k in ("load_ms", "interaction_ms")}
    result = {
        "candidates": job["evaluated"],
        "runs": runs,
        "median": med,
        "goal_ms": GOAL_MS,
        "met": all(v < GOAL_MS for v in med.values()),
        "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    OUT.write_text(json.dumps(result, indent=1) + "\n")
    print(f"median load {med['load_ms']:.0f} ms, interaction {med['interaction_ms']:.0f} ms (goal < {GOAL_MS:.0f} ms)")
    sys.exit(0 if result["met"] else 1)


if __name__ == "__main__":
    main()
