"""What every operation shares: the progress callback, the request base and the task-shape fields."""

from __future__ import annotations

from collections.abc import Callable

from pydantic import BaseModel, ConfigDict, Field

from core.plugins import dataset_shape
from core.task import TaskShape

Progress = Callable[[int, int, str], None]  # done, total, phase


def no_progress(done: int, total: int, phase: str) -> None:
    pass


class Request(BaseModel):
    """Base of the operations' requests: immutable, unknown fields refused (a typo is an error)."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class Result(BaseModel):
    """Base of what an operation stored and returns."""

    model_config = ConfigDict(frozen=True)


class ShapeFields(Request):
    """The input shape, from ``dataset`` or the explicit fields (explicit fields win)."""

    dataset: str | None = Field(default=None, description="Take the input shape from this dataset.")
    input_size: int | None = Field(default=None, ge=1, description="Input height = width (default 224).")
    in_channels: int | None = Field(default=None, ge=1, description="Input channels (default 3).")
    num_classes: int | None = Field(default=None, ge=1, description="Number of classes (default 1000).")

    def shape(self) -> TaskShape:
        return task_shape(self.dataset, self.input_size, self.in_channels, self.num_classes)


def task_shape(
    dataset: str | None, input_size: int | None, in_channels: int | None, num_classes: int | None
) -> TaskShape:
    """Input shape from ``dataset`` or the explicit values (explicit values win; default 3x224x224, 1000)."""
    base = TaskShape(*dataset_shape(dataset)) if dataset else TaskShape()
    given = {"in_channels": in_channels, "input_size": input_size, "num_classes": num_classes}
    return TaskShape.of({k: v if v is not None else base[k] for k, v in given.items()})
