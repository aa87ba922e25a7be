"""The Typer application that every ``nas`` command module adds its commands to."""

from __future__ import annotations

import typer

app = typer.Typer(
    name="nas",
    help="Neural architecture search service.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
