"""Downloads over HTTP: every bundle format is checked by loading it the way a user would."""

from __future__ import annotations

import hashlib
import io
import json
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
import torch
from fastapi.testclient import TestClient
from safetensors.torch import load_file

from search_spaces import Architecture, get_space
from service.main import create_app
from store.session import Database
from store.settings import Settings
from tests.service.conftest import KEY, spec, wait


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory, ray_cluster: None):
    """One finished small job (SQLite) shared by the download tests: exports are seconds each."""
    home = tmp_path_factory.mktemp("exports")
    db = Database(f"sqlite:///{home / 'nas.db'}")
    db.migrate()
    settings = Settings(home=home, database_url=db.url, api_key="test-key", lease_seconds=3, ray_num_cpus=2)
    with TestClient(create_app(settings)) as client:
        job = client.post("/api/jobs", json=spec(budget={"candidates": 16}, batch_size=8), headers=KEY).json()
        job = wait(client, job["id"])
        assert job["state"] == "succeeded"
        yield client, job, home
    db.dispose()


def _get(client: TestClient, url: str) -> bytes:
    r = client.get(url)
    assert r.status_code == 200, r.text
    return r.content


def test_every_format_loads_and_matches(finished, tmp_path: Path) -> None:
    client, job, _ = finished
    seq = client.get(f"/api/jobs/{job['id']}/front").json()["members"][0]["seq"]
    base = f"/api/jobs/{job['id']}/candidates/{seq}/files"
    listing = client.get(base).json()
    assert set(listing["files"]) == {"model.safetensors", "model.pt2", "model.onnx", "model.py"}
    assert listing["weights"]["source"] == "initialised"  # no supernet: labelled as such

    manifest = json.loads(_get(client, f"{base}/arch.json"))
    assert manifest["schema_version"] == 1 and manifest["provenance"]["job_id"] == job["id"]
    assert manifest["input"]["shape"] == ["batch", 1, 8, 8] and manifest["metrics"]["params"] > 0
    assert manifest["produced_by"]["params"]["evaluator"] == "cost"
    files = {}
    for name, info in manifest["files"].items():
        files[name] = _get(client, f"{base}/{name}")
        assert hashlib.sha256(files[name]).hexdigest() == info["sha256"] and len(files[name]) == info["bytes"]
        (tmp_path / name).write_bytes(files[name])

    arch = Architecture.from_dict(manifest["architecture"])
    shape = {"in_channels": 1, "input_size": 8, "num_classes": 10}
    model = get_space(arch.space).build(arch, **shape).eval()
    model.load_state_dict(load_file(str(tmp_path / "model.safetensors")))  # the documented one-liner
    assert sum(p.numel() for p in model.parameters()) == manifest["metrics"]["params"]
    x = torch.randn(3, 1, 8, 8)
    with torch.no_grad():
        want = model(x)

    program = torch.export.load(str(tmp_path / "model.pt2")).module()
    with torch.no_grad():
        assert torch.allclose(program(x), want, atol=1e-5)  # dynamic batch

    session = ort.InferenceSession(str(tmp_path / "model.onnx"), providers=["CPUExecutionProvider"])
    (got,) = session.run(None, {session.get_inputs()[0].name: x.numpy()})
    assert np.abs(got - want.numpy()).max() < 1e-4
    assert manifest["checks"]["onnx_max_abs_diff"] < 1e-4

    # the standalone definition runs in a fresh interpreter that cannot import this service
    script = (
        "import sys\n"
        "PACKAGES = {'search_spaces', 'evaluators', 'predictors', 'workers', 'store', 'service'}\n"
        "class Block:  # the service's packages are installed here: make any import of them fail\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] in PACKAGES:\n"
        "            raise ImportError(name)\n"
        "sys.meta_path.insert(0, Block())\n"
        "import model\n"
        "from safetensors.torch import load_file\n"
        "net = model.build_model()\n"
        "net.load_state_dict(load_file('model.safetensors'))\n"
        "print(sum(p.numel() for p in net.parameters()), net.eval()(model.torch.randn(*model.INPUT_SHAPE)).shape[-1])\n"
    )
    out = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    count, classes = out.stdout.split()
    assert int(count) == manifest["metrics"]["params"] and int(classes) == 10


def test_standalone_model_computes_the_same_outputs(finished) -> None:
    client, job, _ = finished
    from service.exports.standalone import load_standalone

    seq = client.get(f"/api/jobs/{job['id']}/candidates", params={"limit": 1}).json()["data"][0]["seq"]
    base = f"/api/jobs/{job['id']}/candidates/{seq}/files"
    source = _get(client, f"{base}/model.py").decode()
    manifest = json.loads(_get(client, f"{base}/arch.json"))
    arch = Architecture.from_dict(manifest["architecture"])
    model = get_space(arch.space).build(arch, in_channels=1, input_size=8, num_classes=10).eval()
    standalone = load_standalone(source).eval()
    state = {k: v.clone() for k, v in model.state_dict().items()}
    standalone.load_state_dict(state)
    x = torch.randn(4, 1, 8, 8)
    with torch.no_grad():
        assert torch.equal(standalone(x), model(x))


def test_front_zip_has_a_manifest_with_checksums(finished) -> None:
    client, job, _ = finished
    front = client.get(f"/api/jobs/{job['id']}/front").json()
    r = client.get(f"/api/jobs/{job['id']}/front.zip")
    assert r.status_code == 200 and r.headers["content-type"] == "application/zip"
    with zipfile.ZipFile(io.BytesIO(r.content)) as z:
        manifest = json.loads(z.read("manifest.json"))
        assert {m["seq"] for m in manifest["members"]} == {m["seq"] for m in front["members"]}
        for member in manifest["members"]:
            for name, digest in member["files"].items():
                assert hashlib.sha256(z.read(f"{member['folder']}/{name}")).hexdigest() == digest
            inner = json.loads(z.read(f"{member['folder']}/arch.json"))
            assert inner["arch_id"] == member["arch_id"]


@pytest.mark.parametrize(
    "path",
    [
        "../../../../etc/passwd",
        "..%2f..%2f..%2fnas.db",
        "%2e%2e/%2e%2e/api_key",
        "/etc/passwd",
        "model.py%00.json",
        "model.onnx/../../../nas.db",
        "subdir/model.py",
    ],
)
def test_paths_outside_the_bundle_are_404(finished, path: str) -> None:
    client, job, home = finished
    (home / "artifacts").mkdir(exist_ok=True)
    r = client.get(f"/api/jobs/{job['id']}/candidates/0/files/{path}")
    # 404 from the download route; a path the client normalises onto another route may get 422 there
    assert r.status_code in (404, 422), (path, r.status_code)
    assert b"root:" not in r.content and b"SQLite" not in r.content


def test_unknown_job_or_candidate_is_404(finished) -> None:
    client, job, _ = finished
    assert client.get("/api/jobs/nope/candidates/0/files/arch.json").status_code == 404
    r = client.get(f"/api/jobs/{job['id']}/candidates/999/files/arch.json")
    assert r.status_code == 404 and "999" in r.json()["message"]
