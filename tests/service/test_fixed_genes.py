"""Genes held fixed in a job: given by the user (validated at submission) or taken from a supernet
trained at one macro setting, and kept by every candidate the strategy proposes."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from fastapi.testclient import TestClient

from evaluators.supernet.cells import CellSupernet
from evaluators.supernet.checkpoint import save_supernet
from search_spaces import get_space
from service.main import create_app
from store import artifacts as artifact_repo
from store.session import Database
from store.settings import Settings
from tests.service.conftest import KEY, spec, wait

MACRO = "N=1 f=8 stem=1"
GENES = {"cells": 1, "filters": 8, "stem": 1}


@pytest.mark.parametrize("strategy", ["nsga2", "evolution"])
def test_every_candidate_keeps_the_fixed_genes(strategy: str) -> None:
    from core.spec import JobSpec
    from workers.strategies.base import Result

    job = JobSpec.model_validate(
        spec(space="nasnet", fixed={"filters": 16, "stem": 3}, strategy={"name": strategy}, constraints=[])
    )
    proposer = job.make_strategy()
    space = get_space("nasnet")
    seen = []
    for _ in range(3):
        for i, proposal in enumerate(proposer.ask(16)):
            seen.append(proposal.arch)
            proposer.tell(proposal, Result({"params": float(i), "macs": float(-i)}))
    params = [space.to_params(a) for a in seen]
    assert {(p["filters"], p["stem"]) for p in params} == {(16, 3)} and len({p["cells"] for p in params}) > 1


def test_a_job_on_a_macro_setting_supernet_takes_its_genes(
    sqlite_db: Database, tmp_path: Path, ray_cluster: None
) -> None:
    settings = Settings(
        home=tmp_path, database_url=sqlite_db.url, api_key="test-key", lease_seconds=5, ray_num_cpus=2, pool_size=1
    )
    torch.manual_seed(0)
    net = CellSupernet("nasnet", macro=MACRO, in_channels=1, input_size=8, num_classes=10)
    path = save_supernet(settings.artifacts / "supernets" / "cells" / "supernet.pt", net, info={"dataset": "digits"})
    with sqlite_db.session() as s:
        info = {"space": "nasnet", "dataset": "digits", "schedule": {"macro": MACRO}}
        artifact_repo.register_artifact(s, root=settings.artifacts, path=path, kind="supernet", name="c", info=info)
    body = spec(
        space="nasnet",
        objectives=[{"metric": "accuracy"}, {"metric": "params"}],
        constraints=[],
        strategy={"name": "random"},
        budget={"candidates": 3},
        batch_size=3,
        evaluators={"supernet": {"recal_images": 16, "val_limit": 32, "readout": "inherited"}},
    )
    with TestClient(create_app(settings)) as api:
        refused = api.post("/api/jobs", json={**body, "fixed": {"filters": 16}}, headers=KEY)
        assert refused.status_code == 422 and "fixed" in refused.text and MACRO in refused.text, refused.text
        unknown = api.post("/api/jobs", json={**body, "fixed": {"filter": 8}}, headers=KEY)
        assert unknown.status_code == 422 and "unknown genes ['filter']" in unknown.text, unknown.text
        assert api.get("/api/jobs").json()["count"] == 0  # nothing stored
        posted = api.post("/api/jobs", json=body, headers=KEY)
        assert posted.status_code == 201, posted.text
        assert posted.json()["spec"]["fixed"] == GENES
        job = wait(api, posted.json()["id"], timeout=180)
        assert job["state"] == "succeeded", job["error"]
        cands = api.get(f"/api/jobs/{job['id']}/candidates").json()["data"]
    assert len(cands) == 3 and all(c["error"] is None for c in cands), [c["error"] for c in cands]
    assert {c["arch"]["genome"][-1] for c in cands} == {MACRO} and len({c["arch_id"] for c in cands}) == 3
    assert all(c["provenance"]["accuracy"]["evaluator"] == "supernet" for c in cands)
