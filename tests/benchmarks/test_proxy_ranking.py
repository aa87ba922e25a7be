"""The ranking statistics of `benchmarks.proxy_ranking`: intervals, the attainable tau, the goals."""

from __future__ import annotations

import numpy as np
from scipy.stats import kendalltau, rankdata

from benchmarks.proxy_ranking import attainable_tau, goals, stats, with_prior


def test_the_attainable_tau_matches_a_simulated_truth() -> None:
    rng = np.random.default_rng(0)
    n, noise = 20_000, 0.6
    true = rng.normal(size=n)
    s0, s1, s2 = (true + noise * rng.normal(size=n) for _ in range(3))
    seed_tau = kendalltau(s0, s1).statistic
    for seeds, mean in ((1, s2), (2, (s0 + s1) / 2), (3, (s0 + s1 + s2) / 3)):
        assert abs(attainable_tau(seed_tau, seeds) - kendalltau(true, mean).statistic) < 0.01
    assert attainable_tau(-0.1, 2) is None


def test_the_interval_covers_the_point_and_several_seeds_are_averaged() -> None:
    rng = np.random.default_rng(1)
    truth = rng.normal(size=60)
    exact = stats(truth, truth, rng)
    assert exact["kendall_tau"] == {"value": 1.0, "ci95": [1.0, 1.0]} and exact["top10_precision"]["value"] == 1.0
    noisy = [truth + rng.normal(size=60), truth + rng.normal(size=60)]
    both = stats(truth, noisy, rng)
    each = [stats(truth, s, rng)["kendall_tau"]["value"] for s in noisy]
    low, high = both["kendall_tau"]["ci95"]
    assert both["kendall_tau"]["value"] == round(float(np.mean(each)), 3) and low < min(each) and max(each) < high


def test_the_goals_say_how_far_each_is() -> None:
    def e(tau: float, low: float, ratio: float) -> dict:
        return {"kendall_tau": {"value": tau, "ci95": [low, tau + 0.1]}, "ratio_to_ceiling": ratio}

    ranked = {"shortcut_layers": e(0.5, 0.4, 0.8), "supernet": e(0.6, 0.5, 0.95)}
    r = {"space": "mnasnet", "all": {"evaluators": ranked}, "cost": {"supernet": {"speedup_vs_scratch": 120.0}}}
    g = goals(r)["supernet"]
    assert g["tau"] == {"value": 0.6, "goal": 0.65, "met": False, "short_by": 0.05}
    assert g["ci95_low"]["short_by"] == 0.05 and g["ratio_to_ceiling"]["met"] and g["speedup"]["met"]
    assert g["beats_baselines"] == {"value": 0.6, "goal": 0.5, "met": True, "short_by": 0.0}


def test_the_prior_is_the_free_baseline_best_on_the_choosing_half_only() -> None:
    rng = np.random.default_rng(2)
    truth = rng.normal(size=40)
    first, second = np.arange(20), np.arange(20, 40)
    good_on_first = np.where(np.arange(40) < 20, truth, -truth)  # ranks half 0 exactly, half 1 backwards
    candidates = {
        "params": {"scores": [good_on_first], "seconds_per_candidate": 0.0},
        "macs": {"scores": [-good_on_first], "seconds_per_candidate": 0.0},
        "naswot": {"scores": [truth], "seconds_per_candidate": 0.5},  # not free: never the prior
        "supernet": {"scores": [truth + rng.normal(size=40)], "seconds_per_candidate": 2.0},
    }
    with_prior(candidates, truth, first)
    combined = candidates["supernet + params"]
    assert set(candidates) == {"params", "macs", "naswot", "supernet", "supernet + params"}
    assert combined["prior"] == "params" and combined["seconds_per_candidate"] == 2.0
    mean_rank = (rankdata(candidates["supernet"]["scores"][0]) + rankdata(good_on_first)) / 2
    assert np.array_equal(combined["scores"][0], mean_rank)
    assert kendalltau(combined["scores"][0][second], truth[second]).statistic < 0.5  # the other half pays
