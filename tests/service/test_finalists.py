"""Finalists: which candidates are trained after the search, the fidelity figure, refusals at
submission, and `check_finalists`, what a finished finalists job must show (the dashboard's browser
test runs one end to end against a real server: trained as Ray Tune trials, each stored once, the
cheap evaluator's tau served, the trained weights downloaded)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import safetensors.torch
from fastapi.testclient import TestClient
from scipy.stats import kendalltau

from core.spec import JobSpec
from evaluators.scratch import TrainEvaluator, network
from evaluators.training import accuracy
from search_spaces import Architecture
from store import jobs as repo
from store import models as m
from store.session import Database
from store.settings import Settings
from tests.service.conftest import KEY
from workers.finalists import choose, fidelity, train_finalists

CHEAP = {"epochs": 1, "train_limit": 128, "val_limit": 128, "width": 0.25, "batch_size": 32, "recal_images": 64}
FULL = CHEAP | {"epochs": 2, "train_limit": 256}


def job(**finalists: Any) -> dict[str, Any]:
    return {
        "space": "mnasnet",
        "dataset": "digits",
        "objectives": [{"metric": "accuracy", "evaluator": "train"}, {"metric": "params"}],
        "evaluators": {"train": CHEAP | {"threads": 1}},
        "strategy": {"name": "random"},
        "budget": {"candidates": 8},
        "batch_size": 4,
        "finalists": {"k": 3, "options": FULL} | finalists,
    }


def candidate(seq: int, accuracy: float | None) -> m.Candidate:
    metrics = {} if accuracy is None else {"accuracy": accuracy, "params": 1000.0 - seq}
    return m.Candidate(seq=seq, arch_id=f"a{seq}", arch={}, status="ok" if metrics else "failed", metrics=metrics)


def test_the_choice_holds_the_fronts_best_and_spans_the_cheap_score() -> None:
    spec = JobSpec.model_validate(job(k=4))
    cands = [candidate(i, acc) for i, acc in enumerate([0.5, 0.9, None, 0.1, 0.7, 0.3, 0.8, 0.6, 0.2, 0.4])]
    picked = [c.seq for c in choose(cands, front=[4, 9], spec=spec)]
    # the front's best on accuracy is seq 4 (0.7); then the best, the median and the worst of the
    # 9 scores: 0.9 (seq 1), 0.5 (seq 0), 0.1 (seq 3)
    assert picked == [0, 1, 3, 4]
    # the front's best is the best score: best, median, worst, then rank 3 of the four-way spread (0.6)
    assert [c.seq for c in choose(cands, front=[1], spec=spec)] == [0, 1, 3, 7]
    assert [c.seq for c in choose(cands[:3], front=[], spec=spec)] == [0, 1]  # fewer scored than k: all of them
    assert choose([candidate(0, None)], front=[], spec=spec) == []


def test_fidelity_is_the_tau_of_the_oriented_cheap_score_with_an_interval() -> None:
    rng = np.random.default_rng(0)
    measured = rng.uniform(0.5, 0.9, size=12)
    cheap = measured + rng.normal(scale=0.05, size=12)
    rows = [m.Finalist(cheap=c, accuracy=a) for c, a in zip(cheap, measured, strict=True)]
    rows.append(m.Finalist(cheap=0.99, accuracy=None))  # stopped early: not in the sample
    report = fidelity(rows, sign=1.0)
    assert report["n"] == 12 and report["trained"] == 13
    assert report["kendall_tau"] == round(kendalltau(cheap, measured).statistic, 3) > 0.5
    low, high = report["ci95"]
    assert low < report["kendall_tau"] < high <= 1.0
    assert fidelity(rows, sign=-1.0)["kendall_tau"] == -report["kendall_tau"]  # a metric minimised
    assert fidelity(rows[:2], sign=1.0)["kendall_tau"] is None


@pytest.mark.parametrize(
    ("finalists", "message"),
    [
        ({"metric": "macs"}, "finalists.metric: 'macs' is not an objective; objectives: accuracy, params"),
        ({"evaluator": "cost"}, "finalists.evaluator: 'cost' cannot train finalists; allowed: train"),
        ({"options": {"epochs": 0}}, "finalists.options.epochs: Input should be greater than or equal to 1"),
        ({"k": 2}, "finalists.k: Input should be greater than or equal to 3"),
    ],
)
def test_bad_finalists_are_refused_at_submission(api: TestClient, finalists: dict, message: str) -> None:
    answer = api.post("/api/jobs", json=job(**finalists), headers=KEY)
    assert answer.status_code == 422 and message in answer.json()["message"], answer.text
    assert api.get("/api/jobs").json()["count"] == 0


def check_finalists(client: Any, job_id: str, db: Database, settings: Settings) -> dict[str, Any]:
    """Everything a finished finalists job (`job()`) must show over REST and in its database; the
    dashboard's browser test runs one against a real server and calls this. Returns the report."""
    report = client.get(f"/api/jobs/{job_id}/finalists").json()
    assert report["metric"] == "accuracy" and report["chosen"] == 3 and len(report["data"]) == 3
    front = client.get(f"/api/jobs/{job_id}/front").json()["members"]
    best = max(front, key=lambda c: c["metrics"]["accuracy"])
    assert best["seq"] in {f["seq"] for f in report["data"]}
    cands = {c["seq"]: c for c in client.get(f"/api/jobs/{job_id}/candidates").json()["data"]}
    for f in report["data"]:  # the cheap score is the candidate's; the finalist trained the full schedule
        assert f["cheap"] == cands[f["seq"]]["metrics"]["accuracy"] and f["epochs"] == 2 and not f["stopped_early"]
        assert f["error"] is None and f["accuracy"] is not None and f["accuracy"] != f["cheap"]
    cheap, measured = zip(*[(f["cheap"], f["accuracy"]) for f in report["data"]], strict=True)
    tau = kendalltau(cheap, measured).statistic
    assert report["fidelity"]["n"] == 3 and report["fidelity"]["kendall_tau"] == (
        None if np.isnan(tau) else round(tau, 3)
    )
    with db.session() as s:
        assert [e.kind for e in repo.events_after(s, job_id=job_id, after=0)].count("finalist") == 3

    # a finalist's download carries the weights it was trained to: they score its measured accuracy again
    f = report["data"][0]
    assert f["trained_weights"]
    files = client.get(f"/api/jobs/{job_id}/candidates/{f['seq']}/files").json()
    assert files["weights"]["source"] == "finalist" and files["weights"]["accuracy"] == f["accuracy"]
    body = client.get(f"/api/jobs/{job_id}/candidates/{f['seq']}/files/model.safetensors").content
    task = JobSpec.model_validate(job()).task
    model = network(Architecture.from_dict(cands[f["seq"]]["arch"]), task, FULL["width"])
    model.load_state_dict(safetensors.torch.load(body))
    val = TrainEvaluator(task=task, data_dirs=settings.data_dirs, **FULL).val
    assert accuracy(model, val) == f["accuracy"]

    # a resumed runner trains none of them again: every finalist is stored once
    with db.session() as s:
        spec = JobSpec.model_validate(s.get(m.Job, job_id).spec)
    train_finalists(job_id=job_id, owner="nobody", ttl=3, spec=spec, db=db, settings=settings,
                    phase=lambda _: None, stop=lambda: False)  # fmt: skip
    with db.session() as s:
        assert s.query(m.Finalist).filter_by(job_id=job_id).count() == 3
    return report
