"""``nas supernet train | list`` from the command line: listing and one-line errors (no training)."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from evaluators.supernet.checkpoint import save_supernet
from evaluators.supernet.network import MnasNetSupernet
from store import artifacts
from store.session import Database
from store.settings import Settings, get_settings

Nas = Callable[..., tuple[int, str, str]]


@pytest.fixture
def nas(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> Iterator[Nas]:
    """Run ``nas ARGS`` in this process with NAS_HOME=tmp_path: (exit status, stdout, stderr)."""
    from service.cli import main

    monkeypatch.setenv("NAS_HOME", str(tmp_path))
    get_settings.cache_clear()

    def run(*args: str) -> tuple[int, str, str]:
        monkeypatch.setattr(sys, "argv", ["nas", *args])
        try:
            main()
            code = 0
        except SystemExit as e:
            code = int(e.code or 0)
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    yield run
    get_settings.cache_clear()


def test_list_shows_registered_supernets_and_bad_input_gets_one_line(tmp_path: Path, nas: Nas) -> None:
    settings = Settings(home=tmp_path)
    db = Database(settings.db_url)
    db.migrate()
    net = MnasNetSupernet(in_channels=1, input_size=8, num_classes=10, width=0.25)
    path = save_supernet(settings.artifacts / "supernets" / "x" / "supernet.pt", net)
    info = {"space": "mnasnet", "dataset": "digits", "epochs": 3, "width": 0.25, "seconds": 12.5}
    info["accuracy"] = {"largest": {"val": 0.9, "test": 0.875}, "smallest": {"val": 0.5, "test": 0.625}}
    with db.session() as s:
        row = artifacts.register_artifact(
            s, root=settings.artifacts, path=path, kind="supernet", name="tiny-digits", info=info
        )
    db.dispose()

    code, out, err = nas("supernet", "list")
    assert code == 0, err
    line = out.strip()
    assert line.startswith(row.id) and "tiny-digits" in line and "largest 0.8750" in line and "smallest 0.6250" in line
    assert nas("supernet", "list", "--dataset", "fashion-mnist")[:2] == (0, "")

    code, _, err = nas("supernet", "train", "--space", "nb201", "--dataset", "digits", "--epochs", "1")
    known = "fbnet, mnasnet, nasnet, proxylessnas, sparse"
    no_nb201 = f"error: no supernet for search space 'nb201'; supernets exist for: {known}"
    assert code == 2 and err.strip() == no_nb201
    code, _, err = nas("supernet", "train", "--space", "mnasnet", "--macro", "N=1 f=8 stem=1", "--epochs", "1")
    assert code == 2 and "macro: only cell spaces have a macro setting to fix, not mnasnet" in err
    code, _, err = nas("supernet", "train", "--space", "nasnet", "--macro", "N=9 f=8 stem=1", "--epochs", "1")
    assert code == 2 and "macro: cells 9 is not allowed; allowed: 1, 2, 3, 4, 5, 6" in err, err
    code, _, err = nas("supernet", "train", "--dataset", "mnist", "--epochs", "1")
    assert code == 2 and "error: unknown dataset 'mnist'; known:" in err
    code, _, err = nas("supernet", "train", "--dataset", "cifar10", "--epochs", "1")
    assert code == 2 and f"looked in {tmp_path / 'data' / 'cifar10'}" in err and "cifar-10-python.tar.gz" in err
