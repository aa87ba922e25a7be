"""The DASS space: the DARTS reference counts, genomes, the discretisation, exact sparse counts."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from core.errors import InvalidArchitectureError
from search_spaces import Architecture, get_space
from search_spaces.dass import DassSpace
from search_spaces.dass.genotype import PRIMITIVES, derive_cell, edge_count, format_cell
from search_spaces.dass.ops import effective_cost
from search_spaces.dass.presets import DARTS_V2_NORMAL, DARTS_V2_REDUCE
from search_spaces.ops.sparse import n_pruned
from search_spaces.ops.sparse_modules import sparse_layers

CIFAR = {"num_classes": 10, "in_channels": 3, "input_size": 32}


@pytest.fixture(scope="module")
def space() -> DassSpace:
    s = get_space("dass")
    assert isinstance(s, DassSpace)
    return s


def test_darts_v2_cifar_network_has_the_reference_parameter_count(space: DassSpace) -> None:
    """DARTS_V2 with C=36, 20 cells on CIFAR-10 shapes, auxiliary head excluded: the paper's 3.3M
    (3,349,342 is the count of our transcription of the reference NetworkCIFAR, docs/dass.md)."""
    arch = space.reference("darts-v2")
    assert arch.genome[2] == "C=36 L=20 s=0"
    assert space.cost(arch, **CIFAR).params == 3_349_342
    model = space.build(arch, **CIFAR)
    assert sum(p.numel() for p in model.parameters()) == 3_349_342
    assert not any("auxiliary" in name for name, _ in model.named_parameters())
    assert space.cost(arch, **CIFAR).macs == 528_359_040  # counted per operator, checked by tracing in conformance


def test_reference_genotype_is_the_published_pairs(space: DassSpace) -> None:
    normal, reduce, macro = space.cells_of(space.to_params(space.reference("darts-v2")))
    assert sorted(normal.pairs()) == sorted(DARTS_V2_NORMAL) and sorted(reduce.pairs()) == sorted(DARTS_V2_REDUCE)
    assert (macro.channels, macro.cells, macro.sparsity) == (36, 20, 0.0)
    assert normal.concat == (2, 3, 4, 5)


def test_cell_count_is_the_darts_papers(space: DassSpace) -> None:
    # prod_{k=1..4} (k+1)k/2 * 7^2 per cell (Liu et al., Sec. 2.4): about 10^9, 10^18 for both cells
    assert space.cell_cardinality() == math.prod((k + 1) * k // 2 * 49 for k in range(1, 5)) == 1_037_664_180
    assert space.cardinality() == space.raw_cardinality() == 1_037_664_180**2 * 3 * 2 * 4


def test_node_pairs_are_unordered_and_errors_name_the_field(space: DassSpace) -> None:
    arch = space.reference("darts-v2-cpu")
    normal = arch.genome[0].split()
    swapped = " ".join(["+".join(reversed(n.split("+"))) for n in normal])
    assert space.from_genome((swapped, *arch.genome[1:])) == arch
    bad = [
        (("none@0+sep_conv_3x3@1", "node 0: operation 'none' is not allowed")),
        (("sep_conv_3x3@1+sep_conv_3x3@1", "the two inputs must be distinct")),
        (("sep_conv_3x3@0+sep_conv_3x3@2", "input 2 is not allowed; allowed: 0..1")),
    ]
    for node0, message in bad:
        genome = (" ".join([node0, *normal[1:]]), *arch.genome[1:])
        with pytest.raises(InvalidArchitectureError, match=r"genome\[0\] \(normal cell\)") as e:
            space.from_genome(genome)
        assert message in str(e.value)
    with pytest.raises(
        InvalidArchitectureError, match=r"genome\[2\] \(macro\): channels 12 is not allowed; allowed: 8"
    ):
        space.from_genome((*arch.genome[:2], "C=12 L=5 s=0.9"))
    with pytest.raises(InvalidArchitectureError, match=r"sparsity 0\.7 is not allowed"):
        space.from_genome((*arch.genome[:2], "C=8 L=5 s=0.7"))


def test_json_round_trip_keeps_the_network(space: DassSpace) -> None:
    arch = space.sample(np.random.default_rng(3))
    assert Architecture.from_json(arch.to_json()) == arch
    assert space.decode(space.to_params(arch)) == arch


def test_derivation_keeps_the_two_strongest_distinct_inputs_and_their_best_non_none_op() -> None:
    """Constructed architecture weights: 'none' is the largest entry of several edges and must be
    ignored; each node keeps the two edges whose best non-none weight is largest."""
    k = {p: i for i, p in enumerate(PRIMITIVES)}
    w = np.full((edge_count(), len(PRIMITIVES)), 0.1)

    def edge(node: int, j: int) -> int:
        return sum(2 + i for i in range(node)) + j

    w[:, k["none"]] = 0.9  # would win everywhere if not skipped
    w[edge(0, 0), k["sep_conv_3x3"]] = 0.5
    w[edge(0, 1), k["dil_conv_5x5"]] = 0.4
    w[edge(1, 2), k["max_pool_3x3"]] = 0.6  # node 1: inputs 2 and 0
    w[edge(1, 0), k["skip_connect"]] = 0.3
    w[edge(1, 1), k["avg_pool_3x3"]] = 0.2
    w[edge(2, 3), k["sep_conv_5x5"]] = 0.7  # node 2: inputs 3 and 1
    w[edge(2, 1), k["dil_conv_3x3"]] = 0.35
    w[edge(3, 4), k["skip_connect"]] = 0.45  # node 3: 4 and a tie between 0 and 2 -> the earlier input, 0
    w[edge(3, 0), k["avg_pool_3x3"]] = 0.25
    w[edge(3, 2), k["max_pool_3x3"]] = 0.25
    cell = derive_cell(w.tolist())
    assert format_cell(cell) == (
        "sep_conv_3x3@0+dil_conv_5x5@1 skip_connect@0+max_pool_3x3@2 "
        "dil_conv_3x3@1+sep_conv_5x5@3 avg_pool_3x3@0+skip_connect@4"
    )
    # equal weights everywhere: the earliest inputs and the first non-none primitive (max_pool_3x3)
    flat = derive_cell(np.full((edge_count(), len(PRIMITIVES)), 0.125).tolist())
    assert all(n.edges == (("max_pool_3x3", 0), ("max_pool_3x3", 1)) for n in flat.nodes)


def test_built_network_prunes_every_weight_layer_exactly(space: DassSpace) -> None:
    arch = space.reference("darts-v2-cpu")  # C=8 L=5 at 90% sparsity
    shape = {"num_classes": 10, "in_channels": 1, "input_size": 28}
    model = space.build(arch, **shape)
    layers = sparse_layers(model)
    assert layers and all(layer.sparsity == 0.9 for _, layer in layers)
    for _, layer in layers:
        assert layer.mask.numel() - layer.nonzeros() == n_pruned(layer.mask.numel(), 0.9)
    kept = sum(layer.nonzeros() for _, layer in layers)
    dense = space.cost(arch, **shape)
    others = dense.params - sum(layer.mask.numel() for _, layer in layers)  # BatchNorms, the bias
    assert space.effective_cost(arch, **shape).params == kept + others
    assert sum(effective_cost(op).macs for op in space.ops(arch, **shape)) < dense.macs / 5
    with torch.no_grad():
        assert model.eval()(torch.randn(2, 1, 28, 28)).shape == (2, 10)


def test_odd_resolutions_build_where_the_reference_cannot(space: DassSpace) -> None:
    """The reference's FactorizedReduce fails on odd sizes; the padded odd grid matches its shapes."""
    arch = space.reference("darts-v2-cpu")
    model = space.build(arch, num_classes=10, in_channels=1, input_size=14).eval()  # 14 -> 7 -> 4
    with torch.no_grad():
        assert model(torch.randn(1, 1, 14, 14)).shape == (1, 10)
