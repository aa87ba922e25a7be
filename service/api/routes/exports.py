"""Downloads: a candidate's bundle files (arch.json, safetensors, .pt2, ONNX, standalone .py) and a
zip of a job's whole front. Bundles are built on first request and then served as files; a format
that could not be built answers with its reason (a 422), and the others are still served."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse

from core.errors import NasError
from service.api.deps import Seq, SessionDep, SettingsDep
from service.exports.bundle import ALL_FILES, build_bundle, failed_files, zip_front
from store import jobs as repo
from store.jobs import NotFoundError
from store.settings import Settings

router = APIRouter(prefix="/jobs", tags=["downloads"])

MEDIA = {
    "arch.json": "application/json",
    "model.py": "text/x-python",
    "model.onnx": "application/octet-stream",
    "model.pt2": "application/octet-stream",
    "model.safetensors": "application/octet-stream",
}


MAX_FRONT_ZIP = 100  # members one front.zip bundles: each costs an export on first request


class ExportError(NasError):
    """The candidate's model cannot be exported in one of the formats."""


def _job(session: SessionDep, job_id: str) -> dict[str, Any]:
    job = repo.get_job(session, job_id)
    return {"id": job.id, "spec": job.spec}


def _candidate(session: SessionDep, job_id: str, seq: int) -> dict[str, Any]:
    """What a bundle is built from; a finalist trained with the full schedule brings its weights."""
    c = repo.get_candidate(session, job_id=job_id, seq=seq)
    out = {"seq": c.seq, "arch_id": c.arch_id, "arch": c.arch, "metrics": c.metrics, "provenance": c.provenance}
    f = repo.get_finalist(session, job_id=job_id, seq=seq)
    if f is not None and f.weights:
        finalists = repo.get_job(session, job_id).spec["finalists"]
        out["trained"] = {"weights": f.weights, "accuracy": f.accuracy, "epochs": f.epochs, **finalists}
    return out


async def _bundle(settings: Settings, job: dict[str, Any], candidate: dict[str, Any]) -> Any:
    try:
        return await run_in_threadpool(
            build_bundle, settings.artifacts, job=job, candidate=candidate, settings=settings
        )
    except (TypeError, RuntimeError, ValueError) as e:
        raise ExportError(f"cannot export candidate {candidate['seq']}: {e}") from e


@router.get("/{job_id}/candidates/{seq}/files")
async def list_files(job_id: str, seq: Seq, session: SessionDep, settings: SettingsDep) -> dict[str, Any]:
    """The bundle's files with sizes and sha256 (builds the bundle on first call)."""
    job, candidate = _job(session, job_id), _candidate(session, job_id, seq)
    folder = await _bundle(settings, job, candidate)
    manifest = json.loads((folder / "arch.json").read_text())
    base = f"/api/jobs/{job_id}/candidates/{seq}/files"
    files = {name: {**info, "url": f"{base}/{name}"} for name, info in manifest["files"].items()}
    return {
        "arch.json": f"{base}/arch.json",
        "files": files,
        "failed": manifest.get("failed", {}),
        "weights": manifest["weights"],
    }


@router.get("/{job_id}/candidates/{seq}/files/{name:path}")
async def download(job_id: str, seq: Seq, name: str, session: SessionDep, settings: SettingsDep) -> FileResponse:
    """One file of the bundle; only the bundle's own file names exist (anything else is a 404)."""
    if name not in ALL_FILES:
        raise NotFoundError(f"no file {name!r}; files: {', '.join(ALL_FILES)}")
    job, candidate = _job(session, job_id), _candidate(session, job_id, seq)
    folder = await _bundle(settings, job, candidate)
    if (reason := failed_files(folder).get(name)) is not None:
        raise ExportError(
            f"{name} could not be built for candidate {seq} of job {job_id}: {reason}. "
            f"The bundle's other files are served; arch.json lists what failed under 'failed'"
        )
    filename = f"{job_id}-{seq}-{candidate['arch_id']}-{name}"
    return FileResponse(folder / name, media_type=MEDIA[name], filename=filename)


@router.get("/{job_id}/front.zip")
async def download_front(
    job_id: str,
    session: SessionDep,
    settings: SettingsDep,
    limit: Annotated[int, Query(ge=1, le=MAX_FRONT_ZIP, description="Front members to bundle.")] = 50,
) -> FileResponse:
    """The bundles of the current front's members (up to ``limit``) in one zip with a manifest."""
    job = _job(session, job_id)
    snap = repo.latest_front(session, job_id)
    if snap is None or not snap.candidate_ids:
        raise NotFoundError(f"job {job_id} has no front yet")
    members = [_candidate(session, job_id, seq) for seq in sorted(snap.candidate_ids)[:limit]]
    try:
        path = await run_in_threadpool(zip_front, settings.artifacts, job=job, candidates=members, settings=settings)
    except (TypeError, RuntimeError, ValueError) as e:
        raise ExportError(f"cannot export the front of job {job_id}: {e}") from e
    return FileResponse(path, media_type="application/zip", filename=f"{job_id}-front.zip")
