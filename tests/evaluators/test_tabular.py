"""Tables keyed by architecture: parsing with units, errors, storage; the tabular and predictor
evaluators, alone and inside a job on Ray (with the predictor-guided strategy)."""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

import numpy as np
import pytest

from core.errors import NasError
from core.spec import JobSpec
from evaluators import Task
from evaluators.predicted import PredictorEvaluator
from evaluators.tabular import (
    Column,
    Table,
    TableFormatError,
    TabularEvaluator,
    pick_column,
    read_table,
    read_table_file,
)
from predictors.training import train_predictor
from search_spaces import get_space
from store import jobs as repo
from store.artifacts import register_artifact
from store.measurements import from_jobs, from_table, save_predictor, save_table
from store.session import Database
from store.settings import Settings
from workers.scheduler import Scheduler

DATA = Path(__file__).parents[1] / "data"
ASSET = Path(__file__).parents[2] / "search_spaces" / "nb201" / "data" / "nb201_cpu.csv.gz"
CIFAR10 = Task(space="nb201", in_channels=3, input_size=32, num_classes=10, dataset="cifar10")
RESNET = "|nor_conv_3x3~0|+|none~0|nor_conv_3x3~1|+|skip_connect~0|none~1|skip_connect~2|"
ALL_NONE = "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|"
DECLARE = {"cifar10_test": "accuracy:%", "cifar10_valid_12ep": "ignore"}


@pytest.fixture(scope="module")
def sample() -> Table:
    return read_table_file(DATA / "nb201_sample.csv", space="nb201", columns=DECLARE)


def test_headers_name_units_and_values_are_stored_in_metric_units() -> None:
    text = (
        "arch_str,lat_ms,energy (J),top1[%],t_us,accuracy,params[M],macs\n"
        f"{RESNET},2.5,0.5,93.1,1500,0.931,0.56,78561920\n"
        f"{ALL_NONE},0.5,0.1,10,400,,0.07,7783040\n"
    )
    table = read_table(text, space="nb201")
    got = {c.name: (c.metric, c.unit) for c in table.columns}
    assert got == {
        "lat_ms": ("latency_ms", "ms"),
        "energy (J)": ("energy_mj", "j"),
        "top1[%]": ("accuracy", "%"),
        "t_us": ("latency_ms", "us"),
        "accuracy": ("accuracy", "frac"),
        "params[M]": ("params", "m"),
        "macs": ("macs", "count"),
    }
    row = table.values[table.index[get_space("nb201").from_arch_str(RESNET).arch_id]]
    assert row.tolist() == pytest.approx([2.5, 500.0, 0.931, 1.5, 0.931, 560_000, 78_561_920])
    assert math.isnan(table.values[1, table.column("accuracy")])  # empty cell: no value


def test_json_tables_and_other_keys_give_the_same_rows(tmp_path: Path) -> None:
    space = get_space("nb201")
    resnet = space.from_arch_str(RESNET)
    rows = [{"arch": json.dumps(list(resnet.genome)), "latency_ms": 2.0}, {"arch": resnet.to_dict(), "latency_ms": 3.0}]
    with pytest.raises(TableFormatError, match="row 2: the same architecture as row 1"):
        read_table(json.dumps({"rows": rows}), space="nb201", fmt="json")
    table = read_table(json.dumps(rows[:1]), space="nb201", fmt="json")
    by_index = read_table("arch_index,latency_ms\n1,2.0\n", space="nb201")  # the benchmark's index 1
    assert (
        by_index.genomes[0]
        == space.from_arch_str(
            "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|"
        ).genome
    )
    assert table.arch_ids == [resnet.arch_id]
    again = Table.load(table.save(tmp_path / "t"))
    assert again.arch_ids == table.arch_ids and np.array_equal(again.values, table.values)
    assert again.columns == table.columns and again.space == "nb201"


@pytest.mark.parametrize(
    ("text", "columns", "message"),
    [
        ("id,latency_ms\n1,2\n", None, "no key column; one of arch_str, arch_index, arch is needed"),
        (f"arch_str,cifar10_test\n{RESNET},93\n", None, r"column 'cifar10_test' names no unit; declare it"),
        (f"arch_str,latency_ms\n{RESNET},fast\n", None, "row 1, column latency_ms: 'fast' is not a number"),
        (f"arch_str,latency_ms\n{RESNET},1\n|conv~0|,2\n", None, "row 2, column arch_str: .*expected 3 nodes"),
        (f"arch_str,top\n{RESNET},1\n", {"top": "accuracy:ms"}, "unit 'ms' does not fit accuracy; allowed: %, pct"),
        (f"arch_str,top\n{RESNET},1\n", {"top": "speed"}, "metric 'speed' unknown"),
        (f"arch_str,top\n{RESNET},1\n", {"nope": "ignore"}, r"declared columns \['nope'\] are not in the file"),
        ("arch_index,latency_ms\n99999,1\n", None, "arch_index 99999 is out of range; allowed: 0..15624"),
    ],
)
def test_bad_tables_name_the_row_and_column(text: str, columns: dict[str, str] | None, message: str) -> None:
    with pytest.raises(TableFormatError, match=message):
        read_table(text, space="nb201", columns=columns)


def test_column_choice_by_device_dataset_or_exact_name(sample: Table) -> None:
    assert pick_column(sample.columns, "latency_ms", ("pixel3", "cifar10")).name == "hwnb_pixel3_lat_ms"
    accuracy = [Column("cifar100_test", "accuracy", "%", 0.01), Column("cifar10_test", "accuracy", "%", 0.01)]
    assert pick_column(accuracy, "accuracy", ("cpu", "cifar10")).name == "cifar10_test"  # a word, not a prefix
    with pytest.raises(NasError, match=r"several latency_ms columns \(hwnb_raspi4_lat_ms, hwnb_pixel3_lat_ms\)"):
        pick_column(sample.columns, "latency_ms", ("cpu",))


def test_tabular_evaluator_answers_from_the_table_and_fails_unknown_architectures(sample: Table, tmp_path) -> None:
    folder = sample.save(tmp_path / "sample")
    ev = TabularEvaluator(
        task=CIFAR10, table=str(folder), columns={"latency_ms": "hwnb_pixel3_lat_ms", "accuracy": "cifar10_test"}
    )
    archs = sample.architectures()
    outcomes = ev.evaluate([archs[0], get_space("nb201").from_arch_str(RESNET)])
    truth = sample.values[0]
    assert outcomes[0].metrics == {
        "latency_ms": truth[sample.column("hwnb_pixel3_lat_ms")],
        "accuracy": truth[sample.column("cifar10_test")],
    }
    if RESNET not in {get_space("nb201").to_arch_str(a) for a in archs}:
        assert not outcomes[1].ok and "is not in table" in outcomes[1].error
    with pytest.raises(NasError, match="for space nb201, not mnasnet"):
        TabularEvaluator(task=Task(space="mnasnet"), table=str(folder), columns={"latency_ms": "hwnb_pixel3_lat_ms"})


def test_predictor_evaluator_predicts_in_batches_and_checks_the_task(sample: Table, tmp_path) -> None:
    archs, y = from_table(sample, "cifar10_test")
    model, _ = train_predictor(archs[:300], y[:300], space="nb201", metric="accuracy", shape=CIFAR10.shape, k=0,
                               options={"members": 2, "n_estimators": 80})  # fmt: skip
    model.save(tmp_path / "p")
    ev = PredictorEvaluator(task=CIFAR10, predictors={"accuracy": str(tmp_path / "p")}, ids={"accuracy": "p1"})
    outcomes = ev.evaluate(archs[300:])
    assert [o.metrics["accuracy"] for o in outcomes] == pytest.approx(model.predict_archs(archs[300:]).mean.tolist())
    assert ev.provenance()["predictors"]["accuracy"]["n_train"] == 300
    with pytest.raises(NasError, match="trained for input shape"):
        PredictorEvaluator(task=Task(space="nb201", input_size=16), predictors={"accuracy": str(tmp_path / "p")})
    with pytest.raises(NasError, match="predicts accuracy, not latency_ms"):
        PredictorEvaluator(task=CIFAR10, predictors={"latency_ms": str(tmp_path / "p")})


# -- inside jobs ------------------------------------------------------------------------------------
def _submit(db: Database, **spec: object) -> str:
    parsed = JobSpec.model_validate(spec)
    with db.session() as s:
        job, _ = repo.create_job(
            s, spec=parsed.model_dump(mode="json"), spec_hash=parsed.digest(), budget=parsed.budget.candidates,
            name=None, idempotency_key=None,
        )  # fmt: skip
        return job.id


def _finish(scheduler: Scheduler, db: Database, job_id: str, timeout: float = 150) -> repo.m.Job:
    deadline = time.time() + timeout
    while time.time() < deadline:
        scheduler.tick()
        with db.session() as s:
            job = repo.get_job(s, job_id)
            if job.state in repo.FINAL:
                return job
        time.sleep(0.1)
    raise AssertionError(f"job {job_id} did not finish: {job.state} {job.evaluated}")


@pytest.mark.usefixtures("ray_cluster")
def test_tabular_and_predictor_evaluators_inside_a_guided_job(sample: Table, sqlite_db: Database, tmp_path) -> None:
    settings = Settings(home=tmp_path, database_url=sqlite_db.url, ray_num_cpus=2, pool_size=1)
    cpu = read_table_file(ASSET, space="nb201")
    table_id = save_table(sqlite_db, settings, cpu, name="nb201-cpu")
    archs, y = from_table(sample, "cifar10_test")
    model, training = train_predictor(archs, y, space="nb201", metric="accuracy", shape=CIFAR10.shape, k=0,
                                      label="cifar10", options={"members": 2, "n_estimators": 80})  # fmt: skip
    predictor_id = save_predictor(sqlite_db, settings, model, training, name="acc")
    scheduler = Scheduler(settings)
    job_id = _submit(
        sqlite_db,
        space="nb201",
        dataset="cifar10",
        objectives=[{"metric": "latency_ms", "evaluator": "tabular"}, {"metric": "accuracy", "evaluator": "predictor"}],
        strategy={"name": "guided", "options": {"initial": 10, "pool_size": 200}},
        budget={"candidates": 30},
        batch_size=10,
    )
    job = _finish(scheduler, sqlite_db, job_id)
    assert (job.state, job.evaluated, job.failed) == ("succeeded", 30, 0), job.error
    with sqlite_db.session() as s:
        cands = repo.all_candidates(s, job_id)
    space = get_space("nb201")
    column = cpu.column("latency_ms")  # two latency columns: the one named exactly like the metric
    for c in cands:
        arch = space.from_genome(c.arch["genome"])
        assert c.metrics["latency_ms"] == cpu.values[cpu.index[arch.arch_id], column]
        assert c.metrics["accuracy"] == pytest.approx(float(model.predict_archs([arch]).mean[0]), rel=1e-6)
        assert c.provenance["latency_ms"]["table_id"] == table_id
        assert c.provenance["accuracy"]["predictors"]["accuracy"]["id"] == predictor_id
    origins = [c.strategy_attrs["origin"] for c in cands]
    assert origins[:10] == ["random"] * 10 and set(origins[10:]) == {"guided"}
    assert all(set(c.strategy_attrs["predicted"]) == {"latency_ms", "accuracy"} for c in cands[10:])
    scheduler.stop()
    # the stored candidates are a training set for a new predictor (``nas predictor train`` without --table)
    stored, values, jobs = from_jobs(
        sqlite_db, space="nb201", metric="latency_ms", dataset="cifar10", device=None, evaluator="tabular"
    )
    assert jobs == [job_id] and len(stored) == 30
    assert values.tolist() == [cpu.values[cpu.index[a.arch_id], column] for a in stored]
    assert (
        from_jobs(sqlite_db, space="nb201", metric="latency_ms", dataset=None, device=None, evaluator="cost")[0] == []
    )


@pytest.mark.usefixtures("ray_cluster")
def test_a_stale_predictor_fails_the_job_with_the_reason(sample: Table, sqlite_db: Database, tmp_path) -> None:
    settings = Settings(home=tmp_path, database_url=sqlite_db.url, ray_num_cpus=2, pool_size=1)
    archs, y = from_table(sample, "cifar10_test")
    model, _ = train_predictor(archs[:50], y[:50], space="nb201", metric="accuracy", shape=CIFAR10.shape, k=0,
                                      options={"members": 2, "n_estimators": 20})  # fmt: skip
    folder = model.save(settings.artifacts / "predictors" / "old")
    meta = json.loads((folder / "predictor.json").read_text())
    meta["info"]["feature_version"] = "f0:nb201@1:0000000000"  # trained by an older feature recipe
    (folder / "predictor.json").write_text(json.dumps(meta))
    info = {"space": "nb201", "metric": "accuracy", "shape": dict(CIFAR10.shape), "label": "cifar10"}
    with sqlite_db.session() as s:
        register_artifact(s, root=settings.artifacts, path=folder, kind="predictor", name="old", info=info)
    scheduler = Scheduler(settings)
    job_id = _submit(
        sqlite_db,
        space="nb201",
        dataset="cifar10",
        objectives=[{"metric": "accuracy", "evaluator": "predictor"}, {"metric": "params"}],
        strategy={"name": "random"},
        budget={"candidates": 10},
    )
    job = _finish(scheduler, sqlite_db, job_id, timeout=60)
    assert job.state == "failed" and job.evaluated == 0
    assert "StalePredictorError" in job.error and "f0:nb201@1" in job.error and "retrain" in job.error
    scheduler.stop()
