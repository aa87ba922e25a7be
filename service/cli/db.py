"""``nas db upgrade``: wait for the database and bring its schema to the newest migration."""

from __future__ import annotations

from typing import Annotated

import typer

from service.cli.app import app
from service.cli.common import settings
from store.session import Database

db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
app.add_typer(db_app, name="db")


@db_app.command("upgrade")
def upgrade_cmd(
    wait: Annotated[float, typer.Option(help="Seconds to wait for the database to answer.")] = 0.0,
) -> None:
    """Run the Alembic migrations (the API also does this when it starts)."""
    database = Database(settings().db_url)
    try:
        if wait > 0:
            database.wait(wait)
        database.migrate()
        typer.echo(f"database {database.backend} is at the newest schema")
    finally:
        database.dispose()
