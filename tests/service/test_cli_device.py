"""``nas device add | onboard | upload`` against a real SQLite file: the files onboard writes are
what upload reads back, and bad uploads are one-line errors."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from search_spaces import Architecture, get_space
from tests.conftest import Nas
from tests.service.test_cli_predictor import SAMPLE


def test_onboard_a_device_from_the_command_line(tmp_path: Path, nas: Nas) -> None:
    declare = ["--column", "cifar10_test=accuracy:%", "--column", "cifar10_valid_12ep=ignore"]
    assert nas("predictor", "import-table", str(SAMPLE), "--space", "nb201", "--name", "s", *declare).returncode == 0
    for column in ("hwnb_raspi4_lat_ms", "hwnb_pixel3_lat_ms"):
        trained = nas("predictor", "train", "--space", "nb201", "--metric", "latency_ms", "--table", "s",
                      "--column", column, "--dataset", "cifar10", "--cv", "0", "--members", "1")  # fmt: skip
        assert trained.returncode == 0, trained.stderr
    added = nas("device", "add", "newphone", "--kind", "phone")
    assert added.returncode == 0 and "device newphone (phone) added" in added.stdout, added.stderr
    out = tmp_path / "onboard"
    design = nas("device", "onboard", "newphone", "--space", "nb201", "--k", "6", "--dataset", "cifar10",
                 "--out", str(out))  # fmt: skip
    assert design.returncode == 0, design.stderr
    archs = [Architecture.from_dict(json.loads(line)) for line in (out / "archs.jsonl").read_text().splitlines()]
    with (out / "measurements.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert [Architecture.from_dict(json.loads(r["arch"])) for r in rows] == archs and len(archs) == 6
    space = get_space("nb201")
    filled = tmp_path / "filled.csv"
    with filled.open("w", newline="") as f:  # a device whose latency grows with the parameters
        writer = csv.writer(f)
        writer.writerow(["arch", "latency_ms"])
        writer.writerows([r["arch"], 1.0 + space.cost(a, in_channels=3, input_size=32, num_classes=10).params / 1e5]
                         for r, a in zip(rows, archs, strict=True))  # fmt: skip
    done = nas("device", "upload", "newphone", str(filled), "--space", "nb201", "--dataset", "cifar10")
    assert done.returncode == 0 and "for newphone from 6 measurements" in done.stdout, done.stderr
    bad = nas("device", "upload", "newphone", str(out / "measurements.csv"), "--space", "nb201",
              "--dataset", "cifar10")  # fmt: skip
    assert bad.returncode == 2 and bad.stderr.startswith("error: ") and "row 1, column latency_ms" in bad.stderr
