"""Gradient-boosted trees (XGBoost, Chen & Guestrin, KDD 2016) as an ensemble for uncertainty.

``members`` regressors are trained, each on a bootstrap resample of the training set with its
own seed; the prediction is their mean and the uncertainty their standard deviation (a bagged
ensemble, as in BANANAS-style predictor-guided NAS). Positive metrics that vary by orders of
magnitude (latency, parameters, MACs, energy) are learnt in log space by default, so the error
is relative — what "within ±10%" asks for. Models are saved in XGBoost's own JSON format.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import xgboost as xgb

from core.errors import NasError
from core.metrics import METRICS
from predictors.base import Prediction, Predictor, check_options, tree_params


class XGBoostPredictor(Predictor):
    """Options: ``members`` (ensemble size), ``n_estimators``, ``max_depth``, ``learning_rate``,
    ``subsample``, ``colsample_bytree``, ``min_child_weight``, ``log_target`` (None: the
    metric record's ``log_scale``: latency, params, MACs, energy), ``threads``."""

    kind: ClassVar[str] = "xgboost"

    def __init__(
        self,
        *,
        members: int = 5,
        n_estimators: int = 500,
        max_depth: int = 6,
        learning_rate: float = 0.05,
        subsample: float = 0.8,
        colsample_bytree: float = 0.8,
        min_child_weight: float = 1.0,
        log_target: bool | None = None,
        threads: int = 1,
        **common: Any,
    ) -> None:
        super().__init__(**common)
        check_options("xgboost", {
            "members": members, "n_estimators": n_estimators, "max_depth": max_depth, "threads": threads,
            "learning_rate": learning_rate, "subsample": subsample, "colsample_bytree": colsample_bytree,
            "min_child_weight": min_child_weight,
        })  # fmt: skip
        self.members, self.n_estimators, self.max_depth = members, n_estimators, max_depth
        self.learning_rate, self.subsample, self.colsample_bytree = learning_rate, subsample, colsample_bytree
        self.min_child_weight, self.threads = min_child_weight, threads
        default_log = self.metric in METRICS and METRICS[self.metric].log_scale
        self.log_target = default_log if log_target is None else log_target
        self.models: list[xgb.Booster] = []

    @property
    def options(self) -> dict[str, Any]:
        return {
            "members": self.members,
            "n_estimators": self.n_estimators,
            "max_depth": self.max_depth,
            "learning_rate": self.learning_rate,
            "subsample": self.subsample,
            "colsample_bytree": self.colsample_bytree,
            "min_child_weight": self.min_child_weight,
            "log_target": self.log_target,
            "threads": self.threads,
        }

    def _params(self, seed: int) -> dict[str, Any]:
        return tree_params(self, seed)

    def _fit(self, x: np.ndarray, y: np.ndarray) -> None:
        if self.log_target:
            if (y <= 0).any():
                raise NasError(f"xgboost: {self.metric} has values <= 0; train with log_target=False")
            y = np.log(y)
        rng = np.random.default_rng(self.seed)
        self.models = []
        for i in range(self.members):
            rows = rng.integers(len(y), size=len(y)) if self.members > 1 else np.arange(len(y))
            data = xgb.DMatrix(x[rows], label=y[rows])
            self.models.append(xgb.train(self._params(self.seed * 1000 + i), data, num_boost_round=self.n_estimators))

    def _predict(self, x: np.ndarray) -> Prediction:
        data = xgb.DMatrix(x)
        preds = np.stack([m.predict(data) for m in self.models]).astype(float)
        if self.log_target:
            preds = np.exp(preds)
        return Prediction(preds.mean(axis=0), preds.std(axis=0))

    def save_models(self, folder: Path) -> list[str]:
        files = []
        for i, model in enumerate(self.models):
            name = f"model_{i}.json"
            model.save_model(str(folder / name))
            files.append(name)
        return files

    def load_models(self, folder: Path, files: list[str]) -> None:
        if len(files) != self.members:
            raise NasError(f"xgboost predictor in {folder}: {len(files)} model files for {self.members} members")
        self.models = []
        for name in files:
            booster = xgb.Booster()
            booster.load_model(str(folder / name))
            self.models.append(booster)
