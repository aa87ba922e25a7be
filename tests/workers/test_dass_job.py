"""The dass strategy: resumes its search from the checkpoint in its workdir, and runs as a job end to
end (search epochs reported as events, the found genotype scored by sparse_train, cost and a latency
table over the space's operators)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from core.objectives import Objective
from core.spec import JobSpec
from evaluators.base import Task
from evaluators.devices import Device
from evaluators.latency_lut import Entry, LatencyTable
from search_spaces import get_space
from store import jobs as repo
from store import latency as lut_repo
from store.session import Database
from store.settings import Settings
from workers.scheduler import Scheduler
from workers.strategies import STRATEGIES
from workers.strategies.base import StrategyContext

DIGITS = {"in_channels": 1, "input_size": 8, "num_classes": 10}
SEARCH = {
    "epochs": 2,
    "phase_epochs": [1, 1, 0],
    "search_channels": 2,
    "search_layers": 3,
    "train_limit": 32,
    "batch_size": 16,
    "arch_lr": 0.03,
    "channels": 8,  # the proposed network: the space's reduced CPU setting
    "layers": 5,
}


pytestmark = pytest.mark.usefixtures("one_thread")


def strategy(**options: Any):
    return STRATEGIES.get("dass")(
        space=get_space("dass"), objectives=[Objective(metric="params")], seed=0, **{**SEARCH, **options}
    )


def test_the_strategy_resumes_its_search_from_the_checkpoint(tmp_path: Path) -> None:
    reports: list[tuple[str, Any]] = []
    task = Task(space="dass", dataset="digits", **DIGITS)
    context = StrategyContext("job", task, (tmp_path,), tmp_path / "work", lambda p, e: reports.append((p, e)))
    first = strategy()
    first.bind(context)
    assert first.ask(1) == [] and (tmp_path / "work" / "search.pt").exists()
    assert [e["epoch"] for _, e in reports if e] == [0]
    second = strategy()  # a new runner after a crash
    second.bind(context)
    assert second.ask(1) == []
    assert "resumed at epoch 1/2" in reports[1][0]
    assert [e["epoch"] for _, e in reports if e] == [0, 1]  # epoch 0 was not run again
    [proposal] = second.ask(1)
    assert proposal.arch.genome[2] == "C=8 L=5 s=0.9" and proposal.attrs["strategy"] == "dass"
    assert [r["phase"] for r in proposal.attrs["epochs"]] == ["pretrain", "prune"]
    with pytest.raises(ValueError, match="channels 12 is not allowed"):
        strategy(channels=12)


@pytest.mark.usefixtures("ray_cluster")
def test_a_dass_job_searches_proposes_and_scores_the_found_network(sqlite_db: Database, tmp_path: Path) -> None:
    space = get_space("dass")
    table = LatencyTable(id="dass-phone", device="phone1", space="dass", source="imported", **DIGITS)
    for op in space.op_catalogue(**DIGITS):
        table.entries[op.signature()] = Entry(1e-6 * op.cost().macs + 0.01)
    with sqlite_db.session() as s:
        lut_repo.save_device(s, Device("phone1", "phone", "external", threads=1))
        lut_repo.create_table(s, table, status="ready")
    spec = JobSpec.model_validate(
        {
            "space": "dass",
            "dataset": "digits",
            "device": "phone1",
            "objectives": [
                {"metric": "accuracy", "evaluator": "sparse_train"},
                {"metric": "latency_ms"},
                {"metric": "nonzero_params", "evaluator": "sparse_train"},
            ],
            "strategy": {"name": "dass", "options": {**SEARCH, "epochs": 1, "phase_epochs": [0, 1, 0]}},
            "budget": {"candidates": 5},
            "batch_size": 1,
            "evaluators": {
                "sparse_train": {
                    "epochs": 1,
                    "train_limit": 64,
                    "val_limit": 64,
                    "batch_size": 32,
                    "recal_images": 64,
                    "threads": 1,
                }
            },
        }
    )
    with sqlite_db.session() as s:
        job, _ = repo.create_job(
            s, spec=spec.model_dump(mode="json"), spec_hash=spec.digest(), budget=5, name=None, idempotency_key=None
        )
        job_id = job.id
    settings = Settings(home=tmp_path, database_url=sqlite_db.url, lease_seconds=10, ray_num_cpus=2, pool_size=1)
    scheduler = Scheduler(settings)
    deadline = time.time() + 240
    while time.time() < deadline:
        scheduler.tick()
        with sqlite_db.session() as s:
            job = repo.get_job(s, job_id)
            if job.state in repo.FINAL:
                break
        time.sleep(0.2)
    scheduler.stop()
    with sqlite_db.session() as s:
        job = repo.get_job(s, job_id)
        cands = repo.all_candidates(s, job_id)
        events = [e for e in repo.events_after(s, job_id=job_id, after=0) if e.kind == "strategy"]
    assert job.state == "succeeded" and job.evaluated == 1, (job.state, job.error)
    assert "strategy finished" in (job.error or "")  # the strategy ended the job before its budget of 5
    [cand] = cands
    assert cand.status == "ok", cand.error
    assert cand.arch["genome"][2] == "C=8 L=5 s=0.9"
    assert 0.0 <= cand.metrics["accuracy"] <= 1.0 and cand.metrics["latency_ms"] > 0
    assert cand.metrics["nonzero_params"] < space.cost(space.from_genome(cand.arch["genome"]), **DIGITS).params / 3
    assert cand.strategy_attrs["strategy"] == "dass" and len(cand.strategy_attrs["epochs"]) == 1
    assert [(e.payload["epoch"], e.payload["phase"]) for e in events] == [(0, "prune")]
    assert len(events[0].payload["alphas"]["normal"]) == 14 and len(events[0].payload["alphas"]["normal"][0]) == 8
    assert events[0].payload["mask_sparsity"] == pytest.approx(0.9, abs=0.01)
    workdir = settings.artifacts / "strategies" / job_id
    assert (workdir / "search.pt").exists() and (workdir / "history.json").exists()
