"""What operations produced: supernets, predictors, imported tables, DASS searches (stored
artifacts) and latency tables, each with its metadata and quality figures."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from service.api.deps import SessionDep
from store import artifacts as repo
from store import latency as lut_repo
from store import models as m
from store.jobs import NotFoundError

router = APIRouter(prefix="/artifacts", tags=["artifacts"])

LATENCY_TABLE = "latency_table"  # kept in their own tables (per-operator entries), listed here alike
KINDS = ("supernet", "predictor", "table", "dass_search", LATENCY_TABLE)


def _artifact(row: m.Artifact) -> dict[str, Any]:
    return {"id": row.id, "kind": row.kind, "name": row.name, "sha256": row.sha256, "info": row.info,
            "created_at": row.created_at}  # fmt: skip


def _table(t: m.LatencyTable) -> dict[str, Any]:
    name = f"{t.device} {t.space} {t.in_channels}x{t.input_size}x{t.input_size}"
    info = {"device": t.device, "space": t.space, "status": t.status, "source": t.source,
            "num_classes": t.num_classes, "overhead_ms": t.overhead_ms, **t.info}  # fmt: skip
    return {"id": t.id, "kind": LATENCY_TABLE, "name": name, "sha256": None, "info": info, "created_at": t.created_at}


@router.get("")
def list_artifacts(
    session: SessionDep,
    kind: Annotated[str | None, Query(description="supernet, predictor, table, dass_search or latency_table")] = None,
) -> list[dict[str, Any]]:
    """Every artifact (newest first), or those of ``kind``; ``info`` holds what produced it and how
    good it is (a supernet's extremes' accuracy, a predictor's cross-validated figures, a latency
    table's validation report)."""
    if kind is not None and kind not in KINDS:
        raise NotFoundError(f"no artifact kind {kind!r}; kinds: {', '.join(KINDS)}")
    out = [] if kind == LATENCY_TABLE else [_artifact(r) for r in repo.list_artifacts(session, kind)]
    if kind in (None, LATENCY_TABLE):
        out += [_table(t) for t in lut_repo.list_tables(session)]
    return sorted(out, key=lambda a: a["created_at"], reverse=True)


@router.get("/{artifact_id}")
def get_artifact(artifact_id: str, session: SessionDep) -> dict[str, Any]:
    """One artifact by id (or, for stored artifacts, the newest with that name)."""
    table = session.get(m.LatencyTable, artifact_id)
    return _table(table) if table is not None else _artifact(repo.get_artifact(session, artifact_id))
