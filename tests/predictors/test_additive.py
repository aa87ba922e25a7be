"""The additive predictor and few-shot onboarding: synthetic devices with known answers."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from core.errors import NasError
from predictors import PREDICTORS, Featurizer, load_predictor
from predictors.onboarding import Transfer, TransferPredictor, design
from predictors.training import default_kind, train_predictor
from predictors.validation import function_key, quality
from search_spaces import get_space

DATA = Path(__file__).parents[1] / "data"
CIFAR10 = {"in_channels": 3, "input_size": 32, "num_classes": 10}
SMALL = {"members": 3, "n_estimators": 100}


@pytest.fixture(scope="module")
def archs() -> list:
    space = get_space("nb201")
    rng = np.random.default_rng(0)
    genomes = {tuple(rng.choice(space.distributions()["edge_0_1"].choices, size=6)) for _ in range(900)}
    return [space.from_genome(list(g)) for g in sorted(genomes)]


@pytest.fixture(scope="module")
def fz() -> Featurizer:
    return Featurizer("nb201", CIFAR10, op_counts=True)


def additive_device(archs: list, seed: int) -> np.ndarray:
    """A device whose latency is exactly a sum of per-operator costs (random, per signature)."""
    space = get_space("nb201")
    rng = np.random.default_rng(seed)
    cost = {op.signature(): rng.uniform(0.001, 0.2) for op in space.op_catalogue(**CIFAR10)}
    return np.array([sum(cost[op.signature()] for op in space.ops(a, **CIFAR10)) for a in archs])


def test_operator_counts_are_extra_columns_with_their_own_version(fz: Featurizer, archs: list) -> None:
    plain = Featurizer("nb201", CIFAR10)
    assert fz.names()[: len(plain.names())] == plain.names()
    assert fz.version.startswith("f1+ops:nb201@1:") and plain.version.startswith("f1:")
    x = fz.transform(archs[:5])
    counts = x[:, fz.count_slice()]
    n = len(fz.signatures)
    assert np.all(counts[:, :n].sum(1) == len(get_space("nb201").ops(archs[0], **CIFAR10)))
    assert np.all(counts[:, n] == 0)  # every operator is in the catalogue
    assert np.all(counts[:, n + 1 :] <= counts[:, :n])  # live ones are a subset


def test_additive_base_recovers_an_exactly_additive_device(fz: Featurizer, archs: list) -> None:
    y = additive_device(archs, seed=1)
    train, test = np.arange(100), np.arange(100, len(archs))
    model = PREDICTORS.get("additive")(featurizer=fz, metric="latency_ms", **SMALL)
    x = fz.transform(archs)
    q = quality(y[test], model.fit(x[train], y[train]).predict(x[test]).mean)
    assert q.mape < 0.01 and q.kendall_tau > 0.99 and q.within_5 == 1.0
    assert model.rounds == 0  # nothing left for trees to learn: the residual is switched off by CV
    # and the learned lookup table names its columns
    assert set(model.costs()) == {*model.base_columns(), "intercept"} and set(fz.count_names()) < set(model.costs())


def test_a_few_gross_outliers_choose_a_robust_base_that_ignores_them(fz: Featurizer, archs: list) -> None:
    y = additive_device(archs, seed=3)
    noisy = y.copy()
    bad = np.random.default_rng(0).choice(300, size=30, replace=False)
    noisy[bad] *= 3.0  # a tenth of the measurements taken while something else ran
    model = PREDICTORS.get("additive")(featurizer=fz, metric="latency_ms", residual=False, members=1)
    x = fz.transform(archs)
    model.fit(x[:300], noisy[:300])
    assert model.loss.endswith("robust")
    assert quality(y[300:], model.predict(x[300:]).mean).mape < 0.02


def test_residual_trees_are_kept_where_the_device_is_not_a_sum(fz: Featurizer, archs: list) -> None:
    x = fz.transform(archs)
    deep = np.array([a.genome.count("nor_conv_3x3") >= 3 for a in archs])
    y = additive_device(archs, seed=4) * np.where(deep, 0.6, 1.0)  # a fused fast path for conv-heavy cells
    train, test = np.arange(600), np.arange(600, len(archs))
    model = PREDICTORS.get("additive")(featurizer=fz, metric="latency_ms", members=3).fit(x[train], y[train])
    assert model.rounds > 0
    with_trees = quality(y[test], model.predict(x[test]).mean)
    base = quality(y[test], model.base_prediction(x[test]))
    assert with_trees.kendall_tau > base.kendall_tau and with_trees.within_10 > base.within_10


def test_additive_predictor_round_trips_and_is_the_default_for_latency(
    fz: Featurizer, archs: list, tmp_path: Path
) -> None:
    y = additive_device(archs, seed=2) * np.exp(np.random.default_rng(0).normal(0, 0.05, len(archs)))
    model, ids = train_predictor(archs, y, space="nb201", metric="latency_ms", shape=CIFAR10, n=200, k=3, options=SMALL)
    assert model.kind == "additive" == default_kind("latency_ms") and default_kind("accuracy") == "xgboost"
    assert model.cv is not None and "mape" in model.cv["mean"]
    again = load_predictor(model.save(tmp_path / "p"))
    assert again.kind == "additive" and again.featurizer.version == fz.version
    p1, p2 = model.predict_archs(archs[:50]), again.predict_archs(archs[:50])
    assert np.allclose(p1.mean, p2.mean) and np.allclose(p1.std, p2.std)
    assert np.all(p1.std >= 0) and len(ids) == 200


def test_additive_refuses_non_positive_targets_and_a_plain_featurizer(fz: Featurizer) -> None:
    with pytest.raises(NasError, match="op_counts=True"):
        PREDICTORS.get("additive")(featurizer=Featurizer("nb201", CIFAR10), metric="latency_ms")
    model = PREDICTORS.get("additive")(featurizer=fz, metric="latency_ms")
    with pytest.raises(NasError, match="values <= 0"):
        model.fit(np.ones((3, len(fz.names()))), np.array([1.0, 0.0, 2.0]))
    with pytest.raises(NasError, match="min_residual"):
        PREDICTORS.get("additive")(featurizer=fz, metric="latency_ms", min_residual=1)


def test_design_spreads_and_is_deterministic() -> None:
    x = np.random.default_rng(0).normal(size=(2000, 3))
    a, b = design(x, 10, seed=0), design(x, 10, seed=0)
    assert np.array_equal(a, b) and len(set(a)) == 10
    spread = np.linalg.norm(x[a][:, None] - x[a][None], axis=-1)[np.triu_indices(10, 1)].min()
    rand = np.random.default_rng(1).choice(2000, 10, replace=False)
    close = np.linalg.norm(x[rand][:, None] - x[rand][None], axis=-1)[np.triu_indices(10, 1)].min()
    assert spread > 0.5 * close  # no two picks on top of each other
    with pytest.raises(NasError, match="k=0"):
        design(x, 0)


def test_onboarding_a_scaled_copy_of_a_source_ranks_almost_perfectly(fz: Featurizer, archs: list) -> None:
    space = get_space("nb201")
    with (DATA / "nb201_sample.csv").open() as f:
        rows = list(csv.DictReader(f))
    sample = [space.from_arch_str(r["arch_str"]) for r in rows]
    s = np.column_stack(
        [
            [float(r["hwnb_raspi4_lat_ms"]) for r in rows],
            [float(r["hwnb_pixel3_lat_ms"]) for r in rows],
            additive_device(sample, seed=3),
        ]
    )
    new = 1.7 * s[:, 1]  # a faster or slower Pixel 3
    for k in (5, 10, 20):
        pick = design(np.log(s), k, seed=0)
        transfer = Transfer.fit(s[pick], new[pick], ["pi4", "pixel3", "synthetic"])
        rest = np.setdiff1d(np.arange(len(new)), pick)
        q = quality(new[rest], transfer.predict(s[rest]))
        assert q.spearman > 0.99 and q.within_5 > 0.99, (k, q)


def test_transfer_predictor_from_source_predictors_round_trips(fz: Featurizer, archs: list, tmp_path: Path) -> None:
    x = fz.transform(archs)
    sources = {}
    for seed in (4, 5):
        y = additive_device(archs, seed)
        sources[f"dev{seed}"] = PREDICTORS.get("additive")(featurizer=fz, metric="latency_ms", **SMALL).fit(x, y)
    new = 0.5 * additive_device(archs, 5)
    pick = design(np.column_stack([p.predict(x).mean for p in sources.values()]), 10)
    model = TransferPredictor(featurizer=fz, metric="latency_ms", label="newdev").with_sources(sources)
    model.fit(x[pick], new[pick])
    q = quality(new, model.predict(x).mean)
    assert q.spearman > 0.99 and q.mape < 0.02
    again = load_predictor(model.save(tmp_path / "t"))
    assert again.kind == "transfer" and again.label == "newdev"
    assert np.allclose(again.predict(x[:20]).mean, model.predict(x[:20]).mean)


def test_function_key_merges_isomorphic_cells_only() -> None:
    space = get_space("nb201")
    key = lambda s: function_key(space, space.from_arch_str(s), CIFAR10)  # noqa: E731
    # edge 1->2 is dead when node 1 has no input: the same function as with none there
    a = key("|none~0|+|nor_conv_3x3~0|nor_conv_1x1~1|+|none~0|none~1|skip_connect~2|")
    b = key("|none~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|none~0|none~1|skip_connect~2|")
    c = key("|none~0|+|nor_conv_1x1~0|avg_pool_3x3~1|+|none~0|none~1|skip_connect~2|")
    assert a == b != c
