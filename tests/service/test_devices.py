"""Onboarding a device over REST only: add it, ask what to measure, upload what it measured (bad
uploads refused with nothing stored), then a job on it gets latency from the fitted predictor."""

from __future__ import annotations

import csv
import io
import json
import zipfile
from pathlib import Path

import numpy as np
import onnxruntime
from fastapi.testclient import TestClient

from predictors import load_predictor
from search_spaces import Architecture, get_space
from store.measurements import predictor_folder
from store.session import Database
from store.settings import Settings
from tests.service.conftest import KEY, wait
from workers.operations import PredictorFitRequest, TableImportRequest, fit_predictor, import_table

DATA = Path(__file__).parents[1] / "data"
DECLARE = {"cifar10_test": "accuracy:%", "cifar10_valid_12ep": "ignore"}


def source_devices(db: Database, settings: Settings) -> None:
    """Latency predictors of two known devices (the Pi 4 and Pixel 3 columns of a NAS-Bench-201 sample)."""
    table = import_table(db, settings, TableImportRequest.from_file(DATA / "nb201_sample.csv", space="nb201",
                                                                    columns=DECLARE)).table_id  # fmt: skip
    for column in ("hwnb_raspi4_lat_ms", "hwnb_pixel3_lat_ms"):
        request = PredictorFitRequest(space="nb201", metric="latency_ms", table=table, column=column,
                                      dataset="cifar10", cv=0, members=2)  # fmt: skip
        fit_predictor(db, settings, request)


def test_a_device_is_onboarded_over_rest_and_a_job_uses_it(api: TestClient, db: Database, tmp_path: Path) -> None:
    settings = Settings(home=tmp_path, database_url=db.url)
    source_devices(db, settings)
    created = api.post("/api/devices", json={"name": "newphone", "kind": "phone"}, headers=KEY)
    assert created.status_code == 201, created.text
    assert api.post("/api/devices", json={"name": "newphone"}, headers=KEY).status_code == 422
    assert api.post("/api/devices", json={"name": "other"}).status_code == 401
    too_many = api.get("/api/devices/newphone/onboarding/models.zip", params={"space": "nb201", "k": 101})
    assert too_many.status_code == 422 and "k: at most 100" in too_many.json()["message"], too_many.text
    models = api.get(
        "/api/devices/newphone/onboarding/models.zip", params={"space": "nb201", "k": 3, "dataset": "cifar10"}
    )
    assert models.status_code == 200, models.text
    with zipfile.ZipFile(io.BytesIO(models.content)) as z:
        rows = list(csv.DictReader(io.StringIO(z.read("measurements.csv").decode())))
        assert len(rows) == 3 and all(r["latency_ms"] == "" for r in rows)
        for r in rows:  # each row's folder holds runnable models of exactly that architecture
            arch = Architecture.from_dict(json.loads(r["arch"]))
            assert json.loads(z.read(f"{r['folder']}/arch.json"))["arch_id"] == arch.arch_id
            session = onnxruntime.InferenceSession(z.read(f"{r['folder']}/model.onnx"))
            assert session.run(None, {session.get_inputs()[0].name: np.zeros((1, 3, 32, 32), np.float32)})[0].shape == (
                1,
                10,
            )
    design = api.get("/api/devices/newphone/onboarding", params={"space": "nb201", "k": 8, "dataset": "cifar10"})
    assert design.status_code == 200, design.text
    archs = [Architecture.from_dict(a) for a in design.json()["archs"]]
    assert len({a.arch_id for a in archs}) == 8

    space = get_space("nb201")
    pixel3 = load_predictor(predictor_folder(db, settings, "nb201-latency_ms-hwnb_pixel3_lat_ms-400")[0])
    latencies = 1.3 * pixel3.predict_archs(archs).mean  # the new phone: a slower Pixel 3
    rows = [f"{space.to_arch_str(a)},{v}" for a, v in zip(archs, latencies, strict=True)]

    def upload(lines: list[str]) -> object:
        body = {"space": "nb201", "dataset": "cifar10", "text": "arch,latency_ms\n" + "\n".join(lines)}
        return api.post("/api/devices/newphone/measurements", json=body, headers=KEY)

    bad = upload([rows[0], rows[1].split(",")[0] + ",-3", *rows[2:]])
    assert bad.status_code == 422 and "row 2, column latency_ms" in bad.json()["message"]
    done = upload(rows)
    assert done.status_code == 201, done.text
    predictor_id = done.json()["artifact_id"]

    job = {
        "space": "nb201",
        "dataset": "cifar10",
        "device": "newphone",
        "objectives": [{"metric": "latency_ms", "evaluator": "latency_lut"}, {"metric": "params"}],
        "strategy": {"name": "random"},
        "budget": {"candidates": 12},
        "batch_size": 6,
    }
    refused = api.post("/api/jobs", json=job, headers=KEY)  # a table named explicitly: the phone has none
    assert refused.status_code == 422 and "has no latency table" in refused.json()["message"], refused.text
    job["objectives"] = [{"metric": "latency_ms"}, {"metric": "params"}]  # the default: the onboarded predictor
    submitted = api.post("/api/jobs", json=job, headers=KEY)
    assert submitted.status_code == 201, submitted.text
    finished = wait(api, submitted.json()["id"])
    assert finished["state"] == "succeeded", finished
    cands = api.get(f"/api/jobs/{finished['id']}/candidates").json()["data"]
    assert len(cands) == 12 and all(c["status"] == "ok" for c in cands)
    produced = [c["provenance"]["latency_ms"]["predictors"]["latency_ms"] for c in cands]
    assert {p["id"] for p in produced} == {predictor_id} and {p["kind"] for p in produced} == {"transfer"}
    assert finished["spec"]["objectives"][0]["evaluator"] == "predictor"
