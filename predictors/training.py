"""Fitting a predictor: cross-validate on a training set of architectures, then fit on all of it.

The training set comes from an imported table or from stored job candidates
(`store.measurements`); `workers.operations.fit_predictor` puts the two together and stores the
result.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from core.errors import NasError
from predictors import PREDICTORS, Featurizer
from predictors.validation import cross_validate

if TYPE_CHECKING:
    from predictors.base import Predictor
    from search_spaces import Architecture


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
    kind: str = "xgboost",
    options: dict[str, Any] | None = None,
) -> tuple[Predictor, list[str]]:
    """Cross-validate (``k`` folds; fewer than 2: none), then fit on the (``n`` randomly drawn,
    else all) architectures; returns the model and the arch ids it was trained on."""
    if n is not None and n < len(archs):
        pick = np.random.default_rng(seed).choice(len(archs), size=n, replace=False)
        archs, y = [archs[i] for i in pick], y[pick]
    if len(archs) < max(k, 2):
        raise NasError(f"only {len(archs)} architectures with {metric}; need at least {max(k, 2)} to train")
    featurizer = Featurizer(space, shape)
    model = PREDICTORS.get(kind)(featurizer=featurizer, metric=metric, label=label, seed=seed, **(options or {}))
    x = featurizer.transform(archs)
    if k >= 2:
        model.cv = cross_validate(model.unfitted_twin, x, y, k=k, seed=seed).to_dict()
    model.fit(x, y)
    return model, [a.arch_id for a in archs]
