"""The NASNet-space supernet: shared weights keyed by position and operation, subnets equal to
``space.build`` when the weights are copied, trained through the same Ray Tune path as MnasNet's
and scored by the ``supernet`` evaluator (digits, tiny sizes)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from core.errors import NasError
from evaluators.supernet.cells import CellSupernet
from evaluators.supernet.checkpoint import load_supernet, save_supernet
from search_spaces import get_space
from tests.evaluators.supernets import SHAPE, train_and_load

MACRO = "N=1 f=8 stem=1"

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def net() -> CellSupernet:
    return CellSupernet("nasnet", macro=MACRO, coverage=400, **SHAPE)


def test_subnets_are_the_space_s_networks_with_the_shared_weights(net: CellSupernet) -> None:
    rng = np.random.default_rng(3)
    x = torch.randn(4, 1, 8, 8)
    space = get_space("nasnet")
    done = 0
    for _ in range(6):
        arch = net.sample(rng)
        try:
            sub = net.extract(arch)
        except NasError:  # an operation the 400 draws did not reach
            continue
        built = space.build(arch, **SHAPE)
        assert sum(p.numel() for p in sub.parameters()) == sum(p.numel() for p in built.parameters())
        assert sum(p.numel() for p in sub.parameters()) == space.cost(arch, **SHAPE).params
        net.eval()
        with torch.no_grad():
            assert torch.allclose(net(x, arch), sub(x), atol=1e-5)
        done += 1
    assert done >= 4
    # two architectures that run the same operation at the same position share its weights
    a, b = net.sample(rng), net.sample(rng)
    shared = set(map(id, net.layers(a))) & set(map(id, net.layers(b)))
    assert shared  # at least the stem and the classifier


def test_another_macro_setting_is_refused_by_name(net: CellSupernet) -> None:
    space = get_space("nasnet")
    arch = space.decode({**space.to_params(net.sample(np.random.default_rng(0))), "cells": 2})
    with pytest.raises(NasError, match="trained at macro 'N=1 f=8 stem=1'"):
        net.extract(arch)


def test_training_draws_only_architectures_whose_operations_it_holds() -> None:
    """Operations are found by drawing; one that the draws missed must not crash training (it did
    at epoch 5 of the 8-epoch NASNet supernet): `sample` redraws, a scored candidate fails by name."""
    few = CellSupernet("nasnet", macro=MACRO, coverage=100, **SHAPE)  # covers ~40% of fresh draws
    space, rng = get_space("nasnet"), np.random.default_rng(11)  # not the coverage draws' seed (0)
    drawn = [few.at_macro(space.sample(rng)) for _ in range(40)]
    missing = [a for a in drawn if not few.covers(a)]
    assert missing and len(missing) < len(drawn)  # some outside, some inside: the check tells them apart
    sampled = [few.sample(np.random.default_rng(100 + i)) for i in range(20)]
    assert all(few.covers(a) for a in sampled)
    few.layers(sampled[0])
    with pytest.raises(NasError, match="is not among the"):
        few.layers(missing[0])


def test_a_checkpoint_rebuilds_the_same_supernet(net: CellSupernet, tmp_path: Path) -> None:
    path = save_supernet(tmp_path / "cells.pt", net, info={"dataset": "digits"})
    again, info = load_supernet(path)
    assert isinstance(again, CellSupernet) and again.keys == net.keys and info["dataset"] == "digits"
    for (k1, v1), (k2, v2) in zip(net.state_dict().items(), again.state_dict().items(), strict=True):
        assert k1 == k2 and torch.equal(v1, v2)


@pytest.mark.usefixtures("ray_cluster")
def test_nas_supernet_train_for_nasnet_then_the_evaluator_scores_with_it(tmp_path: Path) -> None:
    info, evaluator = train_and_load(tmp_path, "nasnet")
    assert info["schedule"]["macro"] == MACRO and set(info["accuracy"]) == {"published", "random"}
    space = get_space("nasnet")
    rng = np.random.default_rng(1)
    archs = [evaluator.net.sample(rng) for _ in range(3)]
    outcomes = evaluator.evaluate(archs)
    assert all(o.ok for o in outcomes), [o.error for o in outcomes]
    assert len({o.metrics["accuracy"] for o in outcomes}) > 1  # candidates differ
    other = space.decode({**space.to_params(archs[0]), "filters": 16})
    [failed] = evaluator.evaluate([other])
    assert not failed.ok and "trained at macro" in (failed.error or "")
