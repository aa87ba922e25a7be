"""Zero-cost proxies: exact on a network whose answer is known, deterministic for a seed, and
different between architectures (digits, so nothing outside the repository is needed)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from evaluators import EVALUATORS, Task
from evaluators.zero_cost import grad_norm, naswot, synflow
from search_spaces import get_space

SHAPE = {"in_channels": 1, "input_size": 8, "num_classes": 10}
DIRS = (Path("/usr/share/datasets"),)

pytestmark = pytest.mark.usefixtures("one_thread")


def test_synflow_is_depth_times_the_flow_on_a_homogeneous_network() -> None:
    # a bias-free ReLU network with positive weights is 1-homogeneous in each layer's weights, so
    # sum(theta * dR/dtheta) over one layer is R itself: the score is log(layers x R)
    torch.manual_seed(0)
    net = nn.Sequential(nn.Flatten(), nn.Linear(12, 7, bias=False), nn.ReLU(), nn.Linear(7, 3, bias=False))
    w1, w2 = net[1].weight.detach().abs().double(), net[3].weight.detach().abs().double()
    flow = float((w2 @ w1 @ torch.ones(12, dtype=torch.float64)).sum())
    assert synflow(net, (3, 2, 2)) == pytest.approx(math.log(2 * flow), rel=1e-12)


def test_naswot_is_minus_infinity_when_two_images_activate_alike() -> None:
    torch.manual_seed(0)
    net = nn.Sequential(nn.Flatten(), nn.Linear(16, 64), nn.ReLU(), nn.Linear(64, 10))
    x = torch.randn(8, 1, 4, 4)
    assert math.isfinite(naswot(net, x))
    x[3] = x[5]  # two identical images: K has two equal rows
    assert naswot(net, x) == -math.inf
    assert math.isfinite(grad_norm(net, x, torch.arange(8) % 10))


def test_scores_are_deterministic_for_a_seed_and_differ_between_architectures() -> None:
    task = Task("mnasnet", dataset="digits", **SHAPE)
    make = EVALUATORS.get("zero_cost")
    space = get_space("mnasnet")
    rng = np.random.default_rng(0)
    archs = [space.sample(rng) for _ in range(3)]
    first = make(task=task, data_dirs=DIRS, batch_size=32, seed=0).evaluate(archs)
    again = make(task=task, data_dirs=DIRS, batch_size=32, seed=0).evaluate(archs)
    other = make(task=task, data_dirs=DIRS, batch_size=32, seed=1).evaluate(archs)
    assert all(o.ok for o in first + again + other), [o.error for o in first + again + other]
    assert [o.metrics for o in first] == [o.metrics for o in again]
    for metric in ("synflow", "naswot", "grad_norm"):
        values = [o.metrics[metric] for o in first]
        assert all(math.isfinite(v) for v in values) and len(set(values)) == 3, (metric, values)
    assert [o.metrics for o in first] != [o.metrics for o in other]  # another seed, another batch and init
