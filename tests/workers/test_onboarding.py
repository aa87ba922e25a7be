"""Device onboarding operations: add a device, the design, uploads (bad ones refused, nothing stored)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from core.errors import NasError
from predictors import load_predictor
from search_spaces import Architecture, get_space
from store import artifacts as artifact_repo
from store.measurements import predictor_folder
from store.session import Database
from store.settings import Settings
from workers.operations import PredictorFitRequest, TableImportRequest, fit_predictor, import_table
from workers.operations.devices import (
    DesignRequest,
    DeviceAddRequest,
    UploadRequest,
    add_device,
    onboarding_design,
    upload_measurements,
)

DATA = Path(__file__).parents[1] / "data"
DECLARE = {"cifar10_test": "accuracy:%", "cifar10_valid_12ep": "ignore"}


@pytest.fixture
def settings(sqlite_db: Database, tmp_path: Path) -> Settings:
    return Settings(home=tmp_path, database_url=sqlite_db.url, ray_num_cpus=2, pool_size=1)


def test_onboard_a_device_from_its_design(sqlite_db: Database, settings: Settings) -> None:
    req = TableImportRequest.from_file(DATA / "nb201_sample.csv", space="nb201", columns=DECLARE)
    table = import_table(sqlite_db, settings, req).table_id
    for col in ("hwnb_raspi4_lat_ms", "hwnb_pixel3_lat_ms"):
        fit = PredictorFitRequest(space="nb201", metric="latency_ms", table=table, column=col, dataset="cifar10",
                                  cv=0, members=2)  # fmt: skip
        fit_predictor(sqlite_db, settings, fit)
    add_device(sqlite_db, settings, DeviceAddRequest(name="newphone", kind="phone", description="test"))
    with pytest.raises(NasError, match="already exists"):
        add_device(sqlite_db, settings, DeviceAddRequest(name="newphone"))
    design = onboarding_design(sqlite_db, settings, DesignRequest(device="newphone", space="nb201", k=8,
                                                                  dataset="cifar10"))  # fmt: skip
    assert len({a["genome"].__str__() for a in design.archs}) == 8 and set(design.sources) == {
        "hwnb_raspi4_lat_ms",
        "hwnb_pixel3_lat_ms",
    }
    space = get_space("nb201")
    archs = [Architecture.from_dict(a) for a in design.archs]
    pixel3 = load_predictor(predictor_folder(sqlite_db, settings, "nb201-latency_ms-hwnb_pixel3_lat_ms-400")[0])
    y = 1.3 * pixel3.predict_archs(archs).mean  # the new phone: a slower Pixel 3
    lines = [f"{space.to_arch_str(a)},{v}" for a, v in zip(archs, y, strict=True)]

    def upload(rows: list[str]) -> object:
        text = "arch,latency_ms\n" + "\n".join(rows)
        return upload_measurements(sqlite_db, settings, UploadRequest(device="newphone", space="nb201", text=text,
                                                                      dataset="cifar10"))  # fmt: skip

    with sqlite_db.session() as s:
        before = len(artifact_repo.find_artifacts(s, "predictor"))
    bad = {
        "row 2, column latency_ms": [lines[0], lines[1].split(",")[0] + ",-3", *lines[2:]],
        "row 3, column latency_ms": [*lines[:2], lines[2].split(",")[0] + ",fast", *lines[3:]],
        "row 1, column arch": ["|bogus~0|,1.0", *lines[1:]],
        "row 4, column arch: .*same architecture as row 1": [*lines[:3], lines[0], *lines[4:]],
        "7 rows, but 8 were asked": lines[:7],
        "row 1, column arch.*space 'fbnet'": ['"{""space"": ""fbnet"", ""genome"": [""a""]}",1.0', *lines[1:]],
    }
    for message, rows in bad.items():
        with pytest.raises(NasError, match=message):
            upload(rows)
    with sqlite_db.session() as s:
        assert len(artifact_repo.find_artifacts(s, "predictor")) == before  # nothing stored
    done = upload(lines)
    assert done.n == 8 and done.cv["mean"]["spearman"] > 0.9
    model = load_predictor(predictor_folder(sqlite_db, settings, done.artifact_id)[0])
    assert model.kind == "transfer" and model.label == "newphone"
    test = [space.from_index(i) for i in range(0, 15625, 97)]
    rho = np.corrcoef(np.argsort(np.argsort(model.predict_archs(test).mean)),
                      np.argsort(np.argsort(pixel3.predict_archs(test).mean)))[0, 1]  # fmt: skip
    assert rho > 0.99
