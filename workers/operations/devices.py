"""Onboarding a new device from a few measurements (`predictors.onboarding`).

`add_device` registers an external device; `onboarding_design` answers which K architectures
to measure on it (spread over how the known devices' latency predictors see the space);
`upload_measurements` checks an uploaded CSV/JSON of ``arch, latency_ms`` rows — every error
names its row and column and nothing is stored — then fits a `TransferPredictor` on the stored
latency predictors of the other devices, scores it by leave-one-out, and stores it as a
``predictor`` artifact labelled with the device, which a job on that device then uses for
``latency_ms`` (evaluator ``predictor``).
"""

from __future__ import annotations

import csv
import io
import json
import math
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from pydantic import Field

from core.errors import NasError
from evaluators.devices import Device
from predictors import Featurizer, load_predictor
from predictors.onboarding import TransferPredictor, design
from predictors.validation import quality
from search_spaces import Architecture, get_space
from store import artifacts as art_repo
from store import latency as lut_repo
from store.measurements import save_predictor
from workers.operations.common import Request, Result, ShapeFields

if TYPE_CHECKING:
    from predictors import Predictor
    from store.session import Database
    from store.settings import Settings

POOL = 5000  # candidates the design chooses from, where the space is larger


class DeviceAddRequest(Request):
    name: str = Field(description="Device name (a-z, 0-9, '.', '_', '-').")
    kind: str = Field(default="external", description="What it is (phone, gpu, cpu, mcu, ...).")
    description: str = ""


class DesignRequest(ShapeFields):
    device: str
    space: str
    k: int = Field(default=20, ge=3, le=500, description="Architectures to measure.")


class Design(Result):
    device: str
    space: str
    k: int
    sources: list[str]
    archs: list[dict[str, Any]]  # Architecture.to_dict()


class UploadRequest(ShapeFields):
    device: str = Field(default="", description="The device (REST: from the path).")
    space: str
    text: str = Field(description="CSV (header arch,latency_ms) or JSON rows [{arch, latency_ms}].")
    format: Literal["csv", "json"] = "csv"
    k: int | None = Field(default=None, ge=3, description="Rows required (default: what the design asked for).")


class Onboarded(Result):
    device: str
    artifact_id: str
    name: str
    n: int
    sources: list[str]
    cv: dict[str, Any]


def add_device(db: Database, settings: Settings, request: DeviceAddRequest) -> dict[str, Any]:
    device = Device(request.name, request.kind, "external", description=request.description)
    with db.session() as s:
        if request.name in {d.name for d in lut_repo.list_devices(s)}:
            raise NasError(f"name: device {request.name!r} already exists")
        lut_repo.save_device(s, device)
    return device.to_dict()


def _sources(db: Database, settings: Settings, space: str, shape: dict[str, int], device: str) -> dict[str, Predictor]:
    """The newest stored latency predictor per other device (label), for this space and shape."""
    out: dict[str, Predictor] = {}
    fz = Featurizer(space, shape, op_counts=True)
    with db.session() as s:
        rows = art_repo.find_artifacts(s, "predictor", space=space, metric="latency_ms", shape=dict(shape))
        for row in rows:  # newest first
            label = row.info.get("label") or ""
            if not label or label == device or label in out or row.info.get("feature_version") != fz.version:
                continue
            out[label] = load_predictor(art_repo.verify(settings.artifacts, row))
    if not out:
        raise NasError(
            f"no latency predictors of other devices for {space} at {shape}: train one first "
            f"(`nas predictor train --space {space} --metric latency_ms --table ... --device ...`)"
        )
    return out


def _pool(space_name: str) -> list[Architecture]:
    """Up to `POOL` distinct seeded samples of the space: what the design picks from."""
    space = get_space(space_name)
    rng = np.random.default_rng(0)
    return list({a.arch_id: a for a in (space.sample(rng) for _ in range(POOL))}.values())


def onboarding_design(db: Database, settings: Settings, request: DesignRequest) -> Design:
    with db.session() as s:
        lut_repo.get_device(s, request.device)
    shape = request.shape()
    sources = _sources(db, settings, request.space, shape, request.device)
    pool = _pool(request.space)
    x = next(iter(sources.values())).featurizer.transform(pool)
    s_mat = np.column_stack([p.predict(x).mean for p in sources.values()])
    pick = design(np.log(np.maximum(s_mat, 1e-9)), request.k, seed=0)
    with db.session() as s:
        row = s.get(_device_model(), request.device)
        if row is not None:  # remember what was asked, so an upload with fewer rows is refused
            row.info = {**(row.info or {}), "onboarding": {request.space: request.k}}
    return Design(
        device=request.device,
        space=request.space,
        k=request.k,
        sources=list(sources),
        archs=[pool[i].to_dict() for i in pick],
    )


def _device_model() -> Any:
    from store import models as m

    return m.Device


def parse_measurements(space_name: str, text: str, fmt: str) -> tuple[list[Architecture], np.ndarray]:
    """Rows of ``arch`` (benchmark string, space-separated genome, or architecture JSON) and
    ``latency_ms``; every error names its row and column."""
    space = get_space(space_name)
    if fmt == "json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as e:
            raise NasError(f"measurements: malformed JSON ({e})") from None
        rows = data.get("rows") if isinstance(data, dict) else data
        if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
            raise NasError("measurements: JSON must be a list of {arch, latency_ms} objects (or {'rows': [...]})")
    else:
        reader = csv.DictReader(io.StringIO(text))
        if reader.fieldnames is None or {"arch", "latency_ms"} - set(reader.fieldnames):
            raise NasError(f"measurements: the CSV header must have arch and latency_ms; got {reader.fieldnames}")
        rows = list(reader)
    archs, values, seen = [], [], {}
    for i, r in enumerate(rows, start=1):
        raw = r.get("arch")
        try:
            if isinstance(raw, dict) or (isinstance(raw, str) and raw.strip().startswith("{")):
                d = json.loads(raw) if isinstance(raw, str) else raw
                if d.get("space") not in (None, space_name):
                    raise NasError(f"is for space {d.get('space')!r}, not {space_name!r}")
                arch = space.from_genome(list(d["genome"]))
            elif isinstance(raw, list):
                arch = space.from_genome(raw)
            elif isinstance(raw, str) and space_name == "nb201" and raw.startswith("|"):
                arch = space.from_arch_str(raw)  # type: ignore[attr-defined]
            elif isinstance(raw, str) and raw.strip():
                arch = space.from_genome(raw.split())
            else:
                raise NasError("is missing")
        except (NasError, KeyError, TypeError, ValueError) as e:
            raise NasError(f"measurements row {i}, column arch: {raw!r} {e}") from None
        try:
            value = float(r.get("latency_ms"))  # type: ignore[arg-type]
        except (TypeError, ValueError):
            raise NasError(
                f"measurements row {i}, column latency_ms: {r.get('latency_ms')!r} is not a number"
            ) from None
        if not math.isfinite(value) or value <= 0:
            raise NasError(f"measurements row {i}, column latency_ms: {value} must be a positive number of ms")
        if arch.arch_id in seen:
            raise NasError(f"measurements row {i}, column arch: the same architecture as row {seen[arch.arch_id]}")
        seen[arch.arch_id] = i
        archs.append(arch)
        values.append(value)
    return archs, np.asarray(values)


def upload_measurements(db: Database, settings: Settings, request: UploadRequest) -> Onboarded:
    with db.session() as s:
        device = lut_repo.get_device(s, request.device)
        row = s.get(_device_model(), request.device)
        asked = ((row.info or {}).get("onboarding") or {}).get(request.space) if row is not None else None
    archs, y = parse_measurements(request.space, request.text, request.format)
    need = request.k or asked or 3
    if len(y) < need:
        raise NasError(f"measurements: {len(y)} rows, but {need} were asked for (rows 1..{need})")
    shape = request.shape()
    sources = _sources(db, settings, request.space, shape, device.name)
    fz = next(iter(sources.values())).featurizer
    x = fz.transform(archs)
    model = TransferPredictor(featurizer=fz, metric="latency_ms", label=device.name).with_sources(sources)
    loo = []
    for i in range(len(y)):  # leave-one-out: every measurement scored by a fit without it
        keep = np.arange(len(y)) != i
        loo.append(float(model.unfitted_twin().fit(x[keep], y[keep]).predict(x[i : i + 1]).mean[0]))
    q = quality(y, np.asarray(loo))
    model.cv = {"k": len(y), "mean": q.to_dict(), "folds": []}
    model.fit(x, y)
    model.source = {
        "device": device.name,
        "sources": list(sources),
        "measurements": [[a.arch_id, float(v)] for a, v in zip(archs, y, strict=True)],
    }
    name = f"{request.space}-latency_ms-{device.name}-onboarded-{len(y)}"
    artifact_id = save_predictor(db, settings, model, [a.arch_id for a in archs], name=name)
    return Onboarded(
        device=device.name, artifact_id=artifact_id, name=name, n=len(y), sources=list(sources), cv=model.cv
    )
