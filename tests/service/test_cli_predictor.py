"""``nas predictor import-table | train | eval | list`` against a real SQLite file (thin commands over
`workers.operations`), and request errors as one line."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import Nas

SAMPLE = Path(__file__).parents[1] / "data" / "nb201_sample.csv"


def test_import_train_eval_and_list(tmp_path: Path, nas: Nas) -> None:
    declare = ["--column", "cifar10_test=accuracy:%", "--column", "cifar10_valid_12ep=ignore"]
    out = nas("predictor", "import-table", str(SAMPLE), "--space", "nb201", "--name", "sample", *declare)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("table ") and "(sample):" in out.stdout and "architectures of nb201" in out.stdout
    assert "cifar10_test                 -> accuracy (from %)" in out.stdout
    trained = nas("predictor", "train", "--space", "nb201", "--metric", "accuracy", "--table", "sample",
                  "--dataset", "cifar10", "--n", "60", "--cv", "2", "--members", "1", "--name", "acc")  # fmt: skip
    assert trained.returncode == 0, trained.stderr
    assert "accuracy of nb201 (cifar10_test), trained on 60 architectures" in trained.stdout
    assert "2-fold CV: Kendall tau" in trained.stdout
    scored = nas("predictor", "eval", "acc", "--table", "sample")
    assert scored.returncode == 0, scored.stderr
    assert "architectures (unseen) of cifar10_test: Kendall tau" in scored.stdout
    assert ", MAPE " in scored.stdout
    by_device = nas("predictor", "eval", "acc", "--table", "sample", "--device", "cifar10_t")
    assert by_device.returncode == 0 and "of cifar10_test:" in by_device.stdout, by_device.stderr
    none = nas("predictor", "eval", "acc", "--table", "sample", "--device", "phone9")
    assert none.returncode == 2 and "0 columns start with it" in none.stderr
    listing = nas("predictor", "list").stdout
    assert "predictor " in listing and " acc " in listing and "n=60" in listing and "table     " in listing


def test_refused_options_get_one_line_errors(tmp_path: Path, nas: Nas) -> None:
    bad = nas("predictor", "import-table", str(SAMPLE), "--space", "nb201", "--column", "oops")
    assert bad.returncode == 2
    assert bad.stderr.strip() == "error: --column 'oops': write NAME=METRIC[:UNIT] or NAME=ignore"
    wide = nas("supernet", "train", "--epochs", "1", "--width", "1.5")
    assert wide.returncode == 2 and wide.stderr.strip() == "error: width: Input should be less than or equal to 1"
    nothing = nas("predictor", "train", "--space", "nb201", "--metric", "accuracy")
    assert nothing.returncode == 2 and "only 0 architectures with accuracy" in nothing.stderr
    assert "Traceback" not in bad.stderr + wide.stderr + nothing.stderr
