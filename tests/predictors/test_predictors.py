"""Predictors: features, training on a small benchmark table, CV metrics, persistence, stale refusal."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np
import pytest

import predictors.features as features
from core.errors import NasError
from predictors import PREDICTORS, Featurizer, StalePredictorError, load_predictor, read_info
from predictors.validation import cross_validate, kfold_indices, quality
from search_spaces import get_space

DATA = Path(__file__).parents[1] / "data"
CIFAR10 = {"in_channels": 3, "input_size": 32, "num_classes": 10}
SMALL = {"members": 3, "n_estimators": 150}


@pytest.fixture(scope="module")
def table() -> tuple[list, np.ndarray, np.ndarray]:
    space = get_space("nb201")
    with (DATA / "nb201_sample.csv").open() as f:
        rows = list(csv.DictReader(f))
    archs = [space.from_arch_str(r["arch_str"]) for r in rows]
    latency = np.array([float(r["hwnb_pixel3_lat_ms"]) for r in rows])
    accuracy = np.array([float(r["cifar10_test"]) for r in rows])
    return archs, latency, accuracy


@pytest.fixture(scope="module")
def featurizer() -> Featurizer:
    return Featurizer("nb201", CIFAR10)


def test_features_are_the_encoding_plus_exact_costs(featurizer: Featurizer, table) -> None:
    archs = table[0][:5]
    x = featurizer.transform(archs)
    names = featurizer.names()
    assert x.shape == (5, len(names)) and np.isfinite(x).all()
    space = featurizer.space
    assert np.array_equal(x[:, : len(space.feature_names())], np.stack([space.encode(a) for a in archs]))
    params = [space.cost(a, **CIFAR10).params for a in archs]
    assert np.allclose(x[:, names.index("log10_params")], np.log10(params))
    assert featurizer.stages == [32, 16, 8]  # the three stages of the CIFAR network
    assert featurizer.version.startswith("f1:nb201@1:")
    assert Featurizer("nb201", {**CIFAR10, "input_size": 16}).version != featurizer.version


def test_trained_on_a_small_table_it_ranks_unseen_architectures(featurizer: Featurizer, table) -> None:
    archs, latency, accuracy = table
    for metric, y, floor in (("latency_ms", latency, 0.6), ("accuracy", accuracy, 0.4)):
        model = PREDICTORS.get("xgboost")(featurizer=featurizer, metric=metric, seed=0, **SMALL)
        model.fit_archs(archs[:300], y[:300])
        pred = model.predict_archs(archs[300:])
        assert pred.mean.shape == pred.std.shape == (100,)
        assert (pred.std >= 0).all() and pred.std.max() > 0  # an ensemble disagrees somewhere
        assert quality(y[300:], pred.mean).kendall_tau > floor
        shuffled = np.random.default_rng(0).permutation(y[:300])  # no signal, no ranking
        noise = PREDICTORS.get("xgboost")(featurizer=featurizer, metric=metric, seed=0, **SMALL)
        assert (
            abs(quality(y[300:], noise.fit_archs(archs[:300], shuffled).predict_archs(archs[300:]).mean).kendall_tau)
            < 0.2
        )


def test_quality_metrics_on_a_constructed_case() -> None:
    y = np.array([1.0, 2.0, 3.0, 4.0])
    pred = np.array([1.03, 2.14, 3.6, 3.9])  # errors 3%, 7%, 20%, 2.5%; order kept
    q = quality(y, pred)
    assert q.kendall_tau == pytest.approx(1.0) and q.spearman == pytest.approx(1.0)
    assert q.within_5 == pytest.approx(0.5) and q.within_10 == pytest.approx(0.75)
    assert q.rmse == pytest.approx(math.sqrt((0.03**2 + 0.14**2 + 0.6**2 + 0.1**2) / 4))
    swapped = quality(y, np.array([2.0, 1.0, 3.0, 4.0]))  # one discordant pair of six
    assert swapped.kendall_tau == pytest.approx(4 / 6)
    assert quality(y, -y).kendall_tau == pytest.approx(-1.0)
    with pytest.raises(NasError, match="at least 2"):
        quality(y[:1], y[:1])


def test_cross_validation_folds_partition_the_data_and_score_each(featurizer: Featurizer) -> None:
    folds = kfold_indices(103, 5, seed=1)
    assert sorted(np.concatenate(folds).tolist()) == list(range(103)) and {len(f) for f in folds} == {20, 21}
    rng = np.random.default_rng(0)
    x = rng.integers(0, 4, size=(200, len(featurizer.names()))).astype(float)
    y = 16 * x[:, 0] + 4 * x[:, 1] + x[:, 2] + 0.1 * rng.normal(size=200)  # learnable from three columns
    options = {"members": 2, "n_estimators": 60}
    make = PREDICTORS.get("xgboost")(featurizer=featurizer, metric="accuracy", seed=0, **options).unfitted_twin
    report = cross_validate(make, x, y, k=4, seed=0)
    assert report.k == 4 and len(report.folds) == 4 and all(f.n == 50 for f in report.folds)
    assert report.mean["kendall_tau"] > 0.8
    assert report.mean["kendall_tau"] == pytest.approx(np.mean([f.kendall_tau for f in report.folds]))


def test_saved_predictor_round_trips_and_keeps_its_metadata(featurizer: Featurizer, table, tmp_path: Path) -> None:
    archs, latency, _ = table
    model = PREDICTORS.get("xgboost")(featurizer=featurizer, metric="latency_ms", label="pixel3", seed=3, **SMALL)
    model.fit_archs(archs[:200], latency[:200])
    model.cv = {"k": 5, "mean": {"kendall_tau": 0.8}}
    model.save(tmp_path / "p")
    assert sorted(p.name for p in (tmp_path / "p").iterdir()) == [
        "model_0.json",
        "model_1.json",
        "model_2.json",
        "predictor.json",
    ]
    info, _ = read_info(tmp_path / "p")
    assert (info.space, info.metric, info.label, info.n_train, info.shape) == (
        "nb201",
        "latency_ms",
        "pixel3",
        200,
        CIFAR10,
    )
    assert info.feature_version == featurizer.version and info.cv["k"] == 5
    again = load_predictor(tmp_path / "p")
    assert np.array_equal(again.predict_archs(archs[200:]).mean, model.predict_archs(archs[200:]).mean)


def test_stale_predictor_is_refused(featurizer: Featurizer, table, tmp_path: Path, monkeypatch) -> None:
    archs, latency, _ = table
    model = PREDICTORS.get("xgboost")(featurizer=featurizer, metric="latency_ms", seed=0, **SMALL)
    model.fit_archs(archs[:50], latency[:50]).save(tmp_path / "p")
    monkeypatch.setattr(features, "FEATURES_VERSION", "f2")  # the feature recipe changed since training
    with pytest.raises(StalePredictorError, match=r"trained with feature version f1:nb201@1:.*computes f2:.*retrain"):
        load_predictor(tmp_path / "p")
    monkeypatch.undo()
    meta = json.loads((tmp_path / "p" / "predictor.json").read_text())
    meta["info"]["space_version"] = "0"
    meta["info"]["feature_version"] = "f1:nb201@0:0123456789"  # trained on an older version of the space
    (tmp_path / "p" / "predictor.json").write_text(json.dumps(meta))
    with pytest.raises(StalePredictorError, match="nb201@0"):
        load_predictor(tmp_path / "p")


def test_bad_options_and_unfitted_use_are_refused(featurizer: Featurizer) -> None:
    with pytest.raises(NasError, match="invalid members, learning_rate"):
        PREDICTORS.get("xgboost")(featurizer=featurizer, metric="accuracy", members=0, learning_rate=2.0)
    model = PREDICTORS.get("xgboost")(featurizer=featurizer, metric="accuracy")
    with pytest.raises(NasError, match="not fitted"):
        model.predict(np.zeros((1, len(featurizer.names()))))
    with pytest.raises(NasError, match="values <= 0"):
        PREDICTORS.get("xgboost")(featurizer=featurizer, metric="latency_ms").fit(
            np.zeros((3, 2)), np.array([1.0, 0, 2])
        )
