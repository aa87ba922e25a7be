"""Devices: add one, ask which architectures to measure on it, upload what it measured.

Onboarding a device the service cannot measure itself (a phone, an accelerator elsewhere):
`POST /api/devices` registers it, `GET /api/devices/{name}/onboarding?space=&k=` answers the K
architectures to measure (spread over how the known devices see the space; ``.../onboarding/models.zip``
the same as models to run and a CSV to fill in), and
`POST /api/devices/{name}/measurements` takes their latencies (CSV or JSON), fits a predictor
from the other devices' and stores it; jobs on the device then get ``latency_ms`` from it.
The work is `workers.operations.devices`; these routes only call it.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, status
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse

from service.api.deps import ApiKeyDep, DbDep, SettingsDep
from service.exports.onboarding import onboarding_models
from workers.operations.devices import (
    Design,
    DesignRequest,
    DeviceAddRequest,
    Onboarded,
    UploadRequest,
    add_device,
    onboarding_design,
    upload_measurements,
)

router = APIRouter(prefix="/devices", tags=["devices"])


@router.post("", status_code=status.HTTP_201_CREATED, dependencies=[ApiKeyDep])
async def create_device(body: DeviceAddRequest, db: DbDep, settings: SettingsDep) -> dict[str, Any]:
    """Register an external device (its latency comes from uploads, not from measuring here)."""
    return await run_in_threadpool(add_device, db, settings, body)


def _design(
    name: str,
    space: Annotated[str, Query(description="Search space of the architectures to measure.")],
    k: Annotated[int, Query(ge=3, le=500, description="How many architectures.")] = 20,
    dataset: Annotated[str | None, Query(description="Take the input shape from this dataset.")] = None,
) -> DesignRequest:
    return DesignRequest(device=name, space=space, k=k, dataset=dataset)


DesignDep = Annotated[DesignRequest, Depends(_design)]


@router.get("/{name}/onboarding")
async def onboarding(request: DesignDep, db: DbDep, settings: SettingsDep) -> Design:
    """The K architectures to measure on the device, as architecture specs."""
    return await run_in_threadpool(onboarding_design, db, settings, request)


@router.get("/{name}/onboarding/models.zip")
async def onboarding_zip(request: DesignDep, db: DbDep, settings: SettingsDep) -> FileResponse:
    """The same K architectures as models to run on the device (ONNX, ``.pt2``, standalone ``.py``
    per folder) and ``measurements.csv`` to fill in and upload."""
    path = await run_in_threadpool(onboarding_models, db, settings, request)
    return FileResponse(path, media_type="application/zip", filename=f"{request.device}-{request.space}-onboarding.zip")


@router.post("/{name}/measurements", status_code=status.HTTP_201_CREATED, dependencies=[ApiKeyDep])
async def measurements(name: str, body: UploadRequest, db: DbDep, settings: SettingsDep) -> Onboarded:
    """Latencies measured on the device (``text``: CSV ``arch,latency_ms`` or JSON rows). Every bad
    row is a 422 naming its row and column, and nothing is stored; else the fitted predictor."""
    request = body.model_copy(update={"device": name})
    return await run_in_threadpool(upload_measurements, db, settings, request)
