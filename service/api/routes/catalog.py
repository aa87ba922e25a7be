"""What a job can name: spaces, datasets, devices, strategies, evaluators, latency tables."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from fastapi import APIRouter

from core.metrics import METRICS
from evaluators import EVALUATORS
from evaluators.datasets import DATASETS, dataset_info
from search_spaces import SPACES, get_space
from search_spaces.base import choices_of
from service.api.deps import SessionDep
from store import latency as lut_repo
from store.jobs import NotFoundError
from workers.strategies import STRATEGIES

router = APIRouter(tags=["catalog"])


def _space(name: str) -> dict[str, Any]:
    sp = get_space(name)
    return {
        "name": name,
        "version": sp.version,
        "description": sp.description,
        "cardinality": sp.cardinality(),
        "raw_cardinality": sp.raw_cardinality(),
        "genes": {g: list(choices_of(d)) for g, d in sp.distributions().items()},
        "references": {k: a.to_dict() for k, a in sp.references().items()},
    }


@router.get("/spaces")
def spaces() -> list[dict[str, Any]]:
    return [_space(n) for n in SPACES.names()]


@router.get("/spaces/{name}")
def space(name: str) -> dict[str, Any]:
    if name not in SPACES:
        raise NotFoundError(f"no search space {name!r}; known: {', '.join(SPACES.names())}")
    return _space(name)


@router.get("/datasets")
def datasets() -> list[dict[str, Any]]:
    return [vars(dataset_info(n)) for n in DATASETS.names()]


@router.get("/devices")
def devices(session: SessionDep) -> list[dict[str, Any]]:
    return [d.to_dict() | {"measurable": d.measurable} for d in lut_repo.list_devices(session)]


@router.get("/latency-tables")
def latency_tables(session: SessionDep) -> list[dict[str, Any]]:
    return [
        {
            "id": t.id,
            "device": t.device,
            "space": t.space,
            "status": t.status,
            "source": t.source,
            "input": [t.in_channels, t.input_size, t.input_size],
            "num_classes": t.num_classes,
            "overhead_ms": t.overhead_ms,
            "info": t.info,
            "created_at": t.created_at,
        }
        for t in lut_repo.list_tables(session)
    ]


@router.get("/strategies")
def strategies() -> list[str]:
    return STRATEGIES.names()


@router.get("/evaluators")
def evaluators() -> list[dict[str, Any]]:
    """Each evaluator: the metrics it produces (null: those of its table or predictors), the JSON
    schema of its job options (``"evaluators": {name: {...}}``) and what the worker resolves for it."""
    out = []
    for name in EVALUATORS.names():
        cls = EVALUATORS.get(name)
        needs = [type(n).__name__ for n in cls.needs]
        out.append({"name": name, "metrics": cls.produces, "options": cls.Options.model_json_schema(), "needs": needs})
    return out


@router.get("/metrics")
def metrics() -> dict[str, dict[str, Any]]:
    """Each metric's record: direction, unit, log scale, scope, hypervolume reference, default evaluator."""
    return {name: asdict(m) for name, m in METRICS.items()}
