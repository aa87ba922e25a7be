"""How good a predictor is: rank agreement, error, and the share of predictions within ±5% / ±10%.

`function_key` names what an architecture computes, so that scoring can count each function
once (NAS-Bench-201 has 15,625 cells but 6,466 distinct functions) and leave out test
architectures whose function was in the training set.

`quality` scores predictions against the truth; `cross_validate` runs K-fold cross-validation
(shuffled with a seed) and reports each fold's scores and their mean. A search mostly needs the
ranking (Kendall tau, Spearman rho); latency budgets need the relative error (within ±10%).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING

import numpy as np
from scipy import stats

from core.errors import NasError

if TYPE_CHECKING:
    from predictors.base import Predictor
    from search_spaces import Architecture, SearchSpace


@dataclass(frozen=True)
class Quality:
    """Scores of predictions against the truth (``n`` points)."""

    n: int
    kendall_tau: float
    spearman: float
    rmse: float
    within_5: float  # share with |predicted - true| <= 5% of |true|
    within_10: float
    mape: float = 0.0  # mean |predicted - true| / |true|

    def to_dict(self) -> dict[str, float]:
        return asdict(self)


def quality(y_true: np.ndarray, y_pred: np.ndarray) -> Quality:
    """Kendall tau-b, Spearman rho, RMSE and the shares within ±5% and ±10% of the true value."""
    y_true, y_pred = np.asarray(y_true, dtype=float), np.asarray(y_pred, dtype=float)
    if y_true.shape != y_pred.shape or y_true.ndim != 1:
        raise NasError(f"quality: y_true and y_pred must be equal-length vectors, got {y_true.shape}, {y_pred.shape}")
    if len(y_true) < 2:
        raise NasError(f"quality: need at least 2 points, got {len(y_true)}")
    tau = stats.kendalltau(y_true, y_pred).statistic
    rho = stats.spearmanr(y_true, y_pred).statistic
    rel = np.abs(y_pred - y_true) / np.maximum(np.abs(y_true), 1e-12)
    return Quality(
        n=len(y_true),
        kendall_tau=float(np.nan_to_num(tau)),
        spearman=float(np.nan_to_num(rho)),
        rmse=float(np.sqrt(np.mean((y_pred - y_true) ** 2))),
        within_5=float(np.mean(rel <= 0.05)),
        within_10=float(np.mean(rel <= 0.10)),
        mape=float(np.mean(rel)),
    )


@dataclass
class CVReport:
    """K-fold results: per-fold scores and their means (``folds`` x `Quality`)."""

    k: int
    folds: list[Quality] = field(default_factory=list)

    @property
    def mean(self) -> dict[str, float]:
        keys = ("kendall_tau", "spearman", "rmse", "within_5", "within_10", "mape")
        return {key: float(np.mean([getattr(f, key) for f in self.folds])) for key in keys}

    def to_dict(self) -> dict[str, object]:
        return {"k": self.k, "mean": self.mean, "folds": [f.to_dict() for f in self.folds]}


def kfold_indices(n: int, k: int, seed: int = 0) -> list[np.ndarray]:
    """``k`` disjoint test-index arrays covering ``range(n)`` after a seeded shuffle."""
    if not 2 <= k <= n:
        raise NasError(f"cross-validation needs 2 <= k <= number of points; got k={k}, n={n}")
    return np.array_split(np.random.default_rng(seed).permutation(n), k)


def cross_validate(
    make: Callable[[], Predictor], x: np.ndarray, y: np.ndarray, *, k: int = 5, seed: int = 0
) -> CVReport:
    """Fit ``make()`` on k-1 folds, score it on the held-out fold, for each of the ``k`` folds."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    report = CVReport(k=k)
    for test in kfold_indices(len(y), k, seed):
        train = np.setdiff1d(np.arange(len(y)), test)
        model = make()
        model.fit(x[train], y[train])
        report.folds.append(quality(y[test], model.predict(x[test]).mean))
    return report


def function_key(space: SearchSpace, arch: Architecture, shape: dict[str, int]) -> str:
    """Equal for architectures that compute the same function: for NAS-Bench-201 the cell's
    output as a canonical expression (``none`` edges and edges from zero nodes dropped, sums
    sorted, ``skip_connect`` the identity); elsewhere the sequence of operator signatures."""
    if space.name == "nb201":
        from search_spaces.nb201.space import EDGES

        nodes: list[str | None] = ["x", None, None, None]
        for j in (1, 2, 3):
            terms = []
            for (i, to), op in zip(EDGES, arch.genome, strict=True):
                if to != j or op == "none" or nodes[i] is None:
                    continue
                terms.append(str(nodes[i]) if op == "skip_connect" else f"{op}({nodes[i]})")
            nodes[j] = "+".join(sorted(terms)) if terms else None
        return f"nb201:{nodes[3] or '0'}"
    return "|".join(op.signature() for op in space.ops(arch, **shape))
