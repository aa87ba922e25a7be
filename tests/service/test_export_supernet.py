"""A candidate scored by the supernet is downloaded with the weights it was scored with: with the
inherited readout the exported program reproduces its stored accuracy exactly."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from fastapi.testclient import TestClient

from evaluators.datasets import load_split
from service.main import create_app
from store.session import Database
from store.settings import Settings
from tests.service.conftest import KEY, spec, wait
from tests.workers.test_supernet_train import register_untrained


def test_supernet_candidates_export_inherited_weights(sqlite_db: Database, tmp_path: Path, ray_cluster: None) -> None:
    settings = Settings(
        home=tmp_path, database_url=sqlite_db.url, api_key="test-key", lease_seconds=5, ray_num_cpus=2, pool_size=1
    )
    artifact_id = register_untrained(settings, sqlite_db)
    body = spec(
        objectives=[{"metric": "accuracy"}, {"metric": "params"}],
        constraints=[],
        strategy={"name": "random"},
        budget={"candidates": 2},
        batch_size=2,
        evaluators={"supernet": {"recal_images": 32, "val_limit": 64, "readout": "inherited"}},
    )
    with TestClient(create_app(settings)) as api:
        job = wait(api, api.post("/api/jobs", json=body, headers=KEY).json()["id"], timeout=180)
        assert job["state"] == "succeeded", job["error"]
        cand = api.get(f"/api/jobs/{job['id']}/candidates/0").json()
        base = f"/api/jobs/{job['id']}/candidates/0/files"
        manifest = api.get(f"{base}/arch.json").json()
        (tmp_path / "model.pt2").write_bytes(api.get(f"{base}/model.pt2").content)
    weights = manifest["weights"]
    assert weights["source"] == "supernet" and weights["artifact_id"] == artifact_id
    assert weights["bn_recalibrated_on"] == 32 and weights["width"] == 0.25
    assert weights["readout"].startswith("inherited: the stored accuracy is these weights'")
    assert "width-0.25 subnet" in manifest["load"]["weights"]  # not loadable into space.build(arch)
    program = torch.export.load(str(tmp_path / "model.pt2")).module()
    val = load_split("digits", "val", data_dirs=settings.data_dirs, limit=64)
    with torch.no_grad():
        predicted = program(torch.from_numpy(val.x)).argmax(dim=1).numpy()
    accuracy = float(np.mean(predicted == val.y))
    assert accuracy == cand["metrics"]["accuracy"] == manifest["metrics"]["accuracy"]
    assert json.dumps(manifest["produced_by"]["accuracy"]).count(artifact_id) == 1
