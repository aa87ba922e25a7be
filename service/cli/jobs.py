"""``nas serve | submit | jobs | status | front | cancel``: run the service and talk to it over HTTP."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from search_spaces.errors import NasError
from service.cli.app import app
from service.cli.common import console, settings

UrlOpt = Annotated[str | None, typer.Option("--url", help="Service address (default: NAS_URL or http://HOST:PORT).")]


def _url(url: str | None) -> str:
    s = settings()
    return (url or os.environ.get("NAS_URL") or f"http://{s.host}:{s.port}").rstrip("/")


def _key() -> str | None:
    s = settings()
    if s.api_key is not None:
        return s.api_key.get_secret_value()
    path = s.home / "api_key"
    return path.read_text().strip() if path.exists() else None


def _client(url: str | None) -> httpx.Client:
    key = _key()
    return httpx.Client(base_url=_url(url), headers={"X-API-Key": key} if key else {}, timeout=30)


def _check(r: httpx.Response) -> Any:
    if r.status_code >= 400:
        try:
            message = r.json().get("message") or r.json().get("detail")
        except ValueError:
            message = r.text
        raise NasError(f"{r.status_code}: {message}")
    return r.json()


def _call(url: str | None, method: str, path: str, **kwargs: Any) -> Any:
    try:
        with _client(url) as c:
            return _check(c.request(method, path, **kwargs))
    except httpx.TransportError as e:
        raise NasError(
            f"cannot reach the service at {_url(url)} ({type(e).__name__}); start it with `nas serve`"
        ) from None


@app.command("serve")
def serve_cmd(
    host: Annotated[str | None, typer.Option(help="Bind address (default NAS_HOST or 127.0.0.1).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default NAS_PORT or 8000).")] = None,
) -> None:
    """Run the API, the dashboard and the job scheduler (starts or joins Ray)."""
    import uvicorn

    from service.main import create_app

    s = settings()
    if host or port:
        s = s.model_copy(update={"host": host or s.host, "port": port or s.port})
    typer.echo(f"NAS service on http://{s.host}:{s.port}  (API docs /docs, database {s.db_url.split('://')[0]})")
    uvicorn.run(create_app(s), host=s.host, port=s.port, log_level="warning")


def _summary(job: dict[str, Any], url: str) -> str:
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


def _follow(url: str | None, job: dict[str, Any]) -> dict[str, Any]:
    """Progress bar driven by the job's Server-Sent Events until it finishes."""
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console) as bar, _client(url) as c:
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
    return _call(url, "GET", f"/api/jobs/{job['id']}")


@app.command("submit")
def submit_cmd(
    spec: Annotated[Path, typer.Argument(help="Job spec JSON (README: job specs).")],
    wait: Annotated[bool, typer.Option("--wait", help="Follow progress until the job ends.")] = False,
    idempotency_key: Annotated[
        str | None, typer.Option(help="Resubmitting with the same key returns the same job.")
    ] = None,
    url: UrlOpt = None,
) -> None:
    """Submit a search job."""
    try:
        body = json.loads(spec.read_text())
    except json.JSONDecodeError as e:
        raise NasError(f"{spec}: malformed JSON: {e}") from None
    headers = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
    job = _call(url, "POST", "/api/jobs", json=body, headers=headers)
    typer.echo(f"submitted job {job['id']}")
    if wait:
        job = _follow(url, job)
    typer.echo(_summary(job, _url(url)))
    if wait and job["state"] == "failed":
        raise typer.Exit(1)


@app.command("jobs")
def jobs_cmd(url: UrlOpt = None, limit: Annotated[int, typer.Option(min=1, max=500)] = 20) -> None:
    """Recent jobs."""
    data = _call(url, "GET", "/api/jobs", params={"limit": limit})
    for j in data["data"]:
        typer.echo(
            f"{j['id']}  {j['state']:9}  {j['evaluated']:>6}/{j['budget']:<6}  {j['phase'][:40]:40}  {j['name'] or ''}"
        )
    typer.echo(f"({data['count']} jobs)")


@app.command("status")
def status_cmd(job_id: str, url: UrlOpt = None, wait: Annotated[bool, typer.Option("--wait")] = False) -> None:
    """One job's state, progress and front."""
    job = _call(url, "GET", f"/api/jobs/{job_id}")
    if wait and job["state"] in ("queued", "running"):
        job = _follow(url, job)
    typer.echo(_summary(job, _url(url)))


@app.command("front")
def front_cmd(job_id: str, url: UrlOpt = None, as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """The job's current Pareto front."""
    front = _call(url, "GET", f"/api/jobs/{job_id}/front")
    if as_json:
        typer.echo(json.dumps(front, indent=1))
        return
    metrics = [o["metric"] for o in front["objectives"]]
    typer.echo(f"front after {front['step']} evaluations, hypervolume {front['hypervolume']:.4g}")
    typer.echo("  ".join(["seq".rjust(6), *(m.rjust(12) for m in metrics), "architecture"]))
    for m in sorted(front["members"], key=lambda c: c["metrics"].get(metrics[0], 0)):
        values = [f"{m['metrics'].get(k, float('nan')):12.5g}" for k in metrics]
        typer.echo("  ".join([str(m["seq"]).rjust(6), *values, m["summary"][:80]]))


@app.command("cancel")
def cancel_cmd(job_id: str, url: UrlOpt = None) -> None:
    """Cancel a job (idempotent)."""
    job = _call(url, "DELETE", f"/api/jobs/{job_id}")
    stopping = job["cancel_requested"] and job["state"] == "running"
    typer.echo(f"job {job['id']}: {job['state']}{' (stopping after the current batch)' if stopping else ''}")
