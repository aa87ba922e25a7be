"""The FastAPI application: ``create_app(settings)``; nothing is built at import."""

from __future__ import annotations

import hashlib
import logging
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI

from service import errors
from service.api.deps import read_access
from service.api.routes import artifacts, catalog, devices, exports, fronts, health, jobs
from service.dashboard import routes as dashboard
from service.schemas import ERRORS
from store.session import Database
from store.settings import Settings

log = logging.getLogger("nas.service")
MAX_BODY_BYTES = 1_000_000


def api_key(settings: Settings) -> str:
    """The configured key, or the one generated on first start and kept in ``home/api_key``."""
    if settings.api_key is not None:
        return settings.api_key.get_secret_value()
    path = settings.home / "api_key"
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(24)
    path.write_text(key + "\n")
    path.chmod(0o600)
    print(f"Generated an API key (mutating endpoints need it in the X-API-Key header): {key}\nIt is kept in {path}.")
    return key


def create_app(settings: Settings, *, scheduler: bool = True) -> FastAPI:
    """The API. With ``scheduler`` the app also runs jobs: it joins Ray (call from the main
    thread, as uvicorn does) and starts the scheduler loop in its lifespan."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        db = Database(settings.db_url)
        db.migrate()
        app.state.db = db
        app.state.api_key_hash = hashlib.sha256(api_key(settings).encode()).hexdigest()
        runner = None
        if scheduler:
            from workers.ray_runtime import ensure_ray
            from workers.scheduler import Scheduler

            ensure_ray(settings)
            runner = Scheduler(settings)
            runner.start()
        app.state.scheduler = runner
        try:
            yield
        finally:
            if runner is not None:
                runner.stop()
            db.dispose()

    app = FastAPI(
        title="NAS service",
        version="0.1.0",
        summary="Neural architecture search jobs: spaces, evaluators, strategies, Pareto fronts.",
        lifespan=lifespan,
        max_body_size=MAX_BODY_BYTES,
    )
    app.state.settings = settings
    errors.install(app)
    app.include_router(health.router)
    app.include_router(dashboard.router)
    for router in (jobs.router, exports.router, fronts.router, devices.router, artifacts.router, catalog.router):
        app.include_router(router, prefix="/api", dependencies=[Depends(read_access)], responses=ERRORS)
    return app
