"""Supernet training through Ray Tune: interrupted runs resume from their last checkpoint, the
result is a registered artifact, and jobs score accuracy with it."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from pathlib import Path

import pytest
import torch
from pydantic import ValidationError

from core.errors import NasError
from core.spec import JobSpec
from evaluators.datasets import DatasetNotFoundError
from evaluators.supernet.checkpoint import save_supernet
from evaluators.supernet.network import MnasNetSupernet
from store import artifacts as artifact_repo
from store import jobs as repo
from store.session import Database
from store.settings import Settings
from workers.evaluation import recipes_for
from workers.scheduler import Scheduler
from workers.supernet_train import SupernetRun, train_supernet

TINY = SupernetRun(
    space="mnasnet",
    dataset="digits",
    epochs=3,
    subset=64,
    width=0.25,
    batch_size=32,
    random_subnets=1,
    recal_images=32,
    val_limit=32,
    test_limit=32,
)


def results(settings: Settings, run: SupernetRun) -> list[dict]:
    files = sorted((settings.artifacts / "ray" / run.experiment).glob("*/result.json"))
    return [json.loads(line) for f in files for line in f.read_text().splitlines() if line.strip()]


@pytest.mark.usefixtures("ray_cluster")
def test_an_interrupted_run_resumes_from_its_last_checkpoint(sqlite_db: Database, tmp_path: Path) -> None:
    settings = Settings(home=tmp_path, database_url=sqlite_db.url, ray_num_cpus=2)
    outcome: dict[str, object] = {}

    def first_attempt() -> None:
        try:
            train_supernet(TINY, db=sqlite_db, settings=settings, max_failures=0)
        except NasError as e:
            outcome["error"] = str(e)

    thread = threading.Thread(target=first_attempt)
    thread.start()
    deadline = time.time() + 240
    while not results(settings, TINY) and time.time() < deadline:
        time.sleep(0.05)
    first = results(settings, TINY)
    assert first, "no epoch was reported"
    os.kill(first[0]["pid"], signal.SIGKILL)  # the trial's worker process dies mid-training
    thread.join(timeout=240)
    assert "failed" in str(outcome.get("error")), outcome
    done_before = max(r["epoch"] for r in results(settings, TINY))
    assert done_before < TINY.epochs

    artifact = train_supernet(TINY, db=sqlite_db, settings=settings)  # the same run again: restored

    rows = results(settings, TINY)
    after = [r for r in rows if r["pid"] != first[0]["pid"]]
    assert after and all(r["resumed_from"] == done_before for r in after)  # continued, not restarted
    assert [r["epoch"] for r in rows] == list(range(1, TINY.epochs + 1))  # no checkpointed epoch trained twice
    assert artifact.kind == "supernet" and artifact.info["epochs"] == 3 and artifact.info["train_images"] == 64
    assert set(artifact.info["accuracy"]) == {"largest", "smallest"}
    assert all(set(v) == {"val", "test"} for v in artifact.info["accuracy"].values())
    path = artifact_repo.verify(settings.artifacts, artifact)
    assert path.is_relative_to(settings.artifacts / "supernets")
    payload = torch.load(path, weights_only=True)
    assert payload["width"] == 0.25 and payload["info"]["run"] == TINY.digest()
    with sqlite_db.session() as s:
        assert [a.id for a in artifact_repo.find_artifacts(s, "supernet", space="mnasnet", dataset="digits")] == [
            artifact.id
        ]
    assert train_supernet(TINY, db=sqlite_db, settings=settings).id == artifact.id  # done: not trained again


def test_a_missing_dataset_fails_before_any_training(sqlite_db: Database, tmp_path: Path) -> None:
    settings = Settings(home=tmp_path, database_url=sqlite_db.url)
    run = SupernetRun(space="mnasnet", dataset="cifar10", epochs=1)
    with pytest.raises(DatasetNotFoundError) as err:
        train_supernet(run, db=sqlite_db, settings=settings)
    assert str(tmp_path / "data" / "cifar10") in str(err.value) and "cifar-10-python.tar.gz" in str(err.value)
    assert not (settings.artifacts / "ray").exists()
    with pytest.raises(NasError, match="no supernet for search space 'nb201'"):
        SupernetRun(space="nb201", dataset="digits", epochs=1)
    with pytest.raises(NasError, match="random_subnets must be >= 0, got -1"):
        SupernetRun(space="mnasnet", dataset="digits", epochs=1, random_subnets=-1)


def spec(**extra: object) -> JobSpec:
    return JobSpec.model_validate(
        {
            "space": "mnasnet",
            "dataset": "digits",
            "objectives": [{"metric": "accuracy"}, {"metric": "params"}],
            "strategy": {"name": "random"},
            "budget": {"candidates": 6},
            "batch_size": 3,
            **extra,
        }
    )


def register_untrained(settings: Settings, db: Database, name: str = "tiny") -> str:
    torch.manual_seed(0)
    net = MnasNetSupernet(in_channels=1, input_size=8, num_classes=10, width=0.25)
    path = save_supernet(settings.artifacts / "supernets" / name / "supernet.pt", net, info={"dataset": "digits"})
    with db.session() as s:
        row = artifact_repo.register_artifact(
            s,
            root=settings.artifacts,
            path=path,
            kind="supernet",
            name=name,
            info={"space": "mnasnet", "dataset": "digits"},
        )
        return row.id


def test_the_supernet_resolver_finds_the_checkpoint_or_says_how_to_train_one(
    sqlite_db: Database, tmp_path: Path
) -> None:
    settings = Settings(home=tmp_path, database_url=sqlite_db.url)

    def supernet_recipe(**options: object) -> dict:
        job = spec(evaluators={"supernet": options}) if options else spec()
        recipes = recipes_for(job, db=sqlite_db, settings=settings, progress=lambda *a: None)
        return next(r.kwargs for r in recipes if r.name == "supernet")

    missing = r"no stored supernet for mnasnet \(digits, 1x8x8 -> 10 classes\); run `nas supernet train"
    with pytest.raises(NasError, match=missing):
        supernet_recipe()
    older = register_untrained(settings, sqlite_db, "older")
    newer = register_untrained(settings, sqlite_db, "newer")
    assert supernet_recipe()["artifact_id"] == newer
    named = supernet_recipe(checkpoint="older", recal_images=32)
    assert named["artifact_id"] == older and named["recal_images"] == 32 and named["checkpoint"].endswith("supernet.pt")
    assert "data_dirs" in named and named["readout"] == "ridge"
    assert supernet_recipe(readout="inherited")["readout"] == "inherited"
    with pytest.raises(NasError, match="no supernet artifact with id or name 'missing'"):
        supernet_recipe(checkpoint="missing")


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (
            {"chekpoint": "older"},
            r"evaluators\.supernet\.chekpoint: Extra inputs are not permitted \(options of supernet: checkpoint, rec",
        ),
        ({"readout": "logistic"}, r"evaluators\.supernet\.readout: Input should be 'ridge' or 'inherited'"),
        ({"recal_images": 0}, r"evaluators\.supernet\.recal_images: Input should be greater than or equal to 1"),
    ],
)
def test_bad_supernet_options_are_refused_when_the_job_is_built(options: dict, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        spec(evaluators={"supernet": options})


@pytest.mark.usefixtures("ray_cluster")
def test_a_job_scores_accuracy_with_the_supernet(sqlite_db: Database, tmp_path: Path) -> None:
    settings = Settings(home=tmp_path, database_url=sqlite_db.url, ray_num_cpus=2, pool_size=1, lease_seconds=10)
    artifact_id = register_untrained(settings, sqlite_db)
    job = spec(evaluators={"supernet": {"recal_images": 32, "val_limit": 64}})
    with sqlite_db.session() as s:
        row, _ = repo.create_job(
            s, spec=job.model_dump(mode="json"), spec_hash=job.digest(), budget=6, name=None, idempotency_key=None
        )
        job_id = row.id
    scheduler = Scheduler(settings)
    deadline = time.time() + 180
    while time.time() < deadline:
        scheduler.tick()
        with sqlite_db.session() as s:
            state = repo.get_job(s, job_id)
        if state.state in repo.FINAL:
            break
        time.sleep(0.1)
    scheduler.stop()
    assert state.state == "succeeded", state.error
    with sqlite_db.session() as s:
        cands = repo.all_candidates(s, job_id)
    assert len(cands) == 6 and all(c.status == "ok" for c in cands)
    assert all(0.0 <= c.metrics["accuracy"] <= 1.0 and c.metrics["params"] > 0 for c in cands)
    assert {c.provenance["accuracy"]["artifact_id"] for c in cands} == {artifact_id}
    assert all(c.provenance["accuracy"]["val_images"] == 64 for c in cands)


def test_options_added_later_keep_earlier_runs_digests_at_their_defaults() -> None:
    """Artifacts are found by the run digest: a new option left at its default must not orphan them."""
    assert SupernetRun(space="mnasnet", dataset="digits", epochs=1).digest() == "fb0658540ce1"  # before the options
    kwargs = {"space": "mnasnet", "dataset": "fashion-mnist", "epochs": 4, "subset": 12000, "width": 0.5}
    assert SupernetRun(**kwargs, balanced=True).digest() == "788326df0c08"
    options = ({}, {"extremes": "drawn"}, {"extremes": "cycled"}, {"distill": False})
    assert len({SupernetRun(**kwargs, **option).digest() for option in options}) == 4
    assert SupernetRun(**kwargs, extremes="fixed").digest() == SupernetRun(**kwargs).digest()
    with pytest.raises(NasError, match="extremes must be one of"):
        SupernetRun(**kwargs, extremes="fair")
