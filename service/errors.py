"""Every expected error mapped to a 4xx (or 503) with a message, in one place."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from core.errors import InvalidArchitectureError, NasError, StoreError, UnknownPluginError
from store.jobs import ConflictError, ForbiddenError, NotFoundError

log = logging.getLogger(__name__)


def _line(error: dict) -> str:
    where = ".".join(str(p) for p in error.get("loc", ()) if p != "body")
    msg = str(error.get("msg", "")).removeprefix("Value error, ")
    return f"{where}: {msg}" if where else msg


def install(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        lines = [_line(e) for e in errors]
        detail = [{"loc": list(e.get("loc", ())), "msg": e.get("msg"), "type": e.get("type")} for e in errors]
        return JSONResponse(status_code=422, content={"message": "; ".join(lines), "detail": detail})

    @app.exception_handler(NasError)
    async def _nas(request: Request, exc: NasError) -> JSONResponse:
        if isinstance(exc, NotFoundError):
            status = 404
        elif isinstance(exc, ConflictError):
            status = 409
        elif isinstance(exc, ForbiddenError):
            status = 403
        elif isinstance(exc, StoreError):
            log.warning("store error on %s: %s", request.url.path, exc)
            status = 503
        elif isinstance(exc, UnknownPluginError | InvalidArchitectureError):
            status = 422
        else:
            status = 422
        return JSONResponse(status_code=status, content={"message": str(exc), "detail": str(exc)})
