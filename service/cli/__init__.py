"""The ``nas`` command line: one module per topic, each adding commands to `app`.

Bad input (unknown space, malformed JSON, invalid choice, missing file) ends with a one-line
``error: ...`` on standard error and exit status 2, never a traceback.
"""

from __future__ import annotations

import typer

from core.errors import NasError
from service.cli import dass, db, demo, device, jobs, keys, lut, predictor, spaces, supernet  # noqa: F401 - registers the commands
from service.cli.app import app

__all__ = ["app", "main"]


def main() -> None:
    """Console entry point: run the app, turning expected errors into one line."""
    try:
        app()
    except NasError as e:
        typer.echo(f"error: {e}", err=True)
        raise SystemExit(2) from None
    except OSError as e:
        typer.echo(f"error: {e.strerror or e}: {e.filename or ''}".rstrip(": "), err=True)
        raise SystemExit(2) from None
