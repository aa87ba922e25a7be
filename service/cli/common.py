"""Shared pieces of the CLI: settings, the database, task shapes and progress bars."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from evaluators.datasets import dataset_info
from store.session import Database
from store.settings import Settings, get_settings

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


def task_shape(
    dataset: str | None, input_size: int | None, in_channels: int | None, num_classes: int | None
) -> dict[str, int]:
    """Input shape from ``--dataset`` or the explicit options (explicit options win)."""
    base = {"in_channels": 3, "input_size": 224, "num_classes": 1000}
    if dataset:
        info = dataset_info(dataset)
        base = {"in_channels": info.in_channels, "input_size": info.input_size, "num_classes": info.num_classes}
    given = {"in_channels": in_channels, "input_size": input_size, "num_classes": num_classes}
    return {k: v if v is not None else base[k] for k, v in given.items()}


@contextmanager
def progress_bar(description: str) -> Iterator[Callable[[int, int, str], None]]:
    """A progress bar (count, bar, elapsed, ETA); yields ``update(done, total, phase)``."""
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=console, transient=False) as bar:
        tasks: dict[str, int] = {}

        def update(done: int, total: int, phase: str) -> None:
            if phase not in tasks:
                tasks[phase] = bar.add_task(f"{description}: {phase}", total=total)
            bar.update(tasks[phase], completed=done, total=total)

        yield update
