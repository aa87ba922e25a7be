"""Request dependencies: settings, database sessions, the API key."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, HTTPException, Path, Query, Request, status
from fastapi.security import APIKeyHeader

from store.keys import find_key, key_hash
from store.session import (
    Database,
    Session,
)
from store.settings import Settings

API_KEY_HEADER = "X-API-Key"
_key_header = APIKeyHeader(name=API_KEY_HEADER, auto_error=False, description="Required on mutating endpoints.")


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


def get_db(request: Request) -> Database:
    return request.app.state.db


def get_session(db: Annotated[Database, Depends(get_db)]) -> Iterator[Session]:
    with db.session() as session:
        yield session


@dataclass(frozen=True)
class Principal:
    """Who sent a request: the id of its API key (``service``: the service's own key) and whether
    that key may act on every job."""

    key_id: str
    admin: bool


SERVICE = Principal("service", admin=True)


def require_api_key(request: Request, key: Annotated[str | None, Depends(_key_header)]) -> Principal:
    """401 without a key, 403 with an unknown or revoked one; the service's own key is compared in
    constant time, the others are found by their SHA-256."""
    if not key:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            detail=f"missing {API_KEY_HEADER} header",
            headers={"WWW-Authenticate": "APIKey"},
        )
    given = key_hash(key)
    if secrets.compare_digest(given, request.app.state.api_key_hash):
        return SERVICE
    with request.app.state.db.session() as session:
        row = find_key(session, given)
        if row is None or row.revoked_at is not None:
            why = "invalid API key" if row is None else f"API key {row.id} ({row.name}) was revoked"
            raise HTTPException(status.HTTP_403_FORBIDDEN, detail=why)
        return Principal(row.id, admin=row.admin)


def read_access(request: Request, key: Annotated[str | None, Depends(_key_header)]) -> None:
    """Reading endpoints are open unless the setting ``read_requires_key`` closes them."""
    if request.app.state.settings.read_requires_key:
        require_api_key(request, key)


MAX_ROW = 2**62  # every integer that reaches the database fits SQLite's and PostgreSQL's BIGINT
Offset = Annotated[int, Query(ge=0, le=MAX_ROW, description="Rows to skip.")]
Seq = Annotated[int, Path(ge=0, le=MAX_ROW, description="The candidate's evaluation order within its job.")]

SettingsDep = Annotated[Settings, Depends(get_settings)]
DbDep = Annotated[Database, Depends(get_db)]
SessionDep = Annotated[Session, Depends(get_session)]
ApiKeyDep = Depends(require_api_key)
PrincipalDep = Annotated[Principal, Depends(require_api_key)]
