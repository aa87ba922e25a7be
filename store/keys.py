"""API keys: created (the plain key is shown once, only its SHA-256 is stored), listed, revoked,
and looked up by the hash of what a request sent."""

from __future__ import annotations

import hashlib
import re
import secrets

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.errors import NasError
from store import models as m
from store.jobs import NotFoundError, now

NAME = re.compile(r"^[A-Za-z0-9._-]{1,100}$")


def key_hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def create_key(session: Session, *, name: str, admin: bool = False) -> tuple[m.ApiKey, str]:
    """A new key named ``name``: the stored row and the plain key (not stored anywhere)."""
    if not NAME.match(name):
        raise NasError(f"name: {name!r} must be 1-100 of A-Z a-z 0-9 . _ -")
    plain = "nas_" + secrets.token_urlsafe(24)
    row = m.ApiKey(id=secrets.token_hex(6), name=name, key_hash=key_hash(plain), admin=admin)
    session.add(row)
    session.flush()
    return row, plain


def list_keys(session: Session) -> list[m.ApiKey]:
    return list(session.scalars(select(m.ApiKey).order_by(m.ApiKey.created_at)))


def revoke_key(session: Session, key_id: str) -> m.ApiKey:
    """Revoke a key by id or name (repeating is harmless); its jobs stay its own."""
    row = session.get(m.ApiKey, key_id) or session.scalars(select(m.ApiKey).where(m.ApiKey.name == key_id)).first()
    if row is None:
        raise NotFoundError(f"no API key {key_id!r}")
    row.revoked_at = row.revoked_at or now()
    return row


def find_key(session: Session, hashed: str) -> m.ApiKey | None:
    """The key whose hash is ``hashed`` (revoked ones too: the caller says why it is refused)."""
    return session.scalars(select(m.ApiKey).where(m.ApiKey.key_hash == hashed)).first()
