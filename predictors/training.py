"""Fitting a predictor: cross-validate on a training set of architectures, then fit on all of it.

The training set comes from an imported table or from stored job candidates
(`store.measurements`); `workers.operations.fit_predictor` puts the two together and stores the
result.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from core.errors import NasError
from core.metrics import METRICS
from predictors import PREDICTORS, Featurizer
from predictors.validation import cross_validate

if TYPE_CHECKING:
    from predictors.base import Predictor
    from search_spaces import Architecture


def default_kind(metric: str) -> str:
    """``additive`` (per-operator base + boosted residual) for device metrics (latency, energy),
    which are sums over the operators a network runs; ``xgboost`` for the rest (accuracy)."""
    return "additive" if metric in METRICS and METRICS[metric].scope == "device" else "xgboost"


def train_predictor(
    archs: list[Architecture],
    y: np.ndarray,
    *,
    space: str,
    metric: str,
    shape: dict[str, int],
    label: str = "",
    n: int | None = None,
    k: int = 5,
    seed: int = 0,
    kind: str | None = None,
    options: dict[str, Any] | None = None,
) -> tuple[Predictor, list[str]]:
    """Cross-validate (``k`` folds; fewer than 2: none), then fit on the (``n`` randomly drawn,
    else all) architectures; returns the model and the arch ids it was trained on."""
    if n is not None and n < len(archs):
        pick = np.random.default_rng(seed).choice(len(archs), size=n, replace=False)
        archs, y = [archs[i] for i in pick], y[pick]
    if len(archs) < max(k, 2):
        raise NasError(f"only {len(archs)} architectures with {metric}; need at least {max(k, 2)} to train")
    cls = PREDICTORS.get(kind or default_kind(metric))
    featurizer = Featurizer(space, shape, op_counts=cls.op_counts)
    model = cls(featurizer=featurizer, metric=metric, label=label, seed=seed, **(options or {}))
    x = featurizer.transform(archs)
    if k >= 2:
        model.cv = cross_validate(model.unfitted_twin, x, y, k=k, seed=seed).to_dict()
    model.fit(x, y)
    return model, [a.arch_id for a in archs]
