"""``nas serve | submit | jobs | status | front | cancel``: run the service and talk to it over HTTP."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from core.errors import NasError
from service.cli.app import app
from service.cli.client import call, follow, summary, url_of
from service.cli.common import settings

UrlOpt = Annotated[str | None, typer.Option("--url", help="Service address (default: NAS_URL or http://HOST:PORT).")]


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
    job = call(url, "POST", "/api/jobs", json=body, headers=headers)
    typer.echo(f"submitted job {job['id']}")
    if wait:
        job = follow(url, job)
    typer.echo(summary(job, url_of(url)))
    if wait and job["state"] == "failed":
        raise typer.Exit(1)


@app.command("jobs")
def jobs_cmd(url: UrlOpt = None, limit: Annotated[int, typer.Option(min=1, max=500)] = 20) -> None:
    """Recent jobs."""
    data = call(url, "GET", "/api/jobs", params={"limit": limit})
    for j in data["data"]:
        typer.echo(
            f"{j['id']}  {j['state']:9}  {j['evaluated']:>6}/{j['budget']:<6}  {j['phase'][:40]:40}  {j['name'] or ''}"
        )
    typer.echo(f"({data['count']} jobs)")


@app.command("status")
def status_cmd(job_id: str, url: UrlOpt = None, wait: Annotated[bool, typer.Option("--wait")] = False) -> None:
    """One job's state, progress and front."""
    job = call(url, "GET", f"/api/jobs/{job_id}")
    if wait and job["state"] in ("queued", "running"):
        job = follow(url, job)
    typer.echo(summary(job, url_of(url)))


@app.command("front")
def front_cmd(job_id: str, url: UrlOpt = None, as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """The job's current Pareto front."""
    front = call(url, "GET", f"/api/jobs/{job_id}/front")
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
    job = call(url, "DELETE", f"/api/jobs/{job_id}")
    stopping = job["cancel_requested"] and job["state"] == "running"
    typer.echo(f"job {job['id']}: {job['state']}{' (stopping after the current batch)' if stopping else ''}")
