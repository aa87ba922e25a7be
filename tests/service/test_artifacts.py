"""``GET /api/artifacts``: what operations produced (a supernet, an imported table, a latency
table), each with its metadata and quality figures, filtered by kind; unknown kinds and ids are 404s."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from evaluators.supernet.checkpoint import save_supernet
from evaluators.supernet.network import MnasNetSupernet
from store import artifacts
from store.session import Database
from store.settings import Settings
from workers.operations import TableImportRequest, import_table
from workers.operations.latency import LutImportRequest, import_latency_table

DATA = Path(__file__).parents[1] / "data"


def test_artifacts_of_every_kind_are_listed_with_their_figures(api: TestClient, db: Database, tmp_path: Path) -> None:
    settings = Settings(home=tmp_path, database_url=db.url)
    net = MnasNetSupernet(in_channels=1, input_size=8, num_classes=10, width=0.25)
    path = save_supernet(settings.artifacts / "supernets" / "x" / "supernet.pt", net)
    accuracy = {"largest": {"val": 0.9, "test": 0.875}, "smallest": {"val": 0.5, "test": 0.625}}
    with db.session() as s:
        supernet = artifacts.register_artifact(s, root=settings.artifacts, path=path, kind="supernet", name="tiny",
                                               info={"space": "mnasnet", "accuracy": accuracy}).id  # fmt: skip
    declare = {"cifar10_test": "accuracy:%", "cifar10_valid_12ep": "ignore"}
    table = import_table(db, settings, TableImportRequest.from_file(DATA / "nb201_sample.csv", space="nb201",
                                                                    columns=declare)).table_id  # fmt: skip
    lut = LutImportRequest(text=(DATA / "proxylessnas_mobile_lut.csv").read_text(), format="csv", device="pixel1",
                           kind="phone", space="mnasnet")  # fmt: skip
    lut_id = import_latency_table(db, settings, lut).table_id

    listed = api.get("/api/artifacts").json()
    assert {a["id"]: a["kind"] for a in listed} == {supernet: "supernet", table: "table", lut_id: "latency_table"}
    assert [a["created_at"] for a in listed] == sorted((a["created_at"] for a in listed), reverse=True)
    only = api.get("/api/artifacts", params={"kind": "supernet"}).json()
    assert [a["id"] for a in only] == [supernet] and only[0]["info"]["accuracy"] == accuracy
    tables = api.get("/api/artifacts", params={"kind": "latency_table"}).json()
    assert [t["info"]["device"] for t in tables] == ["pixel1"] and tables[0]["name"] == "pixel1 mnasnet 3x224x224"
    assert api.get(f"/api/artifacts/{lut_id}").json()["kind"] == "latency_table"
    assert api.get("/api/artifacts/tiny").json()["id"] == supernet  # by name: the newest
    unknown = api.get("/api/artifacts", params={"kind": "weights"})
    assert unknown.status_code == 404 and "kinds: supernet, predictor, table" in unknown.json()["message"]
    assert api.get("/api/artifacts/nope").status_code == 404
