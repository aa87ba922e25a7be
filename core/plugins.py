"""The plug-in registries, reached from below by name.

Every kind of plug-in keeps its one `Registry` instance in the package that owns it (spaces in
`search_spaces`, evaluators in `evaluators`, strategies in `workers.strategies`, datasets in
`evaluators.datasets`). The job spec lives in `core`, below all of them, and reaches them
through this table with the same lazy ``"module:attribute"`` lookup every registry uses, so
`core` imports no upper layer at import time.
"""

from __future__ import annotations

from typing import Any

from core.registry import Registry

ENTRY_POINTS: Registry[Any] = Registry(
    "plug-in kind",
    {
        "dataset": "evaluators.datasets:DATASETS",
        "evaluator": "evaluators:EVALUATORS",
        "space": "search_spaces:SPACES",
        "strategy": "workers.strategies:STRATEGIES",
        "dataset_info": "evaluators.datasets:dataset_info",
        "get_space": "search_spaces:get_space",
    },
)


def registry(kind: str) -> Registry[Any]:
    """The registry of ``kind``: ``dataset``, ``evaluator``, ``space`` or ``strategy``."""
    return ENTRY_POINTS.get(kind)


def get_space(name: str) -> Any:
    """The shared instance of space ``name`` (a `search_spaces.SearchSpace`)."""
    return ENTRY_POINTS.get("get_space")(name)


def dataset_info(name: str) -> Any:
    """What dataset ``name`` is, without loading it (an `evaluators.datasets.DatasetInfo`)."""
    return ENTRY_POINTS.get("dataset_info")(name)


def dataset_shape(name: str) -> tuple[int, int, int]:
    """(in_channels, input_size, num_classes) of dataset ``name``, without loading it."""
    info = dataset_info(name)
    return info.in_channels, info.input_size, info.num_classes
