"""The job spec: what a user submits (validated here, stored as JSON, read back by the runner).

Validation reaches the plug-ins through `core.plugins` by name: a space, dataset, strategy or
evaluator that does not exist, a strategy option it does not take and an evaluator option outside
its `Options` model are refused when the job is submitted, naming the field and the allowed values.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from core.errors import NasError
from core.metrics import METRICS
from core.objectives import Constraint, Objective
from core.plugins import dataset_info, dataset_shape, get_space, registry
from core.task import Task

MAX_CANDIDATES = 100_000


class StrategySpec(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    name: str = Field("nsga2", description="random, nsga2, tpe, evolution or mnasnet_rl.")
    options: dict[str, Any] = Field(default_factory=dict, description="Keyword options of the strategy.")


class Budget(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    candidates: int = Field(ge=1, le=MAX_CANDIDATES, description="Distinct architectures to evaluate.")
    wall_seconds: float | None = Field(None, gt=0, description="Stop after this long (optional).")


class FinalistSpec(BaseModel):
    """After the search: ``k`` candidates spanning the cheap score of ``metric`` (always with the
    front's best) trained from scratch as Ray Tune trials, and the cheap evaluator's Kendall tau
    against what they measured."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    k: int = Field(8, ge=3, le=64, description="Candidates trained from scratch (at least 3 for a rank correlation).")
    metric: str = Field("accuracy", description="The objective whose cheap score is checked (an objective's metric).")
    evaluator: str = Field("train", description="What trains them: an evaluator with an epoch loop (train).")
    options: dict[str, Any] = Field(default_factory=dict, description="The evaluator's options (its schedule).")
    asha: bool = Field(False, description="Stop trailing trials early (ASHA); those then lack a measured figure.")
    max_concurrent: int = Field(2, ge=1, le=64, description="Trials trained at once (one CPU each).")


class JobSpec(BaseModel):
    """A search job. Unknown fields, unknown names and non-finite numbers are rejected."""

    model_config = ConfigDict(
        extra="forbid",
        allow_inf_nan=False,
        json_schema_extra={
            "examples": [
                {
                    "name": "demo",
                    "space": "mnasnet",
                    "dataset": "fashion-mnist",
                    "device": "cpu",
                    "objectives": [{"metric": "latency_ms"}, {"metric": "params"}, {"metric": "macs"}],
                    "constraints": ["latency_ms <= 15"],
                    "strategy": {"name": "nsga2", "options": {"population_size": 50}},
                    "budget": {"candidates": 500},
                    "seed": 0,
                }
            ]
        },
    )

    name: str | None = Field(None, max_length=200)
    space: str = Field(description="Search space (GET /api/spaces).")
    dataset: str = Field("fashion-mnist", description="Dataset: sets the input shape and the accuracy data.")
    device: str = Field("cpu", description="Target device for latency (GET /api/devices).")
    objectives: list[Objective] = Field(min_length=1, max_length=4)
    constraints: list[str] = Field(default_factory=list, max_length=8, description="E.g. 'latency_ms <= 15'.")
    strategy: StrategySpec = Field(default_factory=StrategySpec)
    budget: Budget
    batch_size: int = Field(32, ge=1, le=1024, description="Candidates per round.")
    seed: int = Field(0, ge=0, le=2**32 - 1)
    evaluators: dict[str, dict[str, Any]] = Field(default_factory=dict, description="Options per evaluator name.")
    reference_point: dict[str, float] | None = Field(None, description="Hypervolume reference per objective metric.")
    candidate_timeout_s: float | None = Field(
        None, gt=0, le=7 * 86400, description="Seconds one candidate's evaluation may take (default: its evaluators')."
    )
    fixed: dict[str, Any] = Field(
        default_factory=dict,
        max_length=200,
        description="Genes held at one value (a NASNet supernet's macro: {'cells': 1, 'filters': 8, 'stem': 1}).",
    )
    finalists: FinalistSpec | None = Field(None, description="Train the best and a spread from scratch afterwards.")

    @field_validator("space")
    @classmethod
    def _space(cls, v: str) -> str:
        spaces = registry("space")
        if v not in spaces:
            raise ValueError(f"unknown search space {v!r}; known: {', '.join(spaces.names())}")
        return v

    @model_validator(mode="after")
    def _fixed(self) -> JobSpec:
        try:
            self.search_space()
        except NasError as e:
            raise ValueError(f"fixed: {e}") from None
        return self

    @field_validator("dataset")
    @classmethod
    def _dataset(cls, v: str) -> str:
        try:
            dataset_shape(v)
        except NasError as e:
            raise ValueError(str(e)) from None
        return v

    @field_validator("constraints")
    @classmethod
    def _constraints(cls, v: list[str]) -> list[str]:
        try:
            return [str(Constraint.parse(c)) for c in v]
        except NasError as e:
            raise ValueError(str(e)) from None

    @model_validator(mode="after")
    def _consistent(self) -> JobSpec:
        metrics = [o.metric for o in self.objectives]
        if len(set(metrics)) != len(metrics):
            raise ValueError(f"objectives: each metric at most once, got {metrics}")
        evaluators, strategies = registry("evaluator"), registry("strategy")
        for o in self.objectives:
            if o.evaluator not in evaluators:
                raise ValueError(
                    f"objectives: evaluator {o.evaluator!r} unknown; known: {', '.join(evaluators.names())}"
                )
        unknown = [name for name in self.evaluators if name not in evaluators]
        if unknown:
            raise ValueError(f"evaluators: unknown {unknown}; known: {', '.join(evaluators.names())}")
        try:
            served = self.evaluator_for()
        except NasError as e:
            raise ValueError(str(e)) from None
        images = dataset_info(self.dataset).images
        for metric, name in served.items():
            cls = evaluators.get(name)
            if cls.produces is not None and metric not in cls.produces:
                raise ValueError(
                    f"objectives: evaluator {name!r} does not produce {metric!r}; it produces {', '.join(cls.produces)}"
                )
            if cls.reads_data() and not images:
                raise ValueError(
                    f"dataset: {self.dataset} fixes a shape only; evaluator {name!r} ({metric}) needs images "
                    "(use fashion-mnist, digits, cifar10 or imagefolder:PATH)"
                )
        for name, options in self.evaluators.items():
            self.evaluator_options(name, options)
        if self.finalists is not None:
            self._check_finalists(self.finalists, metrics)
        if self.reference_point is not None and set(self.reference_point) != set(metrics):
            raise ValueError(f"reference_point: give exactly the objective metrics {metrics}")
        if self.strategy.name not in strategies:
            raise ValueError(f"strategy: unknown {self.strategy.name!r}; known: {', '.join(strategies.names())}")
        try:
            self.make_strategy()
        except TypeError as e:
            raise ValueError(f"strategy.options: {e}") from None
        except NasError as e:
            raise ValueError(str(e)) from None
        return self

    def _check_finalists(self, f: FinalistSpec, metrics: list[str]) -> None:
        if f.metric not in metrics:
            raise ValueError(f"finalists.metric: {f.metric!r} is not an objective; objectives: {', '.join(metrics)}")
        evaluators = registry("evaluator")
        trainers = [n for n in evaluators.names() if hasattr(evaluators.get(n), "epochs")]  # an epoch loop
        if f.evaluator not in trainers:
            allowed = ", ".join(trainers)
            raise ValueError(f"finalists.evaluator: {f.evaluator!r} cannot train finalists; allowed: {allowed}")
        cls = evaluators.get(f.evaluator)
        if cls.produces is not None and "accuracy" not in cls.produces:
            raise ValueError(f"finalists.evaluator: {f.evaluator!r} measures no accuracy")
        if not dataset_info(self.dataset).images:
            raise ValueError(f"finalists: {self.dataset} fixes a shape only; training finalists needs images")
        try:
            self.evaluator_options(f.evaluator, f.options)
        except ValueError as e:
            raise ValueError(str(e).replace(f"evaluators.{f.evaluator}.", "finalists.options.")) from None

    # -- derived ---------------------------------------------------------------------------------
    @property
    def parsed_constraints(self) -> list[Constraint]:
        return [Constraint.parse(c) for c in self.constraints]

    def evaluator_for(self) -> dict[str, str]:
        """Metric -> evaluator name, for objectives and constraint-only metrics."""
        out = {o.metric: str(o.evaluator) for o in self.objectives}
        for c in self.parsed_constraints:
            out.setdefault(c.metric, METRICS[c.metric].default_evaluator or "")
        missing = [m for m, e in out.items() if not e]
        if missing:
            raise NasError(f"no default evaluator for {missing}; name one in objectives")
        return out

    @staticmethod
    def evaluator_options(name: str, options: dict[str, Any]) -> Any:
        """``options`` validated by evaluator ``name``'s `Options` model (an `EvaluatorOptions`);
        errors name ``evaluators.<name>.<field>`` and what is allowed."""
        model = registry("evaluator").get(name).Options
        try:
            return model.model_validate(options)
        except ValidationError as e:
            allowed = ", ".join(model.model_fields) or "none"
            problems = []
            for err in e.errors():
                where = ".".join(str(p) for p in ("evaluators", name, *err["loc"]))
                hint = f" (options of {name}: {allowed})" if err["type"] == "extra_forbidden" else ""
                problems.append(f"{where}: {err['msg']}{hint}")
            raise ValueError("; ".join(problems)) from None

    def candidate_timeout(self) -> float:
        """The job's deadline for one candidate: ``candidate_timeout_s``, else the sum of its evaluators' defaults."""
        if self.candidate_timeout_s is not None:
            return self.candidate_timeout_s
        evaluators = registry("evaluator")
        return float(sum(evaluators.get(name).timeout_s for name in set(self.evaluator_for().values())))

    @property
    def task(self) -> Task:
        """The space and the input/output shape the dataset fixes."""
        return Task(self.space, *dataset_shape(self.dataset), dataset=self.dataset)

    def search_space(self) -> Any:
        """The job's search space, its ``fixed`` genes held (a `search_spaces.SearchSpace`)."""
        space = get_space(self.space)
        return space.restricted(self.fixed) if self.fixed else space

    def make_strategy(self) -> Any:
        """The job's strategy (a `workers.strategies.Strategy`)."""
        cls = registry("strategy").get(self.strategy.name)
        return cls(
            space=self.search_space(),
            objectives=self.objectives,
            constraints=self.parsed_constraints,
            seed=self.seed,
            **self.strategy.options,
        )

    def digest(self) -> str:
        """Hash of the canonical spec (idempotent submission compares these)."""
        return hashlib.sha256(json.dumps(self.model_dump(mode="json"), sort_keys=True).encode()).hexdigest()
