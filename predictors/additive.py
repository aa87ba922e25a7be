"""A per-operator cost model (a learned lookup table) with gradient-boosted trees on its residual.

Latency and energy of a network are, to first order, sums over the operators it runs (nn-Meter,
Zhang et al., MobiSys 2021, predicts per kernel and sums). The **base** is therefore a
regularised least-squares fit of the metric on the counts of each operator signature of the
space's catalogue (`Featurizer(op_counts=True)`: ``op:<signature>``, and for NAS-Bench-201 the
counts over live edges, ``live:<signature>``), and of coarser columns beside them (the counts per
signature kind without its shape, per operator wherever it sits, MACs and parameters:
`AdditivePredictor.base_columns`), weighted so that the *relative* error is what is minimised
(weights 1/y^2). The ridge penalty, and which nested subset of the columns is used (the level of
detail the measurements support), are chosen by exact leave-one-out error.
A device whose latency is a sum of per-operator costs is recovered exactly from a few more
measurements than it has operator kinds, where trees on one-hot genes have to learn additivity
split by split. The **residual** — what is not a sum: fusion, dead cells compiled away, caches,
whole-millisecond clocks — is learnt by a bagged XGBoost ensemble on ``log(y / base)`` from all
features plus the base itself; with fewer than ``min_residual`` measurements there is no
residual (trees on a handful of points only add noise). The mean is ``base x exp(residual)``;
the spread over ``members`` bootstrap fits (base and residual refitted on each resample) is the
uncertainty. Models are saved as ``base.json`` (coefficients) and XGBoost JSON files.
"""

from __future__ import annotations

import json
import re
from functools import cached_property
from pathlib import Path
from typing import Any, ClassVar, NamedTuple

import numpy as np
import xgboost as xgb

from core.errors import NasError
from predictors.base import TREE_RULES, Prediction, Predictor, check_options, tree_params
from predictors.validation import quality

ALPHAS = tuple(float(a) for a in 10.0 ** np.arange(-6, 4.5, 0.5))  # ridge penalties tried (relative scale)
BASE_FILE = "base.json"
LOSSES = ("relative", "robust", "absolute", "absolute-robust")  # the base's fits, chosen among by leave-one-out
HUBER_STEPS = 3


class RidgeFit(NamedTuple):
    """A weighted ridge fit: coefficients, intercept, penalty, and its exact leave-one-out
    squared error (weighted) and predictions."""

    coef: np.ndarray
    intercept: float
    alpha: float
    loo: float
    loo_pred: np.ndarray


def ridge_fit(
    x: np.ndarray, y: np.ndarray, w: np.ndarray, alphas: tuple[float, ...] = ALPHAS
) -> tuple[np.ndarray, float, float]:
    """Weighted ridge regression with an unpenalised intercept; the penalty (scaled by the mean
    squared singular value) minimises the exact leave-one-out error. Returns (coef, intercept, alpha)."""
    fit = ridge_loo(x, y, w, alphas)
    return fit.coef, fit.intercept, fit.alpha


def ridge_loo(x: np.ndarray, y: np.ndarray, w: np.ndarray, alphas: tuple[float, ...] = ALPHAS) -> RidgeFit:
    """`ridge_fit`, with its leave-one-out error and predictions at the chosen penalty."""
    sw = np.sqrt(w / w.sum())
    mx, my = (w[:, None] * x).sum(0) / w.sum(), float((w * y).sum() / w.sum())
    xs, ys = sw[:, None] * (x - mx), sw * (y - my)
    u, s, vt = np.linalg.svd(xs, full_matrices=False)
    keep = s > s.max(initial=0.0) * 1e-10
    u, s, vt = u[:, keep], s[keep], vt[keep]
    scale = float(np.mean(s**2)) if len(s) else 1.0
    uty = u.T @ ys
    lev0 = sw**2  # the intercept's leverage (weighted mean)
    best: tuple[float, float, np.ndarray] | None = None
    for a in alphas:
        f = s**2 / (s**2 + a * scale)
        e = (ys - u @ (f * uty)) / np.maximum(1 - ((u**2) @ f + lev0), 1e-6)  # leave-one-out residuals
        loo = float(np.sum(e**2))
        if best is None or loo < best[0] - 1e-15:
            best = (loo, a, e)
    loo, alpha, e = best if best else (float(np.sum(ys**2)), 1.0, ys)
    coef = vt.T @ ((s / (s**2 + alpha * scale)) * uty) if len(s) else np.zeros(x.shape[1])
    return RidgeFit(coef, my - float(mx @ coef), alpha, loo, y - e / sw)


def fit_score(y: np.ndarray, pred: np.ndarray) -> float:
    """What the predictor's own choices maximise: Kendall tau + share within ±10% - MAPE (the
    three figures a latency predictor is judged by, equally weighted)."""
    q = quality(y, np.maximum(pred, 1e-12))
    return q.kendall_tau + q.within_10


SHAPE_TOKENS = r"[io][0-9x]+"  # a signature's input and output shape
PLACE_TOKENS = r"[io][0-9x]+|s[0-9]+|skip_[a-z]+|se[0-9.]+"  # ... and what differs by where it sits


def _kind(column: str, drop: str = SHAPE_TOKENS) -> str:
    """A count column without the ``drop`` tokens of its signature."""
    prefix, _, signature = column.partition(":")
    return prefix + ":" + "-".join(t for t in signature.split("-") if not re.fullmatch(drop, t))


class AdditivePredictor(Predictor):
    """Options: ``residual`` (learn the residual at all), ``min_residual`` (fewest measurements
    for it), ``members`` (bootstrap fits), and the residual trees' ``n_estimators``,
    ``max_depth``, ``learning_rate``, ``subsample``, ``colsample_bytree``, ``min_child_weight``,
    ``threads``. The metric must be positive (latency, energy)."""

    kind: ClassVar[str] = "additive"
    op_counts: ClassVar[bool] = True

    def __init__(
        self,
        *,
        residual: bool = True,
        min_residual: int = 30,
        members: int = 5,
        n_estimators: int = 600,
        max_depth: int = 4,
        learning_rate: float = 0.05,
        subsample: float = 0.8,
        colsample_bytree: float = 0.8,
        min_child_weight: float = 5.0,
        threads: int = 1,
        gene_features: bool = False,
        **common: Any,
    ) -> None:
        super().__init__(**common)
        rules = {**TREE_RULES, "min_residual": (lambda v: v >= 2, ">= 2")}
        check_options("additive", {
            "members": members, "min_residual": min_residual, "n_estimators": n_estimators, "max_depth": max_depth,
            "threads": threads, "learning_rate": learning_rate, "subsample": subsample,
            "colsample_bytree": colsample_bytree, "min_child_weight": min_child_weight,
        }, rules)  # fmt: skip
        if not self.featurizer.op_counts:
            raise NasError("additive: the featurizer must include operator counts (Featurizer(..., op_counts=True))")
        self.residual, self.min_residual, self.members = residual, min_residual, members
        self.n_estimators, self.max_depth, self.learning_rate = n_estimators, max_depth, learning_rate
        self.subsample, self.colsample_bytree = subsample, colsample_bytree
        self.min_child_weight, self.threads, self.gene_features = min_child_weight, threads, gene_features
        self.bases: list[tuple[np.ndarray, float]] = []  # (coef, intercept): full fit first, then members
        self.alpha = 1.0
        self.level = 0  # which of `_levels` the base uses (0: every column)
        self.loss = "relative"  # which of `LOSSES` the base was fitted with
        self.floor = 0.0
        self.models: list[xgb.Booster] = []
        self.rounds = 0  # residual trees per member, chosen by cross-validation

    @property
    def options(self) -> dict[str, Any]:
        return {
            "residual": self.residual,
            "min_residual": self.min_residual,
            "members": self.members,
            "n_estimators": self.n_estimators,
            "max_depth": self.max_depth,
            "learning_rate": self.learning_rate,
            "subsample": self.subsample,
            "colsample_bytree": self.colsample_bytree,
            "min_child_weight": self.min_child_weight,
            "threads": self.threads,
            "gene_features": self.gene_features,
        }

    # -- the base ------------------------------------------------------------------------------
    def base_columns(self) -> list[str]:
        """The base's columns, finest first: each operator signature's count; the counts per
        signature kind (``kind:``, the signature without its input and output shape); the counts
        per operator wherever it sits (``op:``, also without stride, shortcut and squeeze-excite);
        MACs and parameters in millions. `_levels` are the nested subsets the fit chooses from."""
        kinds, ops = (names for _, names in self._aggregations)
        return [*self.featurizer.count_names(), *(f"kind:{k}" for k in kinds), *(f"op:{k}" for k in ops),
                "macs_m", "params_m"]  # fmt: skip

    @cached_property
    def _aggregations(self) -> list[tuple[np.ndarray, list[str]]]:
        """Per coarse level, the 0/1 matrix from signature counts to its columns, and their names."""
        names = self.featurizer.count_names()
        out = []
        for drop in (SHAPE_TOKENS, PLACE_TOKENS):
            keys = [_kind(n, drop) for n in names]
            kinds = sorted(set(keys))
            agg = np.zeros((len(names), len(kinds)))
            agg[np.arange(len(names)), [kinds.index(k) for k in keys]] = 1.0
            out.append((agg, kinds))
        return out

    def _design(self, x: np.ndarray) -> np.ndarray:
        """The base's columns (`base_columns`) of feature rows ``x``."""
        counts = x[:, self.featurizer.count_slice()]
        names = self.featurizer.names()
        sizes = 10 ** x[:, [names.index("log10_macs"), names.index("log10_params")]] / 1e6
        return np.column_stack([counts, *(counts @ agg for agg, _ in self._aggregations), sizes])

    def _levels(self) -> list[np.ndarray]:
        """Column subsets of the base, finest first: all; from the kind counts on; from the
        operator counts on; MACs and parameters alone."""
        n = len(self.featurizer.count_names())
        (_, kinds), (_, ops) = self._aggregations
        total = n + len(kinds) + len(ops) + 2
        return [np.arange(start, total) for start in (0, n, n + len(kinds), total - 2)]

    def _base(self, design: np.ndarray, i: int = 0) -> np.ndarray:
        coef, intercept = self.bases[i]
        return np.maximum(design @ coef + intercept, self.floor)

    def _residual_x(self, x: np.ndarray, base: np.ndarray) -> np.ndarray:
        if self.gene_features:
            return np.column_stack([x, np.log(base)])
        start = len(self.featurizer.space.feature_names())  # after the genes: costs, stages, counts
        return np.column_stack([x[:, start:], np.log(base)])

    def _params(self, seed: int) -> dict[str, Any]:
        return tree_params(self, seed)

    def _fit(self, x: np.ndarray, y: np.ndarray) -> None:
        if (y <= 0).any():
            raise NasError(f"additive: {self.metric} has values <= 0; the additive predictor needs a positive metric")
        counts = self._design(x)
        # per loss, the level of detail with the lowest leave-one-out error; then the loss whose
        # leave-one-out predictions score best (`fit_score`)
        fits = {loss: self._fit_loss(counts, y, loss) for loss in LOSSES}
        self.loss = max(fits, key=lambda k: fit_score(y, fits[k][1].loo_pred))
        w, fit, self.level = fits[self.loss]
        cols = self._levels()[self.level]
        self.alpha = fit.alpha

        def full(c: np.ndarray) -> np.ndarray:
            out = np.zeros(counts.shape[1])
            out[cols] = c
            return out

        self.bases = [(full(fit.coef), fit.intercept)]
        self.floor = 0.5 * float(y.min())
        rng = np.random.default_rng(self.seed)
        rows_of = [rng.integers(len(y), size=len(y)) for _ in range(self.members)] if self.members > 1 else []
        for rows in rows_of:
            c, b, _ = ridge_fit(counts[rows][:, cols], y[rows], w[rows], (self.alpha,))
            self.bases.append((full(c), b))
        self.models = []
        self.rounds = 0
        if not self.residual or len(y) < self.min_residual:
            return
        self.rounds = self._cv_rounds(x, y, self._base(counts))
        if self.rounds == 0:
            return
        for i in range(self.members):
            rows = rows_of[i] if rows_of else np.arange(len(y))
            base = self._base(counts[rows], i + 1 if rows_of else 0)
            data = xgb.DMatrix(self._residual_x(x[rows], base), label=np.log(y[rows] / base))
            self.models.append(xgb.train(self._params(self.seed * 1000 + i), data, num_boost_round=self.rounds))

    def _fit_loss(self, counts: np.ndarray, y: np.ndarray, loss: str) -> tuple[np.ndarray, RidgeFit, int]:
        """The row weights of ``loss``, its fit at the level with the lowest leave-one-out error, that level.

        ``relative``: weights 1/y^2 (relative error; y floored at a third of the median so the
        near-zero dead cells do not dominate); ``absolute``: equal weights (better where the device
        reports whole milliseconds); ``robust``: relative, reweighted three times by Huber's rule
        (c = 1.345 robust sd of the relative residuals), so a few bad measurements bend nothing."""
        rel = 1.0 / np.maximum(y, np.median(y) / 3) ** 2
        w = np.ones(len(y)) if loss.startswith("absolute") else rel
        best: tuple[RidgeFit, int] | None = None
        for level, cols in enumerate(self._levels()):
            lw = w
            for _ in range(HUBER_STEPS if loss.endswith("robust") else 0):
                c = ridge_loo(counts[:, cols], y, lw)
                r = (counts[:, cols] @ c.coef + c.intercept - y) * np.sqrt(rel)
                cut = 1.345 * 1.4826 * float(np.median(np.abs(r - np.median(r))))
                lw = w * np.minimum(1.0, cut / np.maximum(np.abs(r), 1e-12))
            fit = ridge_loo(counts[:, cols], y, lw)
            if best is None or fit.loo < best[0].loo:
                best, best_w = (fit, level), lw
        assert best is not None
        return best_w, best[0], best[1]

    def _cv_rounds(self, x: np.ndarray, y: np.ndarray, base: np.ndarray) -> int:
        """How many residual trees 5-fold cross-validation supports (0: the base alone is best).

        The number of trees minimises the cross-validated log error; the trees are then kept only
        if their out-of-fold predictions score better than the base alone (`fit_score`: trees that
        fit noise cost ranking, measured on the phones)."""
        label = np.log(y / base)
        rx = self._residual_x(x, base)
        hist = xgb.cv(
            self._params(self.seed),
            xgb.DMatrix(rx, label=label),
            num_boost_round=self.n_estimators,
            nfold=5,
            early_stopping_rounds=25,
            seed=self.seed,
            metrics="rmse",
            as_pandas=False,
        )
        rmse = np.asarray(hist["test-rmse-mean"])
        base_rmse = float(np.sqrt(np.mean((label - label.mean()) ** 2)))  # no trees: the mean residual
        # trees must cut the residual's error by 1% of itself and by 0.2% of latency, else none
        gain = base_rmse - float(rmse.min())
        if gain <= 0.01 * base_rmse or gain <= 0.002:
            return 0
        rounds = int(np.argmin(rmse)) + 1
        oof = np.zeros(len(y))
        for fold in np.array_split(np.random.default_rng(self.seed).permutation(len(y)), 5):
            train = np.setdiff1d(np.arange(len(y)), fold)
            model = xgb.train(self._params(self.seed), xgb.DMatrix(rx[train], label=label[train]), rounds)
            oof[fold] = model.predict(xgb.DMatrix(rx[fold]))
        with_trees, alone = quality(y, base * np.exp(oof)), quality(y, base)
        better = fit_score(y, base * np.exp(oof)) > fit_score(y, base)
        return rounds if better and with_trees.kendall_tau >= alone.kendall_tau else 0

    def _predict(self, x: np.ndarray) -> Prediction:
        design = self._design(x)
        base = self._base(design)
        if not self.models:
            if len(self.bases) == 1:
                return Prediction(base, np.zeros(len(x)))
            return Prediction(base, np.stack([self._base(design, i) for i in range(1, len(self.bases))]).std(axis=0))
        res = np.stack([np.exp(m.predict(xgb.DMatrix(self._residual_x(x, base)))) for m in self.models])
        bases = np.stack([self._base(design, i + 1) for i in range(len(self.models))]) if len(self.bases) > 1 else base
        # the mean keeps the full-data base (steadier than the bootstrap bases' mean); the spread has both
        return Prediction(base * res.mean(axis=0), (bases * res).std(axis=0))

    def base_prediction(self, x: np.ndarray) -> np.ndarray:
        """The per-operator sum alone (no residual)."""
        return self._base(self._design(np.asarray(x, dtype=float)))

    def costs(self) -> dict[str, float]:
        """The learned lookup table: each base column's coefficient (a signature's cost is its own
        plus its kind's, plus its MACs' and parameters' share), and the intercept."""
        coef, intercept = self.bases[0]
        return {**dict(zip(self.base_columns(), map(float, coef), strict=True)), "intercept": intercept}

    # -- persistence -----------------------------------------------------------------------------
    def save_models(self, folder: Path) -> list[str]:
        base = {
            "alpha": self.alpha,
            "level": self.level,
            "loss": self.loss,
            "floor": self.floor,
            "columns": self.base_columns(),
            "bases": [{"coef": c.tolist(), "intercept": b} for c, b in self.bases],
        }
        (folder / BASE_FILE).write_text(json.dumps(base))
        files = [BASE_FILE]
        for i, model in enumerate(self.models):
            name = f"residual_{i}.json"
            model.save_model(str(folder / name))
            files.append(name)
        return files

    def load_models(self, folder: Path, files: list[str]) -> None:
        if BASE_FILE not in files:
            raise NasError(f"additive predictor in {folder}: {BASE_FILE} is missing")
        base = json.loads((folder / BASE_FILE).read_text())
        if base["columns"] != self.base_columns():
            raise NasError(f"additive predictor in {folder}: its base columns differ from this code's; refit it")
        self.alpha, self.floor, self.level = float(base["alpha"]), float(base["floor"]), int(base["level"])
        self.loss = str(base.get("loss", "relative"))
        self.bases = [(np.asarray(b["coef"], dtype=float), float(b["intercept"])) for b in base["bases"]]
        self.models = []
        for name in files:
            if name != BASE_FILE:
                booster = xgb.Booster()
                booster.load_model(str(folder / name))
                self.models.append(booster)
