"""``nas supernet train | list`` from the command line: listing and one-line errors (no training)."""

from __future__ import annotations

from pathlib import Path

from evaluators.supernet.checkpoint import save_supernet
from evaluators.supernet.network import MnasNetSupernet
from store import artifacts
from store.session import Database
from store.settings import Settings
from tests.conftest import Nas


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

    listed = nas("supernet", "list")
    assert listed.returncode == 0, listed.stderr
    line = listed.stdout.strip()
    assert line.startswith(row.id) and "tiny-digits" in line and "largest 0.8750" in line and "smallest 0.6250" in line
    none = nas("supernet", "list", "--dataset", "fashion-mnist")
    assert (none.returncode, none.stdout) == (0, "")

    def refused(*args: str) -> str:
        done = nas("supernet", "train", *args, "--epochs", "1")
        assert done.returncode == 2, done.stdout
        return done.stderr.strip()

    known = "fbnet, mnasnet, nasnet, proxylessnas, sparse"
    no_nb201 = f"error: no supernet for search space 'nb201'; supernets exist for: {known}"
    assert refused("--space", "nb201", "--dataset", "digits") == no_nb201
    mnasnet = refused("--space", "mnasnet", "--macro", "N=1 f=8 stem=1")
    assert "macro: only cell spaces have a macro setting to fix, not mnasnet" in mnasnet
    nasnet = refused("--space", "nasnet", "--macro", "N=9 f=8 stem=1")
    assert "macro: cells 9 is not allowed; allowed: 1, 2, 3, 4, 5, 6" in nasnet, nasnet
    assert "error: unknown dataset 'mnist'; known:" in refused("--dataset", "mnist")
    cifar = refused("--dataset", "cifar10")
    assert f"looked in {tmp_path / 'data' / 'cifar10'}" in cifar and "cifar-10-python.tar.gz" in cifar
