"""Artifacts in the database: files under the artifact root (supernet checkpoints, predictors, exports).

A row records the kind, a name, the path *relative to the artifact root*, the file's sha256 and an
``info`` JSON with what the file is for (e.g. ``space``, ``dataset``, ``epochs`` for a supernet).
Lookups filter on ``info`` keys in Python, so they work the same on SQLite and PostgreSQL.
"""

from __future__ import annotations

import hashlib
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from core.errors import NasError
from store import models as m
from store.jobs import NotFoundError

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

CHUNK = 1 << 20


def new_artifact_id() -> str:
    return uuid.uuid4().hex


def file_sha256(path: Path) -> str:
    """sha256 of a file; of a folder, of its sorted ``relative path + file hash`` lines."""
    if path.is_dir():
        lines = [f"{p.relative_to(path).as_posix()} {file_sha256(p)}\n" for p in sorted(path.rglob("*")) if p.is_file()]
        return hashlib.sha256("".join(lines).encode()).hexdigest()
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(CHUNK):
            digest.update(block)
    return digest.hexdigest()


def register_artifact(
    session: Session,
    *,
    root: Path,
    path: Path,
    kind: str,
    name: str,
    info: dict[str, Any] | None = None,
    artifact_id: str | None = None,
) -> m.Artifact:
    """Record the file or folder ``path`` (which must lie under ``root``) with its sha256."""
    root, path = Path(root).resolve(), Path(path).resolve()
    if not path.is_relative_to(root):
        raise NotFoundError(f"artifact path {path} is not under the artifact root {root}")
    if not path.exists():
        raise NotFoundError(f"artifact path {path} does not exist")
    row = m.Artifact(
        id=artifact_id or new_artifact_id(),
        kind=kind,
        name=name,
        path=path.relative_to(root).as_posix(),
        sha256=file_sha256(path),
        info=dict(info or {}),
    )
    session.add(row)
    session.flush()
    return row


def get_artifact(session: Session, ref: str, *, kind: str | None = None) -> m.Artifact:
    """The artifact whose id is ``ref``, else the newest one named ``ref`` (of ``kind`` when given)."""
    row = session.get(m.Artifact, ref)
    if row is not None and (kind is None or row.kind == kind):
        return row
    query = select(m.Artifact).where(m.Artifact.name == ref)
    if kind is not None:
        query = query.where(m.Artifact.kind == kind)
    row = session.scalars(query.order_by(m.Artifact.created_at.desc()).limit(1)).first()
    if row is None:
        what = f"{kind} artifact" if kind else "artifact"
        raise NotFoundError(f"no {what} with id or name {ref!r}")
    return row


def list_artifacts(session: Session, kind: str | None = None) -> list[m.Artifact]:
    """Every artifact, or those of ``kind``, newest first."""
    query = select(m.Artifact) if kind is None else select(m.Artifact).where(m.Artifact.kind == kind)
    return list(session.scalars(query.order_by(m.Artifact.created_at.desc())))


def find_artifacts(session: Session, kind: str, **info: Any) -> list[m.Artifact]:
    """Artifacts of ``kind`` whose ``info`` has every given key with the given value, newest first."""
    rows = session.scalars(select(m.Artifact).where(m.Artifact.kind == kind).order_by(m.Artifact.created_at.desc()))
    return [r for r in rows if all(r.info.get(k) == v for k, v in info.items())]


def latest(session: Session, kind: str, **info: Any) -> m.Artifact | None:
    """The newest artifact of ``kind`` matching ``info``, if any."""
    found = find_artifacts(session, kind, **info)
    return found[0] if found else None


def resolve_path(root: Path, row: m.Artifact) -> Path:
    """The artifact's absolute path; refuses stored paths that lead outside ``root``."""
    root = Path(root).resolve()
    path = (root / row.path).resolve()
    if not path.is_relative_to(root):
        raise NotFoundError(f"artifact {row.id}: stored path {row.path!r} leads outside the artifact root")
    return path


def verify(root: Path, row: m.Artifact) -> Path:
    """The artifact's path after checking that it exists and still has the recorded sha256."""
    path = resolve_path(root, row)
    if not path.exists():
        raise NotFoundError(f"artifact {row.id} ({row.name}): file {path} is missing")
    if row.sha256 and file_sha256(path) != row.sha256:
        raise NasError(f"artifact {row.id} ({row.name}): {path} does not match its recorded sha256")
    return path
