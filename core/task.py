"""The task shape: what candidate networks are built for.

`TaskShape` is a frozen value (input channels, input size, classes) that unpacks as the keyword
arguments of every space's ``build``/``cost``/``ops`` (``space.build(arch, **shape)``), is stored
as a plain dict (``dict(shape)``) and compares equal to one. `Task` adds the space and the dataset.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from core.errors import NasError

SHAPE_KEYS = ("in_channels", "input_size", "num_classes")


@dataclass(frozen=True)
class TaskShape(Mapping[str, int]):
    """Input channels, square input size and number of classes; a read-only mapping of those keys."""

    in_channels: int = 3
    input_size: int = 224
    num_classes: int = 1000

    def __post_init__(self) -> None:
        for key in SHAPE_KEYS:
            value = getattr(self, key)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise NasError(f"task shape: {key} must be a whole number >= 1, got {value!r}")

    @classmethod
    def of(cls, value: Mapping[str, Any]) -> TaskShape:
        """From a stored dict (unknown keys are an error naming them)."""
        extra = set(value) - set(SHAPE_KEYS)
        if extra:
            raise NasError(f"task shape: unknown keys {sorted(extra)}; known: {', '.join(SHAPE_KEYS)}")
        return cls(**{k: int(v) for k, v in value.items()})

    def __getitem__(self, key: str) -> int:
        if key not in SHAPE_KEYS:
            raise KeyError(key)
        return getattr(self, key)

    def __iter__(self) -> Iterator[str]:
        return iter(SHAPE_KEYS)

    def __len__(self) -> int:
        return len(SHAPE_KEYS)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Mapping):
            return dict(self) == dict(other)
        return NotImplemented

    def __hash__(self) -> int:
        return hash(tuple(self.values()))

    def __str__(self) -> str:
        return f"{self.in_channels}x{self.input_size}x{self.input_size} -> {self.num_classes} classes"


@dataclass(frozen=True)
class Task:
    """What candidates are built for: the space and the input/output shape (from the dataset)."""

    space: str
    in_channels: int = 3
    input_size: int = 224
    num_classes: int = 1000
    dataset: str | None = None

    @property
    def shape(self) -> TaskShape:
        """The shape; unpacks as the keyword arguments of `SearchSpace.build`, `cost` and `ops`."""
        return TaskShape(self.in_channels, self.input_size, self.num_classes)
