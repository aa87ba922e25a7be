"""Migrations of a fresh database started by several processes at once (the API, the Ray runner and
a CLI command on a new home) all succeed: `Database.migrate` serialises them."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from store.session import Database
from tests.conftest import postgres_schema

MIGRATE = "import sys; from store.session import Database; Database(sys.argv[1]).migrate()"


@pytest.fixture(params=["sqlite", "postgres"])
def fresh_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The URL of an empty database (no tables yet)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'fresh.db'}"
        return
    with postgres_schema() as url:
        yield url


def test_concurrent_migrations_of_a_fresh_database_all_succeed(fresh_url: str) -> None:
    root = Path(__file__).resolve().parents[2]
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", MIGRATE, fresh_url], cwd=root, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        for _ in range(4)
    ]
    results = [(p.wait(timeout=120), p.stderr.read().decode()) for p in procs]
    errors = [[line for line in err.splitlines() if "Error" in line][-1:] for _, err in results]
    assert [rc for rc, _ in results] == [0, 0, 0, 0], errors
    db = Database(fresh_url)
    try:
        assert db.is_at_head()
        assert {"nas_jobs", "nas_candidates"} <= set(db.tables())
    finally:
        db.dispose()


def test_the_migrations_build_exactly_the_models_tables(tmp_path: Path) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from store.models import Base

    db = Database(f"sqlite:///{tmp_path / 'm.db'}")
    db.migrate()
    try:
        with db.engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    finally:
        db.dispose()
    assert [d for d in diff if not (d[0] == "remove_table" and d[1].name == "nas_alembic_version")] == []
