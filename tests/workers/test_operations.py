"""The shared operations (`workers.operations`) called directly, as the CLI and the API call them:
real SQLite, tiny data, and what each one stores."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import ValidationError

from core.errors import NasError
from predictors import load_predictor
from store import artifacts as artifact_repo
from store import latency as lut_repo
from store.measurements import load_table, predictor_folder, training_ids
from store.session import Database
from store.settings import Settings
from workers.operations import (
    DassSearchRequest,
    LutImportRequest,
    LutMeasureRequest,
    PredictorFitRequest,
    SupernetTrainRequest,
    TableImportRequest,
    fit_predictor,
    import_latency_table,
    import_table,
    measure_latency_table,
    run_dass_search,
    train_supernet,
)

DATA = Path(__file__).parents[1] / "data"
DIGITS = {"in_channels": 1, "input_size": 8, "num_classes": 10}
DECLARE = {"cifar10_test": "accuracy:%", "cifar10_valid_12ep": "ignore"}


@pytest.fixture
def settings(sqlite_db: Database, tmp_path: Path) -> Settings:
    return Settings(home=tmp_path, database_url=sqlite_db.url, ray_num_cpus=2, pool_size=1)


def test_requests_refuse_unknown_and_out_of_range_fields() -> None:
    with pytest.raises(ValidationError, match="width"):
        SupernetTrainRequest(epochs=1, width=1.5)
    with pytest.raises(ValidationError, match="epochs"):
        SupernetTrainRequest(epochs=0)
    with pytest.raises(ValidationError, match="extra"):
        LutMeasureRequest(space="mnasnet", repats=3)  # a typo is an error, not a default
    with pytest.raises(ValidationError, match="method"):
        DassSearchRequest(method="enas")
    request = PredictorFitRequest(space="nb201", metric="accuracy", dataset="cifar10")
    assert request.shape() == {"in_channels": 3, "input_size": 32, "num_classes": 10}
    assert PredictorFitRequest.model_validate(request.model_dump()) == request  # a route body round-trips
    with pytest.raises(ValidationError):
        request.cv = 3  # type: ignore[misc]  # frozen


def test_import_table_then_fit_a_predictor_on_it(sqlite_db: Database, settings: Settings) -> None:
    phases: list[str] = []
    req = TableImportRequest.from_file(DATA / "nb201_sample.csv", space="nb201", columns=DECLARE)
    stored = import_table(sqlite_db, settings, req, progress=lambda d, t, p: phases.append(p))
    assert phases == ["parsed", "stored"] and stored.name == "nb201_sample.csv" and stored.space == "nb201"
    [column] = [c for c in stored.columns if c.name == "cifar10_test"]
    assert (column.metric, column.unit) == ("accuracy", "%") and column.filled == stored.rows > 100
    table, table_id = load_table(sqlite_db, settings, "nb201_sample.csv")
    assert table_id == stored.table_id and len(table) == stored.rows

    fit = PredictorFitRequest(space="nb201", metric="accuracy", table=stored.table_id, dataset="cifar10", n=60,
                              cv=3, members=2)  # fmt: skip
    model = fit_predictor(sqlite_db, settings, fit)
    assert (model.metric, model.label, model.n_train, model.cv["k"]) == ("accuracy", "cifar10_test", 60, 3)
    assert model.source == {"table": stored.table_id, "column": "cifar10_test"}
    assert model.name == "nb201-accuracy-cifar10_test-60"
    folder, row = predictor_folder(sqlite_db, settings, model.name)
    assert row.id == model.artifact_id and row.info["n_train"] == 60 and len(training_ids(folder)) == 60
    assert load_predictor(folder).metric == "accuracy"

    with pytest.raises(NasError, match="is for space nb201, not mnasnet"):
        fit_predictor(sqlite_db, settings, PredictorFitRequest(space="mnasnet", metric="accuracy", table=table_id))
    with pytest.raises(NasError, match="only 0 architectures with accuracy"):
        fit_predictor(sqlite_db, settings, PredictorFitRequest(space="nb201", metric="accuracy"))  # no jobs yet


def test_import_latency_tables_from_csv_and_json(sqlite_db: Database, settings: Settings) -> None:
    csv = LutImportRequest(text=(DATA / "proxylessnas_mobile_lut.csv").read_text(), format="csv", device="pixel1",
                           kind="phone", space="mnasnet")  # fmt: skip
    stored = import_latency_table(sqlite_db, settings, csv)
    assert stored.ready and stored.operators == 72 and stored.device == "pixel1"
    assert stored.description.startswith("mnasnet 3x224x224 -> 1000 classes on pixel1")
    with sqlite_db.session() as s:
        assert lut_repo.get_device(s, "pixel1").kind == "phone"
        assert len(lut_repo.load_table(s, stored.table_id).entries) == 72
    with pytest.raises(NasError, match="needs --device and --space"):
        import_latency_table(sqlite_db, settings, LutImportRequest(text="signature,median_ms\n", format="csv"))
    seconds = LutImportRequest(text='{"format": "nas-latency-table", "units": "s"}')
    with pytest.raises(NasError, match="units: 's' unsupported"):
        import_latency_table(sqlite_db, settings, seconds)


@pytest.mark.usefixtures("ray_cluster")
def test_measure_a_partial_latency_table(sqlite_db: Database, settings: Settings) -> None:
    seen: list[tuple[int, int, str]] = []
    req = LutMeasureRequest(space="mnasnet", dataset="digits", warmup=1, repeats=3, passes=1, limit=3)
    stored = measure_latency_table(sqlite_db, settings, req, progress=lambda d, t, p: seen.append((d, t, p)))
    assert stored.operators == 3 and not stored.ready and stored.shape == DIGITS
    assert seen[-1][:2] == (3, 3)
    with pytest.raises(NasError, match="unknown device 'toaster'"):
        measure_latency_table(sqlite_db, settings, LutMeasureRequest(space="mnasnet", device="toaster"))


@pytest.mark.usefixtures("one_thread")
def test_a_dass_search_is_registered_and_resumes_where_it_stopped(sqlite_db: Database, settings: Settings) -> None:
    lines: list[str] = []
    req = DassSearchRequest(dataset="digits", epochs=2, search_channels=2, search_layers=3, train_limit=32,
                            batch_size=16, arch_lr=0.03, channels=8, layers=5)  # fmt: skip
    result = run_dass_search(sqlite_db, settings, req, progress=lambda d, t, text: lines.append(text))
    assert [line.split()[:2] for line in lines] == [["epoch", "1/2"], ["epoch", "2/2"]]
    assert result.resumed_from == 0 and result.arch.genome[2] == "C=8 L=5 s=0.9"
    history = json.loads((result.folder / "history.json").read_text())  # the dass strategy's format
    assert history["config"]["channels"] == 2 and len(history["epochs"]) == 2
    with sqlite_db.session() as s:
        row = artifact_repo.get_artifact(s, result.artifact_id, kind="dass_search")
        assert row.info["arch_id"] == result.arch.arch_id and row.info["dataset"] == "digits"
    again = run_dass_search(sqlite_db, settings, req, progress=lambda d, t, text: lines.append(text))
    assert again.resumed_from == 2 and again.folder == result.folder and again.arch == result.arch
    assert lines[-1] == f"resumed {result.folder} at epoch 2/2"  # nothing trained again


def test_supernet_requests_are_checked_before_training(sqlite_db: Database, settings: Settings) -> None:
    with pytest.raises(NasError, match="no supernet for search space 'nb201'"):
        train_supernet(sqlite_db, settings, SupernetTrainRequest(epochs=1, space="nb201", dataset="digits"))
    with pytest.raises(NasError, match="unknown dataset 'mnist'"):
        train_supernet(sqlite_db, settings, SupernetTrainRequest(epochs=1, dataset="mnist"))


@pytest.mark.slow
@pytest.mark.usefixtures("ray_cluster")
def test_train_a_tiny_supernet_and_find_it_again(sqlite_db: Database, settings: Settings) -> None:
    epochs: list[tuple[int, int]] = []
    req = SupernetTrainRequest(epochs=1, dataset="digits", subset=64, width=0.25, batch_size=32, random_subnets=1)
    trained = train_supernet(sqlite_db, settings, req, progress=lambda d, t, p: epochs.append((d, t)))
    assert epochs == [(1, 1)] and trained.info["epochs"] == 1 and trained.info["run"] == req.run().digest()
    assert 0.0 <= trained.info["accuracy"]["largest"]["test"] <= 1.0
    again = train_supernet(sqlite_db, settings, req.model_copy(update={"name": "other", "threads": 2}))
    assert again.artifact_id == trained.artifact_id  # the finished run is found, not trained again
