"""Liveness and readiness."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from service.api.deps import DbDep

router = APIRouter(tags=["health"])


@router.get("/healthz")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz")
async def readyz(db: DbDep) -> JSONResponse:
    """Ready when the database answers and its schema is at the newest migration."""
    try:
        at_head = await run_in_threadpool(db.is_at_head)
    except Exception as e:
        return JSONResponse({"status": "unavailable", "database": f"{type(e).__name__}"}, status_code=503)
    if not at_head:
        return JSONResponse({"status": "unavailable", "database": "schema not at head"}, status_code=503)
    return JSONResponse({"status": "ready", "database": db.backend})
