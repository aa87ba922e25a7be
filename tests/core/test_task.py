"""The task shape: a frozen, typed value that still unpacks as keyword arguments and stores as a dict."""

from __future__ import annotations

import pytest

from core.errors import NasError
from core.task import Task, TaskShape
from search_spaces import get_space


def test_a_shape_unpacks_as_build_keywords_and_equals_its_stored_dict() -> None:
    shape = TaskShape(1, 28, 10)
    stored = {"in_channels": 1, "input_size": 28, "num_classes": 10}
    assert dict(shape) == stored and shape == stored and stored == shape and TaskShape.of(stored) == shape
    assert shape != {**stored, "num_classes": 100} and hash(shape) == hash(TaskShape(1, 28, 10))
    assert str(shape) == "1x28x28 -> 10 classes"
    space = get_space("mnasnet")
    arch = space.reference("mnasnet-a1")
    assert space.cost(arch, **shape) == space.cost(arch, in_channels=1, input_size=28, num_classes=10)
    assert Task("mnasnet", 1, 28, 10, "fashion-mnist").shape == shape


@pytest.mark.parametrize("bad", [{"in_channels": 0}, {"input_size": 2.5}, {"num_classes": True}])
def test_a_bad_shape_names_the_field(bad: dict) -> None:
    field = next(iter(bad))
    with pytest.raises(NasError, match=f"task shape: {field} must be a whole number >= 1"):
        TaskShape(**bad)


def test_a_stored_shape_with_unknown_keys_is_refused() -> None:
    with pytest.raises(NasError, match=r"unknown keys \['channels'\]"):
        TaskShape.of({"channels": 3})
    with pytest.raises(AttributeError):
        TaskShape().input_size = 32  # type: ignore[misc]
