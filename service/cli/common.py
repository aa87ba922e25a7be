"""Shared pieces of the CLI: settings, the database, task shapes, requests and progress bars."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Annotated, Any, TypeVar

import typer
from pydantic import BaseModel, ValidationError
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from core.errors import NasError
from store.session import Database
from store.settings import Settings, get_settings
from workers.operations.common import task_shape as task_shape  # re-exported for the commands

M = TypeVar("M", bound=BaseModel)

console = Console(stderr=True)

DatasetOpt = Annotated[
    str | None, typer.Option("--dataset", help="Take the input shape from a dataset (e.g. fashion-mnist).")
]
InputSizeOpt = Annotated[int | None, typer.Option(min=1, help="Input height = width (default 224).")]
ChannelsOpt = Annotated[int | None, typer.Option(min=1, help="Input channels (default 3).")]
ClassesOpt = Annotated[int | None, typer.Option(min=1, help="Number of classes (default 1000).")]


def settings() -> Settings:
    return get_settings()


def open_db(s: Settings | None = None) -> Database:
    """The configured database, migrated to the newest schema."""
    db = Database((s or settings()).db_url)
    db.migrate()
    return db


def request(build: Callable[..., M], *args: Any, **fields: Any) -> M:
    """An operation's request (``build``: its class or a constructor of it) from the command's
    options; a refused field is one `NasError` line naming it."""
    try:
        return build(*args, **fields)
    except ValidationError as e:
        lines = [f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in e.errors()]
        raise NasError("; ".join(lines)) from None


@contextmanager
def progress_bar(description: str) -> Iterator[Callable[[int, int, str], None]]:
    """A progress bar (count, bar, elapsed, ETA); yields ``update(done, total, phase)``.

    The bar appears with the first update, so a command that fails before any progress prints
    only its one-line error."""
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
    )
    bar: Progress | None = None
    tasks: dict[str, TaskID] = {}

    def update(done: int, total: int, phase: str) -> None:
        nonlocal bar
        if bar is None:
            bar = Progress(*columns, console=console, transient=False)
            bar.start()
        if phase not in tasks:
            tasks[phase] = bar.add_task(f"{description}: {phase}", total=total)
        bar.update(tasks[phase], completed=done, total=total)

    try:
        yield update
    finally:
        if bar is not None:
            bar.stop()
