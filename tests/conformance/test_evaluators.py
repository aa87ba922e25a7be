"""Contract tests run against every registered evaluator: its declaration is complete and its
job options agree with its constructor."""

from __future__ import annotations

import inspect

import pytest

from core.metrics import METRICS
from evaluators import EVALUATORS
from evaluators.base import DataDirs, EvaluatorOptions, LatencyTableNeed, StoredArtifact

NAMES = EVALUATORS.names()


@pytest.mark.parametrize("name", NAMES)
def test_the_declaration_is_complete(name: str) -> None:
    cls = EVALUATORS.get(name)
    assert cls.name == name
    assert issubclass(cls.Options, EvaluatorOptions) and cls.Options.model_config["extra"] == "forbid"
    assert cls.produces is None or (cls.produces and {m for m in cls.produces if m in METRICS})
    assert all(isinstance(n, DataDirs | LatencyTableNeed | StoredArtifact) for n in cls.needs)


@pytest.mark.parametrize("name", NAMES)
def test_options_and_constructor_agree(name: str) -> None:
    """Every option that is not consumed by a need is a constructor argument with the same default
    (an evaluator whose `recipe` adapts its options, the tabular one, only needs the argument)."""
    cls = EVALUATORS.get(name)
    adapts = "recipe" in vars(cls)
    params = inspect.signature(cls.__init__).parameters
    consumed = {o for need in cls.needs for o in getattr(need, "options", ())}
    for field, info in cls.Options.model_fields.items():
        if field in consumed:
            continue
        assert field in params, f"{name}: option {field} is not a constructor argument"
        default = params[field].default
        if adapts:
            continue
        assert default is not inspect.Parameter.empty, f"{name}: {field} has no constructor default"
        assert info.get_default(call_default_factory=True) == default, f"{name}: {field} defaults differ"
    resolved = {a for need in cls.needs for a in _args(need)}
    assert resolved <= set(params), f"{name}: needs pass {resolved - set(params)} the constructor does not take"


def _args(need: object) -> tuple[str, ...]:
    if isinstance(need, DataDirs):
        return ("data_dirs",)
    if isinstance(need, LatencyTableNeed):
        return ("table",)
    assert isinstance(need, StoredArtifact)
    return (need.path_arg, need.id_arg)
