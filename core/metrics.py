"""The metric registry: one record per metric, the only place its rules live.

A record says which way is better, the unit values are stored in, whether values span orders of
magnitude (predictors fit the logarithm, plots use a log axis), what the value depends on besides
the architecture (the device, the dataset), the hypervolume reference used when a job names none
and no constraint bounds the metric, and the evaluator that produces it by default. A metric from
an imported table is one `register_metric` call.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from core.errors import UnknownPluginError

Direction = Literal["min", "max"]
Scope = Literal["architecture", "device", "dataset"]


@dataclass(frozen=True)
class Metric:
    """One metric's rules."""

    name: str
    direction: Direction
    unit: str
    description: str
    log_scale: bool = False
    scope: Scope = "architecture"
    reference: float | None = None  # None: the first batch's worst value plus 10% of its range
    default_evaluator: str | None = None

    @property
    def sign(self) -> float:
        """+1 for minimised metrics, -1 for maximised ones (smaller is better after multiplying)."""
        return 1.0 if self.direction == "min" else -1.0


METRICS: dict[str, Metric] = {}


def register_metric(metric: Metric) -> Metric:
    """Add ``metric``; registering a name again with other rules is an error."""
    if METRICS.get(metric.name, metric) != metric:
        raise ValueError(f"metric {metric.name!r} is already registered with other rules: {METRICS[metric.name]}")
    METRICS[metric.name] = metric
    return metric


def unregister_metric(name: str) -> None:
    """Remove ``name`` (a metric registered for a test or a session)."""
    METRICS.pop(name, None)


def get_metric(name: str) -> Metric:
    """The record of ``name``; unknown names raise `UnknownPluginError` listing the known."""
    try:
        return METRICS[name]
    except KeyError:
        raise UnknownPluginError(f"unknown metric {name!r}; known: {', '.join(METRICS)}") from None


for _m in (
    Metric(
        "accuracy",
        "max",
        "fraction",
        "Top-1 accuracy on the dataset's validation split, in [0, 1].",
        scope="dataset",
        reference=0.0,
        default_evaluator="supernet",
    ),
    Metric(
        "params",
        "min",
        "count",
        "Trainable parameters of the network as built.",
        log_scale=True,
        default_evaluator="cost",
    ),
    Metric(
        "macs",
        "min",
        "count",
        "Multiply-accumulates of one forward pass at the task's input size.",
        log_scale=True,
        default_evaluator="cost",
    ),
    Metric(
        "latency_ms",
        "min",
        "ms",
        "Inference latency of one image on the job's device.",
        log_scale=True,
        scope="device",
        default_evaluator="latency_lut",
    ),
    Metric("energy_mj", "min", "mJ", "Energy of one inference on the job's device.", log_scale=True, scope="device"),
    Metric("nonzero_params", "min", "count", "Weights a sparse network's masks keep.", log_scale=True),
    Metric("nonzero_macs", "min", "count", "Multiply-accumulates of the weights the masks keep.", log_scale=True),
    *(
        Metric(
            name,
            "max",
            "log score",
            f"Zero-cost proxy of accuracy at initialisation: {text}.",
            scope="dataset",
            default_evaluator="zero_cost",
        )
        for name, text in (
            ("synflow", "log of the summed |weight x gradient| of the all-ones synaptic flow (Tanaka et al. 2020)"),
            ("naswot", "log-determinant of one batch's activation-pattern kernel (Mellor et al. 2021)"),
            ("grad_norm", "log of the summed gradient norms of one batch's cross-entropy"),
        )
    ),
):
    register_metric(_m)
