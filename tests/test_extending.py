"""The extension costs of docs/extending.md, paid by throw-away plug-ins defined in this module:
a space (one class + one registry line), an evaluator (one class + one line), a metric from an
imported table (one record) and a strategy (one class + one line). The job spec accepts them by
name, refuses their bad options by field, and a search loop runs them end to end."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest
from optuna.distributions import BaseDistribution, CategoricalDistribution, IntDistribution
from pydantic import Field, ValidationError

from core.metrics import Metric, register_metric, unregister_metric
from core.spec import JobSpec
from evaluators import EVALUATORS
from evaluators.base import Evaluator, EvaluatorOptions, Task
from search_spaces import SPACES, Architecture, SearchSpace
from search_spaces.base import Params
from search_spaces.ops.spec import OpSpec
from store.session import Database
from store.settings import Settings
from workers.evaluation import recipes_for
from workers.strategies import STRATEGIES
from workers.strategies.base import Proposal, Result, Strategy


class ToySpace(SearchSpace):
    """A stack of 1-3 plain 3x3 convolutions of one width, then a classifier."""

    name: ClassVar[str] = "toy"
    version: ClassVar[str] = "1"

    def distributions(self) -> dict[str, BaseDistribution]:
        return {"width": CategoricalDistribution((4, 8, 16)), "layers": IntDistribution(1, 3)}

    def parse_genome(self, genome: Sequence[str]) -> Params:
        width, layers = genome
        return {"width": int(width.removeprefix("w")), "layers": int(layers.removeprefix("l"))}

    def format_genome(self, params: Mapping[str, Any]) -> tuple[str, ...]:
        return (f"w{params['width']}", f"l{params['layers']}")

    def ops(
        self, arch: Architecture, *, num_classes: int = 1000, in_channels: int = 3, input_size: int = 224
    ) -> list[OpSpec]:
        p = self.to_params(arch)
        c, ops = in_channels, []
        for i in range(p["layers"]):
            ops.append(OpSpec("conv", c, p["width"], input_size, kernel=3, name=f"conv{i}"))
            c = p["width"]
        return [*ops, OpSpec("classifier", c, num_classes, input_size, name="fc")]

    def reference_genomes(self) -> dict[str, tuple[str, ...]]:
        return {"smallest": ("w4", "l1")}


class ToyEvaluator(Evaluator):
    """``toy_score``: the width times a factor (a stand-in for a column of an imported table)."""

    name: ClassVar[str] = "toy"
    produces: ClassVar[tuple[str, ...]] = ("toy_score",)

    class Options(EvaluatorOptions):
        factor: float = Field(1.0, gt=0, description="Multiplies the width.")

    def __init__(self, *, task: Task, factor: float = 1.0) -> None:
        self.task, self.factor = task, factor

    def evaluate_one(self, arch: Architecture) -> dict[str, float]:
        return {"toy_score": self.factor * float(arch.genome[0].removeprefix("w"))}


class WidestFirst(Strategy):
    """Proposes every architecture once, widest first."""

    name: ClassVar[str] = "widest_first"

    def __init__(self, *, reverse: bool = True, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        dist = self.space.distributions()
        grid = [(w, n) for w in dist["width"].choices for n in range(1, 4)]
        self.todo = sorted(grid, reverse=reverse)

    def ask(self, n: int) -> list[Proposal]:
        out, self.todo = self.todo[:n], self.todo[n:]
        self.finished = not self.todo
        return [Proposal(self.space.decode({"width": w, "layers": k})) for w, k in out]

    def tell(self, proposal: Proposal, result: Result) -> None:
        pass


@pytest.fixture
def plugins() -> Iterator[None]:
    SPACES.register("toy", f"{__name__}:ToySpace")  # a new space: one registry line
    EVALUATORS.register("toy", f"{__name__}:ToyEvaluator")  # a new evaluator: one line
    STRATEGIES.register("widest_first", f"{__name__}:WidestFirst")  # a new strategy: one line
    register_metric(Metric("toy_score", "max", "score", "Width times a factor.", default_evaluator="toy"))
    yield
    SPACES.unregister("toy")
    EVALUATORS.unregister("toy")
    STRATEGIES.unregister("widest_first")
    unregister_metric("toy_score")


def job(**extra: Any) -> JobSpec:
    body = {
        "space": "toy",
        "dataset": "digits",
        "objectives": [{"metric": "toy_score"}, {"metric": "params"}],
        "strategy": {"name": "widest_first"},
        "budget": {"candidates": 9},
        "batch_size": 4,
    }
    return JobSpec.model_validate(body | extra)


@pytest.mark.usefixtures("plugins")
def test_throw_away_plugins_run_a_search_end_to_end(sqlite_db: Database, tmp_path: Path) -> None:
    spec = job(evaluators={"toy": {"factor": 2.0}})
    space = SPACES.get("toy")()
    arch = space.from_genome(("w8", "l2"))
    built = space.build(arch, **spec.task.shape)
    assert sum(p.numel() for p in built.parameters()) == space.cost(arch, **spec.task.shape).params
    recipes = recipes_for(spec, db=sqlite_db, settings=Settings(home=tmp_path), progress=lambda *a: None)
    evaluators = [(EVALUATORS.get(r.name)(**r.kwargs), r.metrics) for r in recipes]
    assert {r.name: r.metrics for r in recipes} == {"toy": ("toy_score",), "cost": ("params",)}
    strategy, seen = spec.make_strategy(), []
    while not strategy.finished:
        for proposal in strategy.ask(spec.batch_size):
            metrics = {}
            for evaluator, wanted in evaluators:
                (outcome,) = evaluator.evaluate([proposal.arch])
                metrics |= {m: outcome.metrics[m] for m in wanted}
            strategy.tell(proposal, Result(metrics))
            seen.append(metrics)
    assert len(seen) == 9 and seen[0]["toy_score"] == 32.0 and seen[-1]["toy_score"] == 8.0
    assert np.all(np.diff([m["params"] for m in seen[:3]]) < 0)  # widest first, deepest first


@pytest.mark.usefixtures("plugins")
def test_throw_away_plugins_options_are_checked_at_submission() -> None:
    with pytest.raises(ValidationError, match=r"evaluators\.toy\.factor: Input should be greater than 0"):
        job(evaluators={"toy": {"factor": 0}})
    with pytest.raises(ValidationError, match=r"evaluators\.toy\.scale: Extra inputs are not permitted"):
        job(evaluators={"toy": {"scale": 2}})
    with pytest.raises(ValidationError, match=r"strategy\.options: .*unexpected keyword argument 'order'"):
        job(strategy={"name": "widest_first", "options": {"order": "up"}})


def test_unregistered_plugins_are_unknown() -> None:
    with pytest.raises(ValidationError, match="unknown search space 'toy'"):
        job()
