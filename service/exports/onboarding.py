"""The architectures a device onboarding asks for, as models to run on the device: a zip of one
export bundle per architecture (ONNX, `torch.export`, standalone ``.py``, weights, ``arch.json``)
and a ``measurements.csv`` to fill in and upload. The weights are freshly initialised: latency
does not depend on them."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import TYPE_CHECKING

from core.errors import NasError
from search_spaces import Architecture
from service.exports.bundle import zip_front
from workers.operations.devices import DesignRequest, onboarding_design

if TYPE_CHECKING:
    from store.session import Database
    from store.settings import Settings

MAX_MODELS = 100  # models one zip holds: each costs an export on first request


def onboarding_models(db: Database, settings: Settings, request: DesignRequest) -> Path:
    """A zip of the design's K architectures as export bundles, with ``measurements.csv``."""
    if request.k > MAX_MODELS:
        raise NasError(f"k: at most {MAX_MODELS} models in one zip (each is an export), got {request.k}")
    design = onboarding_design(db, settings, request)
    shape = request.shape()
    c, hw, n = shape["in_channels"], shape["input_size"], shape["num_classes"]
    dataset = request.dataset or f"shape:{c}x{hw}x{hw}:{n}"  # a shape-only dataset when none is named
    job = {
        "id": f"onboarding-{design.device}-{design.space}-{dataset.replace(':', '_')}-{design.k}",
        "spec": {"dataset": dataset, "device": design.device, "objectives": [{"metric": "latency_ms"}]},
    }
    archs = [Architecture.from_dict(a) for a in design.archs]
    candidates = [
        {"seq": i, "arch_id": a.arch_id, "arch": a.to_dict(), "metrics": {}, "provenance": {}}
        for i, a in enumerate(archs, start=1)
    ]
    text = io.StringIO()  # the CSV to fill in: the arch column as the upload reads it, and each model's folder
    writer = csv.writer(text)
    writer.writerow(["arch", "latency_ms", "folder"])
    writer.writerows([json.dumps(a.to_dict()), "", f"{i}-{a.arch_id}"] for i, a in enumerate(archs, start=1))
    return zip_front(settings.artifacts, job=job, candidates=candidates, extra={"measurements.csv": text.getvalue()})
