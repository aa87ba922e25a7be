"""Engine and sessions: one `Database` per process, sessions that commit or roll back as a unit.

SQLite runs in WAL mode with a busy timeout (so the API and the Ray runner can share the file);
PostgreSQL connections are pre-pinged. Database errors leave this layer as `StoreError`.
"""

from __future__ import annotations

import fcntl
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import create_engine, event, inspect
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import IntegrityError, OperationalError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from core.errors import StoreError

T = TypeVar("T")
MIGRATIONS = Path(__file__).with_name("migrations")
VERSION_TABLE = "nas_alembic_version"  # Optuna owns "alembic_version"
MIGRATION_LOCK_KEY = 0x6E61735F6D6967  # "nas_mig": the advisory lock that serialises migrations


def _engine(url: str) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})

        @event.listens_for(engine, "connect")
        def _pragmas(conn: Any, _record: Any) -> None:
            cur = conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=5)


class Database:
    """An engine plus a session factory for one URL."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = _engine(url)
        self._factory = sessionmaker(self.engine, expire_on_commit=False)

    @property
    def backend(self) -> str:
        return self.engine.dialect.name

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A unit of work: committed on success, rolled back on any error."""
        session = self._factory()
        try:
            yield session
            session.commit()
        except IntegrityError:
            session.rollback()
            raise
        except SQLAlchemyError as e:
            session.rollback()
            raise StoreError(f"database error: {e.__class__.__name__}: {str(e).splitlines()[0]}") from e
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    def retrying(self, work: Callable[[Session], T], *, attempts: int = 5, backoff: float = 0.2) -> T:
        """Run an idempotent unit of work, retrying when the connection drops or the file is locked."""
        for attempt in range(attempts):
            try:
                with self.session() as session:
                    return work(session)
            except StoreError as e:
                if not isinstance(e.__cause__, OperationalError) or attempt == attempts - 1:
                    raise
                time.sleep(backoff * 2**attempt)
        raise AssertionError("unreachable")

    def wait(self, timeout: float) -> None:
        """Block until the database answers (a container starting beside us), at most ``timeout`` s."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                with self.engine.connect() as conn:
                    conn.exec_driver_sql("SELECT 1")
                return
            except OperationalError as e:
                if time.monotonic() >= deadline:
                    raise StoreError(
                        f"database at {self.engine.url!r} did not answer within {timeout:g} s: {e.orig}"
                    ) from e
                time.sleep(1.0)

    def migrate(self) -> None:
        """Bring the schema to the newest migration (``alembic upgrade head``), one process at a time:
        the API, the Ray runner and CLI commands may all start on a fresh database at once."""
        from alembic import command

        with self._migration_lock():
            command.upgrade(self.alembic_config(), "head")

    @contextmanager
    def _migration_lock(self) -> Iterator[None]:
        """An exclusive lock across processes: a lock file beside a SQLite file, a PostgreSQL
        advisory lock (held by its own connection) on a server."""
        if self.backend == "postgresql":
            with self.engine.connect() as conn:
                conn.exec_driver_sql(f"SELECT pg_advisory_lock({MIGRATION_LOCK_KEY})")
                try:
                    yield
                finally:
                    conn.exec_driver_sql(f"SELECT pg_advisory_unlock({MIGRATION_LOCK_KEY})")
            return
        database = make_url(self.url).database
        if self.backend != "sqlite" or not database or database == ":memory:":
            yield
            return
        with Path(f"{database}.migrate-lock").open("a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def alembic_config(self):
        from alembic.config import Config

        cfg = Config()
        cfg.set_main_option("script_location", str(MIGRATIONS))
        cfg.set_main_option("sqlalchemy.url", self.url.replace("%", "%%"))
        cfg.attributes["engine"] = self.engine
        return cfg

    def is_at_head(self) -> bool:
        """Whether the schema is at the newest migration (for readiness checks)."""
        from alembic.runtime.migration import MigrationContext
        from alembic.script import ScriptDirectory

        heads = set(ScriptDirectory.from_config(self.alembic_config()).get_heads())
        with self.engine.connect() as conn:
            current = set(MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE}).get_current_heads())
        return current == heads

    def tables(self) -> list[str]:
        return inspect(self.engine).get_table_names()

    def dispose(self) -> None:
        self.engine.dispose()
