"""What a job submission refuses with a 422 before anything is stored: evaluator options outside
their declared `Options`, a metric its evaluator does not produce, a latency table that cannot
price the space; and what the catalogue says about evaluators and metrics."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from evaluators.devices import Device
from evaluators.latency_lut import Entry, LatencyTable
from search_spaces import get_space
from store import latency as lut_repo
from store.session import Database
from tests.service.conftest import KEY, spec

SHAPE = {"in_channels": 1, "input_size": 8, "num_classes": 10}  # the digits dataset


def refused(api: TestClient, body: dict[str, Any]) -> str:
    answer = api.post("/api/jobs", json=body, headers=KEY)
    assert answer.status_code == 422, answer.text
    assert api.get("/api/jobs").json()["count"] == 0  # nothing stored
    return answer.json()["message"]


@pytest.mark.parametrize(
    ("evaluators", "objectives", "message"),
    [
        (
            {"train": {"epoch": 3}},
            [{"metric": "accuracy", "evaluator": "train"}],
            "evaluators.train.epoch: Extra inputs are not permitted (options of train: epochs, train_limit,",
        ),
        (
            {"train": {"epochs": 0}},
            [{"metric": "accuracy", "evaluator": "train"}],
            "evaluators.train.epochs: Input should be greater than or equal to 1",
        ),
        (
            {"supernet": {"readout": "logistic"}},
            [{"metric": "accuracy"}],
            "evaluators.supernet.readout: Input should be 'ridge' or 'inherited'",
        ),
        (
            {"latency_lut": {"passes": 0}},
            [{"metric": "latency_ms"}],
            "evaluators.latency_lut.passes: Input should be greater than or equal to 1",
        ),
        (
            {"cost": {"exact": True}},
            [{"metric": "params"}],
            "evaluators.cost.exact: Extra inputs are not permitted (options of cost: none)",
        ),
        (
            {},
            [{"metric": "accuracy", "evaluator": "cost"}],
            "objectives: evaluator 'cost' does not produce 'accuracy'; it produces params, macs",
        ),
        (
            {},
            [{"metric": "accuracy", "evaluator": "train"}, {"dataset": "shape:3x32x32:10"}],
            "dataset: shape:3x32x32:10 fixes a shape only; evaluator 'train' (accuracy) needs images",
        ),
    ],
)
def test_bad_evaluator_options_get_a_422_naming_the_field(
    api: TestClient, evaluators: dict, objectives: list, message: str
) -> None:
    extra = next((o for o in objectives if "dataset" in o), {})  # a field of the job, not an objective
    body = spec(objectives=[o for o in objectives if "dataset" not in o], constraints=[], evaluators=evaluators)
    assert message in refused(api, body | extra)


@pytest.mark.parametrize("name", ["shape:3x224x225:1000", "shape:3x224x224", "shape:0x8x8:10"])
def test_a_malformed_shape_only_dataset_is_refused(api: TestClient, name: str) -> None:
    assert "write a shape-only dataset as shape:CxHxW:N" in refused(api, spec(dataset=name))


def partial_table(db: Database, *, drop: int) -> str:
    """An external device's table for the mnasnet space at the digits shape, without ``drop`` operators."""
    catalogue = get_space("mnasnet").op_catalogue(**SHAPE)
    entries = {op.signature(): Entry(0.1, 0.01, 5) for op in catalogue[drop:]}
    table = LatencyTable("t-partial", "phone1", "mnasnet", **SHAPE, source="imported", entries=entries)
    with db.session() as s:
        lut_repo.save_device(s, Device("phone1", "phone", "external", description="test phone"))
        lut_repo.create_table(s, table, status="ready")
    return table.id


def test_a_table_that_cannot_price_the_space_is_refused_saying_how_many_operators_are_missing(
    api: TestClient, db: Database
) -> None:
    table_id = partial_table(db, drop=7)
    total = len(get_space("mnasnet").op_catalogue(**SHAPE))
    body = spec(device="phone1", objectives=[{"metric": "latency_ms"}], constraints=[])
    message = refused(api, body)
    assert f"latency table {table_id} (phone1) cannot price the mnasnet space: 7 of its {total} operators" in message
    named = refused(api, body | {"device": "cpu", "evaluators": {"latency_lut": {"table": table_id}}})
    assert "evaluators.latency_lut.table" in named and "7 of its" in named


def test_a_complete_table_is_accepted_and_prices_every_candidate(api: TestClient, db: Database) -> None:
    partial_table(db, drop=0)
    body = spec(device="phone1", objectives=[{"metric": "latency_ms"}, {"metric": "params"}], constraints=[])
    created = api.post("/api/jobs", json=body | {"budget": {"candidates": 16}}, headers=KEY)
    assert created.status_code == 201, created.text


def test_the_catalogue_serves_each_evaluators_options_schema_and_each_metric_record(api: TestClient) -> None:
    evaluators = {e["name"]: e for e in api.get("/api/evaluators").json()}
    assert evaluators["cost"]["metrics"] == ["params", "macs"] and evaluators["cost"]["options"]["properties"] == {}
    readout = evaluators["supernet"]["options"]["properties"]["readout"]
    assert readout["enum"] == ["ridge", "inherited"] and readout["default"] == "ridge"
    assert evaluators["supernet"]["needs"] == ["StoredArtifact", "DataDirs"]
    assert evaluators["train"]["options"]["properties"]["epochs"]["minimum"] == 1
    assert evaluators["tabular"]["metrics"] is None  # whatever its table holds
    metrics = api.get("/api/metrics").json()
    assert metrics["accuracy"]["direction"] == "max" and metrics["accuracy"]["reference"] == 0.0
    assert metrics["latency_ms"] | {"description": ""} == {
        "name": "latency_ms",
        "direction": "min",
        "unit": "ms",
        "description": "",
        "log_scale": True,
        "scope": "device",
        "reference": None,
        "default_evaluator": "latency_lut",
    }


@pytest.mark.parametrize("bound", ["1234567", "1234568", "0.1", "2e6", "-3.5"])
def test_a_stored_constraint_round_trips_exactly(api: TestClient, bound: str) -> None:
    created = api.post("/api/jobs", json=spec(constraints=[f"params <= {bound}"]), headers=KEY)
    assert created.status_code == 201, created.text
    stored = api.get(f"/api/jobs/{created.json()['id']}").json()["spec"]["constraints"][0]
    assert float(stored.split()[-1]) == float(bound)
    api.delete(f"/api/jobs/{created.json()['id']}", headers=KEY)
