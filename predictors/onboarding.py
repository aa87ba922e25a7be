"""Few-shot device onboarding: a predictor for a new device from K measurements and the devices
the service already knows.

Latencies of one architecture on different devices are strongly related (HELP, Lee et al.,
NeurIPS 2021, meta-learns that relation), and a few measurements of a new device say *which*
known devices it resembles. So the new device's log-latency is modelled as a linear function of
the known ("source") devices' log-latencies, ``log y = a + sum_j w_j log s_j``. Two kinds of
candidate fit that on the K measurements — a ridge regression over all standardised sources
(penalty by exact leave-one-out error, `predictors.additive.ridge_fit`) and each source alone —
and the transfer is their average weighted by ``exp(-(e - e_min) / (0.25 e_min))`` of their
leave-one-out errors ``e``: still one log-linear model. Picking the single best candidate
instead is noisier at small K (mean Spearman over held-out devices 0.947 against 0.954 at K = 20).
The sources' latencies come from their tables where an architecture is in them, else from
their predictors (`TransferPredictor` keeps those inside its folder, so it is self-contained).

`design` chooses the K architectures to measure: k-means over the sources' standardised
log-latencies (seeded, k-means++ start), one real architecture nearest each centre — the
measurements spread over how architectures behave on the known devices, not at random.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from core.errors import NasError
from predictors.additive import ridge_fit
from predictors.base import Prediction, Predictor, load_predictor

if TYPE_CHECKING:
    pass

TRANSFER_FILE = "transfer.json"
TEMPERATURE = 0.25  # candidate weights exp(-(loo - best) / (TEMPERATURE * best)); see docs/predictors.md


def design(features: np.ndarray, k: int, *, seed: int = 0, iters: int = 25) -> np.ndarray:
    """Indices of ``k`` distinct rows of ``features`` spread over them (k-means, nearest row to each centre)."""
    x = np.asarray(features, dtype=float)
    if not 1 <= k <= len(x):
        raise NasError(f"design: need 1 <= k <= {len(x)} candidates, got k={k}")
    x = (x - x.mean(0)) / np.maximum(x.std(0), 1e-12)
    rng = np.random.default_rng(seed)
    centres = [x[rng.integers(len(x))]]
    d2 = ((x - centres[0]) ** 2).sum(1)
    for _ in range(1, k):  # k-means++ start
        centres.append(x[rng.choice(len(x), p=d2 / d2.sum())] if d2.sum() > 0 else x[rng.integers(len(x))])
        d2 = np.minimum(d2, ((x - centres[-1]) ** 2).sum(1))
    c = np.stack(centres)
    for _ in range(iters):
        label = np.argmin(((x[:, None, :] - c[None]) ** 2).sum(-1), axis=1) if len(x) * k < 4e6 else _assign(x, c)
        new = np.stack([x[label == j].mean(0) if (label == j).any() else c[j] for j in range(k)])
        if np.allclose(new, c):
            break
        c = new
    chosen: list[int] = []
    for j in range(k):
        d = ((x - c[j]) ** 2).sum(1)
        d[chosen] = np.inf
        chosen.append(int(np.argmin(d)))
    return np.asarray(chosen)


def _assign(x: np.ndarray, c: np.ndarray) -> np.ndarray:
    d = (x**2).sum(1)[:, None] - 2 * x @ c.T + (c**2).sum(1)[None]
    return np.argmin(d, axis=1)


@dataclass
class Transfer:
    """``log y = intercept + coef . (log s - mean) / scale``, fitted on K rows of source latencies."""

    sources: list[str]
    mean: list[float]
    scale: list[float]
    coef: list[float]
    intercept: float
    alpha: float
    loo_rmse: float  # leave-one-out RMSE of log y on the K rows (the mix, its weights held fixed)

    @classmethod
    def fit(cls, s: np.ndarray, y: np.ndarray, sources: list[str]) -> Transfer:
        s, y = np.log(np.asarray(s, dtype=float)), np.log(np.asarray(y, dtype=float))
        if s.ndim != 2 or len(s) != len(y) or s.shape[1] != len(sources) or len(y) < 3:
            raise NasError(f"transfer: need at least 3 rows of {len(sources)} source latencies, got {s.shape}")
        mean, scale = s.mean(0), np.maximum(s.std(0), 1e-9)
        z = (s - mean) / scale
        # candidates: the ridge mix of every source, and each source alone, averaged with weights
        # that fall off with their leave-one-out error (a soft choice; a hard one is noisier at small K)
        fits, residuals = [], []
        for cols in [list(range(z.shape[1])), *([j] for j in range(z.shape[1]))]:
            coef, intercept, alpha = ridge_fit(z[:, cols], y, np.ones(len(y)))
            full = np.zeros(z.shape[1])
            full[cols] = coef
            fits.append((full, intercept, alpha))
            residuals.append(_loo_residuals(z[:, cols], y, alpha))
        loo = np.sqrt(np.mean(np.square(residuals), axis=1))
        w = np.exp(-(loo - loo.min()) / max(TEMPERATURE * loo.min(), 1e-12))
        w /= w.sum()
        coef = sum(wi * f[0] for wi, f in zip(w, fits, strict=True))
        intercept = float(sum(wi * f[1] for wi, f in zip(w, fits, strict=True)))
        alpha = fits[int(np.argmax(w))][2]
        mixed_loo = float(np.sqrt(np.mean(np.square(w @ np.asarray(residuals)))))
        return cls(sources, mean.tolist(), scale.tolist(), np.asarray(coef).tolist(), intercept, alpha, mixed_loo)

    def predict(self, s: np.ndarray) -> np.ndarray:
        z = (np.log(np.asarray(s, dtype=float)) - np.asarray(self.mean)) / np.asarray(self.scale)
        return np.exp(z @ np.asarray(self.coef) + self.intercept)


def _loo_residuals(z: np.ndarray, y: np.ndarray, alpha: float) -> np.ndarray:
    """Leave-one-out residuals of a ridge fit at a fixed penalty."""
    errs = []
    for i in range(len(y)):
        keep = np.arange(len(y)) != i
        c, b, _ = ridge_fit(z[keep], y[keep], np.ones(keep.sum()), (alpha,))
        errs.append(float(z[i] @ c + b - y[i]))
    return np.asarray(errs)


class TransferPredictor(Predictor):
    """A new device's latency from source devices' predictors (kept inside its folder) and a
    `Transfer` fitted on the device's K measurements. Build it with `from_sources`; ``fit``
    refits the transfer on new measurements, reading the sources from their predictors."""

    kind: ClassVar[str] = "transfer"
    op_counts: ClassVar[bool] = True

    def __init__(self, **common: Any) -> None:
        super().__init__(**common)
        self.sources: dict[str, Predictor] = {}
        self.transfer: Transfer | None = None

    @property
    def options(self) -> dict[str, Any]:
        return {}

    def with_sources(self, sources: dict[str, Predictor]) -> TransferPredictor:
        for name, p in sources.items():
            if p.featurizer.version != self.featurizer.version:
                raise NasError(
                    f"transfer: source {name} has features {p.featurizer.version}, not {self.featurizer.version}"
                )
        self.sources = dict(sources)
        return self

    def source_matrix(self, x: np.ndarray) -> np.ndarray:
        return np.column_stack([p.predict(x).mean for p in self.sources.values()])

    def unfitted_twin(self) -> Predictor:
        twin = TransferPredictor(featurizer=self.featurizer, metric=self.metric, label=self.label, seed=self.seed)
        return twin.with_sources(self.sources)

    def _fit(self, x: np.ndarray, y: np.ndarray) -> None:
        if not self.sources:
            raise NasError("transfer: no source devices to learn from")
        self.transfer = Transfer.fit(self.source_matrix(x), y, list(self.sources))

    def fit_sources(self, s: np.ndarray, y: np.ndarray) -> TransferPredictor:
        """Fit the transfer on source latencies known exactly (tables) instead of predicted."""
        self.transfer = Transfer.fit(s, y, list(self.sources))
        self.n_train = len(y)
        return self

    def _predict(self, x: np.ndarray) -> Prediction:
        assert self.transfer is not None
        members = np.stack([p.predict(x).std for p in self.sources.values()], axis=1)
        mean = self.transfer.predict(self.source_matrix(x))
        # relative spread of the sources, carried through the (log-linear) transfer, plus its LOO error
        rel = np.sqrt(((members / np.maximum(self.source_matrix(x), 1e-12)) ** 2).mean(1) + self.transfer.loo_rmse**2)
        return Prediction(mean, mean * rel)

    def save_models(self, folder: Path) -> list[str]:
        if self.transfer is None:
            raise NasError("transfer: not fitted")
        names = []
        for i, (name, p) in enumerate(self.sources.items()):
            sub = f"source_{i}"
            p.save(folder / sub)
            names.append({"name": name, "folder": sub})
        (folder / TRANSFER_FILE).write_text(json.dumps({"sources": names, "transfer": self.transfer.__dict__}))
        return [TRANSFER_FILE]

    def load_models(self, folder: Path, files: list[str]) -> None:
        meta = json.loads((folder / TRANSFER_FILE).read_text())
        self.sources = {s["name"]: load_predictor(folder / s["folder"]) for s in meta["sources"]}
        self.transfer = Transfer(**meta["transfer"])
