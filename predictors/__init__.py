"""Surrogates: learn a metric of architectures from measured ones (no torch, no database).

Predictors are looked up by name in `PREDICTORS`; `load_predictor` reads a saved one back.
"""

from __future__ import annotations

from core.registry import Registry
from predictors.base import Prediction, Predictor, PredictorInfo, StalePredictorError, load_predictor, read_info
from predictors.features import Featurizer

PREDICTORS: Registry[type[Predictor]] = Registry(
    "predictor",
    {
        "xgboost": "predictors.xgboost:XGBoostPredictor",
        "additive": "predictors.additive:AdditivePredictor",
        "transfer": "predictors.onboarding:TransferPredictor",
    },
)

__all__ = [
    "PREDICTORS",
    "Featurizer",
    "Prediction",
    "Predictor",
    "PredictorInfo",
    "StalePredictorError",
    "load_predictor",
    "read_info",
]
