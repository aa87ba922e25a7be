"""NAS-Bench-201 space: published parameter counts and FLOPs, the benchmark's string format, the DAG."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
import torch

from core.errors import InvalidArchitectureError
from search_spaces import get_space
from search_spaces.nb201 import parse_arch_str, to_arch_str

DATA = Path(__file__).parents[1] / "data"
ARCH0 = "|avg_pool_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|nor_conv_1x1~0|skip_connect~1|skip_connect~2|"
ARCH1 = "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|"
ALL_NONE = "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|"
ALL_CONV = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|"
CIFAR10 = {"num_classes": 10, "input_size": 32}


@pytest.fixture(scope="module")
def space():
    return get_space("nb201")


# Published NAS-Bench-201 values (the benchmark's cost info): parameters, and "FLOPs" which count
# conv and linear multiply-adds plus the classifier's bias additions (our MACs + num_classes).
@pytest.mark.parametrize(
    ("arch_str", "shape", "params", "flops"),
    [
        (ALL_NONE, CIFAR10, 73_306, 7_783_050),  # benchmark minimum on CIFAR-10
        (ALL_CONV, CIFAR10, 1_531_546, 220_119_690),  # benchmark maximum on CIFAR-10
        (ALL_NONE, {"num_classes": 100, "input_size": 32}, 79_156, 7_788_900),  # minimum on CIFAR-100
        (ALL_CONV, {"num_classes": 100, "input_size": 32}, 1_537_396, 220_125_540),
        (ARCH0, CIFAR10, 129_306, 15_647_370),  # benchmark index 0
        (ARCH1, CIFAR10, 802_426, None),  # index 1
        (ARCH1, {"num_classes": 100, "input_size": 32}, 808_276, None),
        (ARCH1, {"num_classes": 120, "input_size": 16}, 809_576, None),  # ImageNet16-120
    ],
)
def test_cost_matches_the_published_benchmark(space, arch_str, shape, params, flops) -> None:
    cost = space.cost(space.from_arch_str(arch_str), **shape)
    assert cost.params == params
    if flops is not None:
        assert cost.macs + shape["num_classes"] == flops


def test_best_cifar10_cell_has_1_07m_parameters(space) -> None:
    assert space.cost(space.reference("best-cifar10"), **CIFAR10).params == 1_073_466


def test_arch_strings_round_trip_over_the_benchmark_sample(space) -> None:
    with (DATA / "nb201_sample.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 400
    for row in rows:
        arch = space.from_arch_str(row["arch_str"])
        assert space.to_arch_str(arch) == row["arch_str"]
        assert to_arch_str(parse_arch_str(row["arch_str"])) == row["arch_str"]
    assert space.cardinality() == space.raw_cardinality() == 15_625


@pytest.mark.parametrize(
    ("text", "names"),
    [
        ("|conv~0|+|none~0|none~1|+|none~0|none~1|none~2|", "'conv' is not allowed"),
        ("|none~0|+|none~0|+|none~0|none~1|none~2|", "node 2 needs 2 inputs"),
        ("|none~0|+|none~0|none~0|+|none~0|none~1|none~2|", "invalid or repeated"),
        ("none~0|none~0", "expected 3 nodes"),
    ],
)
def test_bad_arch_strings_name_the_problem(space, text: str, names: str) -> None:
    with pytest.raises(InvalidArchitectureError, match=names):
        space.from_arch_str(text)


def test_bad_genome_names_the_edge_and_the_allowed_ops(space) -> None:
    with pytest.raises(InvalidArchitectureError, match=r"genome\[2\] \(edge_1_2\).*allowed: none, skip_connect"):
        space.from_genome(["none", "none", "conv5x5", "none", "none", "none"])


def test_cells_are_wired_as_the_benchmark_dag(space) -> None:
    torch.manual_seed(0)
    # Every edge is none: each cell outputs zeros, so the logits do not depend on the input.
    model = space.build(space.from_arch_str(ALL_NONE), **CIFAR10).eval()
    with torch.no_grad():
        assert torch.equal(model(torch.randn(1, 3, 32, 32)), model(torch.randn(1, 3, 32, 32)))
    # The ResNet cell computes x + conv(conv(x)) (node 3 = skip(node 0) + skip(node 2)).
    model = space.build(space.reference("resnet"), **CIFAR10).eval()
    cell = model.cells[0]
    x = torch.randn(2, 16, 32, 32)
    with torch.no_grad():
        expected = x + cell.edges[2](cell.edges[0](x))
        assert torch.allclose(cell(x), expected)


def test_op_catalogue_is_exact(space) -> None:
    catalogue = space.op_catalogue(**CIFAR10)
    assert len(catalogue) == 1 + 2 + 1 + 5 * 3  # stem, residual blocks, head, 5 ops x 3 stages
    rng = np.random.default_rng(0)
    sigs = {op.signature() for op in catalogue}
    used = {op.signature() for _ in range(300) for op in space.ops(space.sample(rng), **CIFAR10)}
    assert used == sigs
