"""The CLI's HTTP client: service address and key, calls with one-line errors, progress following."""

from __future__ import annotations

import json
import os
from typing import Any

import httpx
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from core.errors import NasError
from service.cli.common import console, settings


def url_of(url: str | None) -> str:
    """The service address: --url, NAS_URL, or the configured host and port."""
    s = settings()
    return (url or os.environ.get("NAS_URL") or f"http://{s.host}:{s.port}").rstrip("/")


def api_key() -> str | None:
    """The configured key, or the one the service generated into its home."""
    s = settings()
    if s.api_key is not None:
        return s.api_key.get_secret_value()
    path = s.home / "api_key"
    return path.read_text().strip() if path.exists() else None


def client(url: str | None) -> httpx.Client:
    key = api_key()
    return httpx.Client(base_url=url_of(url), headers={"X-API-Key": key} if key else {}, timeout=30)


def check(r: httpx.Response) -> Any:
    """The JSON body, or `NasError` with the service's message."""
    if r.status_code >= 400:
        try:
            message = r.json().get("message") or r.json().get("detail")
        except ValueError:
            message = r.text
        raise NasError(f"{r.status_code}: {message}")
    return r.json()


def call(url: str | None, method: str, path: str, **kwargs: Any) -> Any:
    try:
        with client(url) as c:
            return check(c.request(method, path, **kwargs))
    except httpx.TransportError as e:
        raise NasError(
            f"cannot reach the service at {url_of(url)} ({type(e).__name__}); start it with `nas serve`"
        ) from None


def summary(job: dict[str, Any], url: str) -> str:
    best = ", ".join(f"{k}={v:.4g}" for k, v in job["best"].items()) or "-"
    hv = "-" if job["hypervolume"] is None else f"{job['hypervolume']:.4g}"
    lines = [
        f"job {job['id']} ({job['name'] or 'unnamed'}): {job['state']}, {job['evaluated']}/{job['budget']} evaluated, "
        f"{job['failed']} failed",
        f"front: {job['front_size']} architectures, hypervolume {hv}; best {best}",
    ]
    if job["error"]:
        lines.append(f"note: {job['error']}")
    lines.append(f"dashboard: {url}/dashboard/jobs/{job['id']}   API: {url}/api/jobs/{job['id']}")
    return "\n".join(lines)


def follow(url: str | None, job: dict[str, Any]) -> dict[str, Any]:
    """Progress bar driven by the job's Server-Sent Events until it finishes."""
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console) as bar, client(url) as c:
        task = bar.add_task(job["phase"], total=job["budget"], completed=job["evaluated"])
        last = 0
        while True:  # reconnect with the last event id if the stream drops
            try:
                with c.stream("GET", f"/api/jobs/{job['id']}/events", params={"after": last}, timeout=None) as stream:
                    for line in stream.iter_lines():
                        if line.startswith("id: "):
                            last = int(line[4:])
                        if not line.startswith("data: "):
                            continue
                        event = json.loads(line[6:])
                        if event["kind"] == "progress":
                            bar.update(
                                task,
                                completed=event["evaluated"],
                                description=f"searching (hv {event.get('hypervolume', 0):.3g})",
                            )
                        elif event["kind"] == "phase":
                            bar.update(task, description=event["phase"][:60])
                        elif event["kind"] == "state":
                            bar.update(task, description=event["state"])
                break
            except httpx.TransportError:
                continue
    return call(url, "GET", f"/api/jobs/{job['id']}")
