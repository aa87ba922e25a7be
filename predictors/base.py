"""The predictor contract: learn a metric of architectures, predict it with an uncertainty.

A predictor is fitted on feature rows (`predictors.features.Featurizer`) and predicts a mean
and a standard deviation per row. It is saved as a folder: ``predictor.json`` (what it predicts,
for which space and task shape, the feature version, training-set size, cross-validation
scores, its options) next to its models in their library's native format. `load_predictor`
refuses a predictor whose feature version no longer matches the code (`StalePredictorError`).
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, NamedTuple

import numpy as np

from core.errors import NasError
from predictors.features import Featurizer

if TYPE_CHECKING:
    from collections.abc import Sequence

    from search_spaces import Architecture

FORMAT = "nas-predictor"
FORMAT_VERSION = 1
META_FILE = "predictor.json"


class StalePredictorError(NasError):
    """A saved predictor whose features no longer match what the code computes."""


class Prediction(NamedTuple):
    """Predicted mean and standard deviation (the uncertainty), one value per row."""

    mean: np.ndarray
    std: np.ndarray


@dataclass
class PredictorInfo:
    """What a saved predictor is: stored in ``predictor.json``."""

    kind: str
    space: str
    space_version: str
    metric: str
    feature_version: str
    shape: dict[str, int]
    label: str = ""  # which measurement: a table column, a device or a dataset
    n_train: int = 0
    cv: dict[str, Any] | None = None
    options: dict[str, Any] = field(default_factory=dict)
    source: dict[str, Any] = field(default_factory=dict)
    created: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


TREE_RULES: dict[str, tuple[Any, str]] = {
    "members": (lambda v: v >= 1, ">= 1"),
    "n_estimators": (lambda v: v >= 1, ">= 1"),
    "max_depth": (lambda v: v >= 1, ">= 1"),
    "threads": (lambda v: v >= 1, ">= 1"),
    "learning_rate": (lambda v: 0 < v <= 1, "in (0, 1]"),
    "subsample": (lambda v: 0 < v <= 1, "in (0, 1]"),
    "colsample_bytree": (lambda v: 0 < v <= 1, "in (0, 1]"),
    "min_child_weight": (lambda v: v >= 0, ">= 0"),
}


def check_options(kind: str, values: dict[str, Any], rules: dict[str, tuple[Any, str]] = TREE_RULES) -> None:
    """Refuse options outside their ``rules`` (name -> (test, what is allowed)), naming each."""
    bad = [k for k, (ok, _) in rules.items() if k in values and not ok(values[k])]
    if bad:
        need = "; ".join(f"{k} {rules[k][1]}" for k in bad)
        raise NasError(f"{kind}: invalid {', '.join(bad)}; need {need}")


def tree_params(model: Any, seed: int) -> dict[str, Any]:
    """XGBoost training parameters from a tree predictor's options."""
    return {
        "objective": "reg:squarederror",
        "max_depth": model.max_depth,
        "eta": model.learning_rate,
        "subsample": model.subsample,
        "colsample_bytree": model.colsample_bytree,
        "min_child_weight": model.min_child_weight,
        "nthread": model.threads,
        "seed": seed,
        "verbosity": 0,
    }


class Predictor(ABC):
    """Predicts one metric of architectures of one space for one task shape.

    Contract: `fit(x, y)` learns from feature rows and targets (replacing what was learnt);
    `predict(x)` returns a `Prediction` with one finite mean and a non-negative std per row;
    `save_models(folder)` writes the models in their native format and returns the file names,
    and `load_models(folder, files)` reads them back. Options are keyword-only constructor
    arguments, validated at once and recorded in `options`. Randomness comes from ``seed`` only.
    """

    kind: ClassVar[str]
    op_counts: ClassVar[bool] = False  # whether its featurizer adds the operator-count columns

    def __init__(self, *, featurizer: Featurizer, metric: str, label: str = "", seed: int = 0) -> None:
        self.featurizer, self.metric, self.label, self.seed = featurizer, metric, label, seed
        self.n_train = 0
        self.cv: dict[str, Any] | None = None
        self.source: dict[str, Any] = {}

    # -- what an implementation supplies --------------------------------------------------------
    @property
    @abstractmethod
    def options(self) -> dict[str, Any]:
        """Constructor options (JSON), enough to rebuild an unfitted twin."""

    @abstractmethod
    def _fit(self, x: np.ndarray, y: np.ndarray) -> None: ...

    @abstractmethod
    def _predict(self, x: np.ndarray) -> Prediction: ...

    @abstractmethod
    def save_models(self, folder: Path) -> list[str]: ...

    @abstractmethod
    def load_models(self, folder: Path, files: list[str]) -> None: ...

    # -- shared ------------------------------------------------------------------------------------
    @property
    def fitted(self) -> bool:
        return self.n_train > 0

    def fit(self, x: np.ndarray, y: np.ndarray) -> Predictor:
        x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
        if x.ndim != 2 or len(x) != len(y) or len(y) < 2:
            raise NasError(
                f"{self.kind}: fit needs a matrix and as many targets (at least 2); got {x.shape}, {y.shape}"
            )
        if not np.isfinite(y).all():
            raise NasError(f"{self.kind}: targets must be finite")
        self._fit(x, y)
        self.n_train = len(y)
        return self

    def predict(self, x: np.ndarray) -> Prediction:
        if not self.fitted:
            raise NasError(f"{self.kind} predictor for {self.metric} is not fitted")
        x = np.asarray(x, dtype=float)
        if x.ndim != 2 or x.shape[1] != len(self.featurizer.names()):
            raise NasError(f"{self.kind}: expected rows of {len(self.featurizer.names())} features, got {x.shape}")
        if len(x) == 0:
            return Prediction(np.zeros(0), np.zeros(0))
        return self._predict(x)

    def fit_archs(self, archs: Sequence[Architecture], y: Sequence[float]) -> Predictor:
        return self.fit(self.featurizer.transform(archs), np.asarray(y, dtype=float))

    def predict_archs(self, archs: Sequence[Architecture]) -> Prediction:
        return self.predict(self.featurizer.transform(archs))

    def unfitted_twin(self) -> Predictor:
        """A fresh predictor with the same options (for cross-validation)."""
        return type(self)(
            featurizer=self.featurizer, metric=self.metric, label=self.label, seed=self.seed, **self.options
        )

    def info(self) -> PredictorInfo:
        space = self.featurizer.space
        return PredictorInfo(
            kind=self.kind,
            space=space.name,
            space_version=space.version,
            metric=self.metric,
            label=self.label,
            feature_version=self.featurizer.version,
            shape=dict(self.featurizer.shape),
            n_train=self.n_train,
            cv=self.cv,
            options={**self.options, "seed": self.seed},
            source=dict(self.source),
            created=datetime.now(UTC).isoformat(timespec="seconds"),
        )

    def save(self, folder: Path) -> Path:
        """Write ``predictor.json`` and the models into ``folder`` (created)."""
        if not self.fitted:
            raise NasError(f"{self.kind} predictor for {self.metric} is not fitted; nothing to save")
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        files = self.save_models(folder)
        meta = {"format": FORMAT, "format_version": FORMAT_VERSION, "info": self.info().to_dict(), "models": files}
        (folder / META_FILE).write_text(json.dumps(meta, indent=2))
        return folder


def read_info(folder: Path) -> tuple[PredictorInfo, list[str]]:
    """The saved predictor's `PredictorInfo` and model files; malformed folders raise `NasError`."""
    path = Path(folder) / META_FILE
    try:
        meta = json.loads(path.read_text())
    except FileNotFoundError:
        raise NasError(f"{folder} is not a saved predictor: {META_FILE} is missing") from None
    except json.JSONDecodeError as e:
        raise NasError(f"{path}: malformed JSON ({e})") from None
    if meta.get("format") != FORMAT or meta.get("format_version") != FORMAT_VERSION:
        raise NasError(
            f"{path}: format {meta.get('format')!r} version {meta.get('format_version')!r} unknown; "
            f"expected {FORMAT!r} version {FORMAT_VERSION}"
        )
    try:
        return PredictorInfo(**meta["info"]), list(meta["models"])
    except (KeyError, TypeError) as e:
        raise NasError(f"{path}: malformed predictor metadata ({e})") from None


def load_predictor(folder: Path) -> Predictor:
    """A saved predictor, ready to predict; `StalePredictorError` when its features are out of date."""
    from predictors import PREDICTORS

    info, files = read_info(folder)
    cls = PREDICTORS.get(info.kind)
    featurizer = Featurizer(info.space, info.shape, op_counts=cls.op_counts)
    if featurizer.version != info.feature_version:
        raise StalePredictorError(
            f"predictor {folder} for {info.metric} ({info.space}) was trained with feature version "
            f"{info.feature_version}, but this code computes {featurizer.version}; its inputs would be "
            f"misread, so it is refused: retrain it (`nas predictor train --space {info.space} --metric {info.metric}`)"
        )
    options = dict(info.options)
    seed = int(options.pop("seed", 0))
    predictor = cls(featurizer=featurizer, metric=info.metric, label=info.label, seed=seed, **options)
    predictor.load_models(Path(folder), files)
    predictor.n_train, predictor.cv, predictor.source = info.n_train, info.cv, dict(info.source)
    return predictor
