"""Session fixtures: one real Ray cluster, real databases (SQLite always, PostgreSQL when reachable)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from store.session import Database
from store.settings import Settings

os.environ.setdefault("RAY_DEDUP_LOGS", "0")
# tests, Ray actors and (on a shared machine) other work compete for 2 cores: OpenMP threads that
# spin while waiting make two-thread torch ops up to 10x slower under contention
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
# one compiled sparse-kernel cache for every test, subprocess and actor (a test's own NAS_HOME would
# otherwise compile the extension again, ~40 s each time)
os.environ.setdefault("NAS_KERNEL_CACHE", str(Path.home() / ".cache" / "nas" / "kernels"))


def postgres_url() -> str | None:
    """A URL for the local PostgreSQL server, if one answers on 127.0.0.1:5432."""
    url = os.environ.get("NAS_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
    try:
        with socket.create_connection(("127.0.0.1", 5432), timeout=0.5):
            return url
    except OSError:
        return None


@pytest.fixture
def one_thread() -> Iterator[None]:
    """One torch thread: two threads spin against each other on a loaded 2-core machine (20x slower)."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


Nas = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def nas(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> Iterator[Nas]:
    """Run ``nas ARGS`` in this process with NAS_HOME=tmp_path (no interpreter start-up per call);
    ``tests/service/test_cli.py`` runs the installed entry point as a subprocess."""
    from service.cli import main
    from store.settings import get_settings

    monkeypatch.setenv("NAS_HOME", str(tmp_path))
    get_settings.cache_clear()

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        monkeypatch.setattr(sys, "argv", ["nas", *args])
        try:
            main()
            code = 0
        except SystemExit as e:
            code = int(e.code or 0)
        captured = capsys.readouterr()
        return subprocess.CompletedProcess(["nas", *args], code, captured.out, captured.err)

    yield run
    get_settings.cache_clear()


@pytest.fixture(scope="session")
def ray_cluster() -> Iterator[None]:
    """Ray started once per test session, in the main thread."""
    import ray

    from workers.ray_runtime import ensure_ray

    ensure_ray(Settings(ray_num_cpus=2))
    yield
    ray.shutdown()


@pytest.fixture
def sqlite_db(tmp_path: Path) -> Iterator[Database]:
    db = Database(f"sqlite:///{tmp_path / 'nas.db'}")
    db.migrate()
    yield db
    db.dispose()


@contextmanager
def postgres_schema() -> Iterator[str]:
    """The URL of a fresh, empty PostgreSQL schema, dropped afterwards (skips when no server answers)."""
    url = postgres_url()
    if url is None:
        pytest.skip("no PostgreSQL server on 127.0.0.1:5432")
    from sqlalchemy import create_engine, text

    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(url, pool_pre_ping=True)  # its idle connection may have been terminated meanwhile
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield f"{url}?options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture
def postgres_db() -> Iterator[Database]:
    """A fresh PostgreSQL schema per test (skipped when no server answers)."""
    with postgres_schema() as url:
        db = Database(url)
        db.migrate()
        yield db
        db.dispose()


@pytest.fixture(params=["sqlite", "postgres"])
def db(request: pytest.FixtureRequest) -> Database:
    """Each test using it runs on SQLite and on PostgreSQL."""
    return request.getfixturevalue(f"{request.param}_db")
