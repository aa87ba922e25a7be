"""``nas demo`` and ``nas stop``: start the service in the background, run the demo search, stop it."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer

from core.errors import NasError
from service.cli.app import app
from service.cli.client import call, follow, summary, url_of
from service.cli.common import console, settings

DEMO_SPEC = Path(__file__).with_name("data") / "demo.json"


def _pidfile() -> Path:
    return settings().home / "serve.pid"


def _ready(url: str) -> bool:
    try:
        return httpx.get(f"{url}/readyz", timeout=2).status_code == 200
    except httpx.TransportError:
        return False


def start_background(url: str, timeout: float = 300) -> int | None:
    """Start ``nas serve`` detached (log in home/serve.log) unless one answers; wait until ready."""
    if _ready(url):
        return None
    home = settings().home
    home.mkdir(parents=True, exist_ok=True)
    log = (home / "serve.log").open("ab")
    nas = Path(sys.executable).with_name("nas")
    proc = subprocess.Popen([str(nas), "serve"], stdout=log, stderr=log, start_new_session=True)
    _pidfile().write_text(f"{proc.pid}\n")
    deadline = time.time() + timeout
    with console.status("starting the service (database, Ray) ..."):
        while not _ready(url):
            if proc.poll() is not None:
                raise NasError(f"the service exited with status {proc.returncode}; see {home / 'serve.log'}")
            if time.time() > deadline:
                raise NasError(f"the service did not become ready in {timeout:g} s; see {home / 'serve.log'}")
            time.sleep(0.5)
    return proc.pid


@app.command("demo")
def demo_cmd(
    spec: Annotated[Path, typer.Option(help="Job spec to run (default: the built-in demo).")] = DEMO_SPEC,
    fresh: Annotated[bool, typer.Option("--fresh", help="Run a new job even if this spec already ran.")] = False,
) -> None:
    """Start the service in the background (if none answers), run the demo search with a progress
    bar, and print where the dashboard is. The service keeps running; `nas stop` stops it."""
    url = url_of(None)
    pid = start_background(url)
    answered = time.time()
    body: dict[str, Any] = json.loads(spec.read_text())
    digest = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:16]
    key = None if fresh else f"demo-{digest}"  # re-running the demo shows the same job
    job = call(None, "POST", "/api/jobs", json=body, headers={"Idempotency-Key": key} if key else {})
    typer.echo(f"demo job {job['id']}: {body.get('name', '')}")
    fresh_job = job["state"] in ("queued", "running")
    if fresh_job:
        job = follow(None, job)
    typer.echo(summary(job, url))
    if fresh_job:
        first = call(None, "GET", f"/api/jobs/{job['id']}/candidates", params={"limit": 1})["data"]
        if first:
            seen = datetime.fromisoformat(first[0]["created_at"]).timestamp() - answered
            done = time.time() - answered
            typer.echo(f"first front stored {seen:.0f} s after the service answered; done after {done:.0f} s")
    started = f"started in the background (pid {pid}, log {settings().home / 'serve.log'})" if pid else "was running"
    typer.echo(f"\nThe service {started}; stop it with `nas stop`.")
    typer.echo(f"Dashboard: {url}/dashboard    API docs: {url}/docs")


@app.command("stop")
def stop_cmd() -> None:
    """Stop a service started by `nas demo`."""
    path = _pidfile()
    if not path.exists():
        raise NasError(f"no background service recorded in {path}")
    pid = int(path.read_text())
    try:
        os.killpg(pid, signal.SIGTERM)
    except ProcessLookupError:
        typer.echo(f"the service (pid {pid}) was not running")
    else:
        for _ in range(120):
            try:
                os.killpg(pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.5)
        typer.echo(f"stopped the service (pid {pid})")
    path.unlink(missing_ok=True)
