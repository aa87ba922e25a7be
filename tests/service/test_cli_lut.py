"""``nas lut import | export | list`` and ``nas devices`` against a real SQLite file."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import Nas

PHONE_CSV = Path(__file__).parents[1] / "data" / "proxylessnas_mobile_lut.csv"


def test_import_export_round_trip(tmp_path: Path, nas: Nas) -> None:
    out = nas("lut", "import", str(PHONE_CSV), "--device", "pixel1", "--kind", "phone", "--space", "mnasnet")
    assert out.returncode == 0, out.stderr
    assert "72 operators, mnasnet 3x224x224 -> 1000 classes on pixel1" in out.stdout
    table_id = out.stdout.split()[2].rstrip(":")
    assert "pixel1       phone      external" in nas("devices").stdout
    exported = nas("lut", "export", table_id, "-o", str(tmp_path / "t.json"))
    assert exported.returncode == 0, exported.stderr
    doc = json.loads((tmp_path / "t.json").read_text())
    assert doc["device"]["name"] == "pixel1" and len(doc["entries"]) == 72 and doc["units"] == "ms"
    listing = nas("lut", "list").stdout
    assert table_id in listing and "imported" in listing


def test_bad_tables_get_one_line_errors(tmp_path: Path, nas: Nas) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"format": "nas-latency-table", "units": "s"}')
    out = nas("lut", "import", str(bad))
    assert out.returncode == 2 and out.stderr.strip() == "error: units: 's' unsupported; tables are in ms"
    csv_without_device = nas("lut", "import", str(PHONE_CSV))
    assert csv_without_device.returncode == 2 and "needs --device and --space" in csv_without_device.stderr
    unknown = nas("lut", "measure", "--space", "mnasnet", "--device", "toaster")
    assert unknown.returncode == 2 and "unknown device 'toaster'; known: cpu, cpu-onnx, cuda" in unknown.stderr
    assert "Traceback" not in unknown.stderr + out.stderr
