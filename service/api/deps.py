"""Request dependencies: settings, database sessions, the API key."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, HTTPException, Path, Query, Request, status
from fastapi.security import APIKeyHeader

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


def require_api_key(request: Request, key: Annotated[str | None, Depends(_key_header)]) -> None:
    """401 without a key, 403 with a wrong one (compared in constant time, as hashes)."""
    if not key:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            detail=f"missing {API_KEY_HEADER} header",
            headers={"WWW-Authenticate": "APIKey"},
        )
    given = hashlib.sha256(key.encode()).hexdigest()
    if not secrets.compare_digest(given, request.app.state.api_key_hash):
        raise HTTPException(status.HTTP_403_FORBIDDEN, detail="invalid API key")


MAX_ROW = 2**62  # every integer that reaches the database fits SQLite's and PostgreSQL's BIGINT
Offset = Annotated[int, Query(ge=0, le=MAX_ROW, description="Rows to skip.")]
Seq = Annotated[int, Path(ge=0, le=MAX_ROW, description="The candidate's evaluation order within its job.")]

SettingsDep = Annotated[Settings, Depends(get_settings)]
DbDep = Annotated[Database, Depends(get_db)]
SessionDep = Annotated[Session, Depends(get_session)]
ApiKeyDep = Depends(require_api_key)
