"""Downloads of networks whose outputs are far from 1, and of bundles in which one format fails.

The ONNX check is relative to the output's scale: a NASNet on digits (outputs near 340) differs
from ONNX Runtime by about 2e-4 in absolute terms, which a fixed 1e-4 bound took for a broken
export, and the failure took the whole bundle (``arch.json`` included) and ``front.zip`` down.
"""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
import pytest
import torch
from fastapi.testclient import TestClient

from core.spec import JobSpec
from search_spaces import Architecture, get_space
from service.exports import bundle
from service.main import create_app
from store import jobs as repo
from store.session import Database
from store.settings import Settings
from tests.service.conftest import KEY

DIGITS = {"in_channels": 1, "input_size": 8, "num_classes": 10}
# a small NASNet (N=1, f=8: exports in seconds) whose fresh-weight outputs reach ~340 on digits
NASNET = (
    "cat(conv1x1@0,conv1x7_7x1@1) cat(sep3x3@0,conv1x3_3x1@1) add(avg3x3@0,max5x5@2) "
    "cat(avg3x3@1,sep3x3@4) add(max3x3@3,max7x7@4) keep=4",
    "cat(max3x3@0,max7x7@0) add(conv3x3@1,max5x5@2) add(sep3x3@0,conv1x7_7x1@3) "
    "cat(id@2,max3x3@2) add(avg3x3@1,avg3x3@5) keep=3",
    "N=1 f=8 stem=1",
)


def _finished_job(db: Database, genome: tuple[str, ...]) -> str:
    """A succeeded nasnet job on digits holding one candidate (seq 0), the whole front."""
    spec = JobSpec.model_validate(
        {
            "space": "nasnet",
            "dataset": "digits",
            "objectives": [{"metric": "params"}],
            "strategy": {"name": "random"},
            "budget": {"candidates": 1},
        }
    )
    space = get_space("nasnet")
    arch = Architecture(space="nasnet", version=space.version, genome=genome)
    space.validate(arch)
    params = float(space.cost(arch, **DIGITS).params)
    with db.session() as s:
        job, _ = repo.create_job(
            s, spec=spec.model_dump(mode="json"), spec_hash=spec.digest(), budget=1, name=None, idempotency_key=None
        )
        job_id = job.id
    with db.session() as s:
        assert repo.claim_job(s, job_id=job_id, owner="test", ttl=60)
    with db.session() as s:
        row = repo.CandidateRow(
            arch.arch_id, arch.to_dict(), "ok", metrics={"params": params}, provenance={"params": {"evaluator": "cost"}}
        )
        front = repo.FrontUpdate(step=1, hypervolume=0.0, reference_point=[params * 1.1], members=[0])
        repo.record_batch(s, job_id=job_id, owner="test", ttl=60, rows=[row], front=front, phase="done")
    with db.session() as s:
        repo.finish_job(s, job_id=job_id, owner="test", state="succeeded")
    return job_id


@pytest.fixture
def client(sqlite_db: Database, tmp_path: Path, ray_cluster: None) -> Iterator[TestClient]:
    settings = Settings(
        home=tmp_path, database_url=sqlite_db.url, api_key="test-key", lease_seconds=3, ray_num_cpus=2, pool_size=1
    )
    with TestClient(create_app(settings)) as c:
        yield c


def _json(client: TestClient, url: str) -> Any:
    r = client.get(url, headers=KEY)
    assert r.status_code == 200, r.text
    return r.json()


def test_nasnet_onnx_arch_json_and_front_zip_download(client: TestClient, sqlite_db: Database, tmp_path: Path) -> None:
    job_id = _finished_job(sqlite_db, NASNET)
    base = f"/api/jobs/{job_id}/candidates/0/files"
    manifest = _json(client, f"{base}/arch.json")
    assert manifest["failed"] == {} and set(manifest["files"]) == set(bundle.FILES)
    onnx_check = manifest["checks"]["onnx"]
    assert onnx_check["output_scale"] > 10  # outputs far from 1: where the absolute bound failed
    assert onnx_check["relative_diff"] <= bundle.ONNX_RTOL and onnx_check["rtol"] == bundle.ONNX_RTOL
    assert onnx_check["max_abs_diff"] == manifest["checks"]["onnx_max_abs_diff"]

    r = client.get(f"{base}/model.onnx")
    assert r.status_code == 200, r.text
    (tmp_path / "model.onnx").write_bytes(r.content)
    arch = Architecture.from_dict(manifest["architecture"])
    torch.manual_seed(bundle.INIT_SEED)
    model = get_space("nasnet").build(arch, **DIGITS).eval()
    x = torch.randn(3, 1, 8, 8, generator=torch.Generator().manual_seed(5))
    session = ort.InferenceSession(str(tmp_path / "model.onnx"), providers=["CPUExecutionProvider"])
    (got,) = session.run(None, {session.get_inputs()[0].name: x.numpy()})
    with torch.no_grad():
        want = model(x).numpy()
    assert np.abs(got - want).max() <= bundle.ONNX_RTOL * np.abs(want).max()  # dynamic batch, same weights

    r = client.get(f"/api/jobs/{job_id}/front.zip")
    assert r.status_code == 200, r.text
    with zipfile.ZipFile(io.BytesIO(r.content)) as z:
        (member,) = json.loads(z.read("manifest.json"))["members"]
        assert member["failed"] == {} and set(member["files"]) == set(bundle.ALL_FILES)
        assert json.loads(z.read(f"{member['folder']}/arch.json"))["arch_id"] == arch.arch_id


def test_a_failing_format_leaves_the_other_files_served(
    client: TestClient, sqlite_db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(model: torch.nn.Module, example: torch.Tensor, path: Path, title: str) -> dict[str, Any]:
        path.write_bytes(b"half a file")  # a partial file must not be served
        raise RuntimeError("the exporter gave up")

    monkeypatch.setitem(bundle.BUILDERS, "model.onnx", broken)
    job_id = _finished_job(sqlite_db, NASNET)
    base = f"/api/jobs/{job_id}/candidates/0/files"
    manifest = _json(client, f"{base}/arch.json")
    assert manifest["failed"] == {"model.onnx": "RuntimeError: the exporter gave up"}
    assert set(manifest["files"]) == {"model.safetensors", "model.pt2", "model.py"}
    for name in manifest["files"]:
        assert client.get(f"{base}/{name}").status_code == 200, name
    r = client.get(f"{base}/model.onnx")
    assert r.status_code == 422
    assert "model.onnx could not be built" in r.json()["message"] and "the exporter gave up" in r.json()["message"]
    listing = _json(client, base)
    assert set(listing["files"]) == set(manifest["files"]) and "model.onnx" in listing["failed"]

    r = client.get(f"/api/jobs/{job_id}/front.zip")
    assert r.status_code == 200, r.text
    with zipfile.ZipFile(io.BytesIO(r.content)) as z:
        (member,) = json.loads(z.read("manifest.json"))["members"]
        assert member["failed"] == manifest["failed"] and "model.onnx" not in member["files"]
        assert f"{member['folder']}/model.onnx" not in z.namelist()
        assert f"{member['folder']}/arch.json" in z.namelist()


def test_tiny_outputs_are_checked_relative_to_their_scale(tmp_path: Path) -> None:
    """A mismatch far below 1e-4 in absolute terms is still caught when the outputs are tiny, and a
    BatchNorm-recalibrated copy with O(1) outputs is checked too."""

    class Scaled(torch.nn.Module):
        def __init__(self, factor: float) -> None:
            super().__init__()
            self.conv = torch.nn.Conv2d(1, 4, 3)
            self.bn = torch.nn.BatchNorm2d(4)
            self.head = torch.nn.Linear(4, 10)
            self.factor = factor

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            y = torch.relu(self.bn(self.conv(x))).mean((2, 3))
            return self.head(y) * self.factor

    example = torch.randn(2, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    model = Scaled(1e-20).eval()
    check = bundle._onnx(model, example, tmp_path / "m.onnx")
    assert check["output_scale"] < 1e-15 and check["relative_diff"] <= bundle.ONNX_RTOL
    assert isinstance(check["o1_check"], dict) and check["o1_check"]["relative_diff"] <= bundle.ONNX_RTOL
    assert not (tmp_path / ".o1-check.onnx").exists()

    real = bundle._ort_check

    def off_by_a_little(model: torch.nn.Module, example: torch.Tensor, path: Path) -> dict[str, float]:
        out = real(model, example, path)
        gap = 1e-3 * out["output_scale"]  # 1e-23 in absolute terms: an absolute bound passes it
        return out | {"max_abs_diff": gap, "relative_diff": 1e-3}

    with pytest.raises(bundle.OnnxMismatchError, match="of the output scale"), pytest.MonkeyPatch.context() as mp:
        mp.setattr(bundle, "_ort_check", off_by_a_little)
        bundle._onnx(model, example, tmp_path / "m.onnx")
