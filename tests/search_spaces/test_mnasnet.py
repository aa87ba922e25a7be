"""MnasNet space: published models exactly, the paper's space size, canonical forms."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from search_spaces import get_space
from search_spaces.mnasnet.space import BASE_BLOCKS, MnasNetSpace, filter_choices

space = MnasNetSpace()


@pytest.mark.parametrize(
    ("name", "params", "macs"),
    [
        ("mnasnet-a1", 3_887_038, 311.6e6),  # timm semnasnet_100; paper: 3.9M, 312M
        ("mnasnet-b1", 4_383_312, 314.4e6),  # torchvision mnasnet1_0; paper: 4.4M, 315M
        ("mobilenet-v2", 3_504_872, 300.8e6),  # torchvision mobilenet_v2; paper: 3.4M, 300M
    ],
)
def test_reference_architectures_reproduce_published_models(name: str, params: int, macs: float) -> None:
    arch = space.reference(name)
    model = space.build(arch)
    assert sum(p.numel() for p in model.parameters()) == params
    assert space.cost(arch).params == params
    assert space.cost(arch).macs == pytest.approx(macs, rel=0.01)


def test_filter_lists_are_the_paper_grid_plus_the_two_published_widths() -> None:
    assert [filter_choices(b) for b in range(1, 8)] == [
        (12, 16, 20),
        (18, 24, 30),
        (24, 32, 40),
        (48, 64, 80),
        (72, 96, 112, 120),  # + A1's 112
        (120, 160, 192, 200),  # + B1's 192
        (240, 320, 400),
    ]


def test_space_size_matches_the_paper_formula() -> None:
    # Per block: 4 ConvOps x 2 kernels x 2 SE x 3 skips x |filters| x 3 layer counts (paper: S = 432).
    per_block = [4 * 2 * 2 * 3 * len(filter_choices(b)) * 3 for b in range(1, 8)]
    assert per_block.count(432) == 5
    assert space.raw_cardinality() == math.prod(per_block)
    # Distinct networks: a vanished block is one network; a one-layer block has 2 distinct skips.
    distinct = 1
    for b, (_, layers, _) in enumerate(BASE_BLOCKS, start=1):
        f = len(filter_choices(b))
        counts = [layers - 1, layers, layers + 1]
        distinct *= sum(1 if r == 0 else 4 * 2 * 2 * (2 if r == 1 else 3) * f for r in counts)
    assert space.cardinality() == distinct


def test_first_layer_of_a_block_never_has_matching_shapes() -> None:
    # Why canonical() may fold idskip into noskip for one-layer blocks: try every predecessor width.
    inputs = {1: {32}}
    for b in range(2, 8):
        inputs[b] = {32, *filter_choices(b - 1), *(filter_choices(b - 2) if b > 2 else ())}
        if b == 2:
            inputs[b].add(32)
    for b, (_, _, stride) in enumerate(BASE_BLOCKS, start=1):
        for c_in, c_out in itertools.product(inputs[b], filter_choices(b)):
            assert not (c_in == c_out and stride == 1), (b, c_in, c_out)


def test_one_layer_identity_skip_is_folded_and_pool_skip_is_kept() -> None:
    params = space.to_params(space.reference("mnasnet-a1"))
    params["b1_skip"] = "idskip"
    assert space.decode(params).genome[0].endswith("_noskip")
    params["b1_skip"] = "poolskip"
    arch = space.decode(params)
    assert arch.genome[0].endswith("_poolskip")
    assert space.ops(arch)[1].skip == "pool"


def test_pool_and_identity_skips_in_the_layer_list() -> None:
    params = space.to_params(space.reference("mnasnet-b1"))
    params["b3_skip"] = "poolskip"
    ops = {op.name: op for op in space.ops(space.decode(params))}
    assert (ops["b3.1"].skip, ops["b3.2"].skip, ops["b3.3"].skip) == ("pool", "id", "id")
    assert (ops["b2.1"].skip, ops["b2.2"].skip) == ("none", "id")
    assert ops["b2.1"].stride == 2 and ops["b2.2"].stride == 1


def test_small_inputs_use_a_stride_one_stem() -> None:
    a1 = space.reference("mnasnet-a1")
    small, large = space.ops(a1, input_size=32), space.ops(a1, input_size=224)
    assert (small[0].stride, large[0].stride) == (1, 2)
    assert small[-1].hw == 2 and large[-1].hw == 7  # overall stride 16 vs 32
    assert space.cost(a1, input_size=32).params == space.cost(a1, input_size=224).params


def test_vanished_blocks_build() -> None:
    params = space.to_params(space.reference("mnasnet-a1"))
    params.update(b1_layers=0, b7_layers=0)
    arch = space.decode(params)
    names = [op.name for op in space.ops(arch)]
    assert not any(n.startswith(("b1.", "b7.")) for n in names)
    assert space.ops(arch)[1].c_in == 32  # block 2 reads the stem directly


def test_a1_layer_table_matches_the_paper_figure() -> None:
    # MnasNet-A1 (paper Fig. 7): stem 32; SepConv 16; MBConv6 24 x2; MBConv3 k5 SE 40 x3; MBConv6 80 x4;
    # MBConv6 SE 112 x2; MBConv6 k5 SE 160 x3; MBConv6 320; conv1x1 1280.
    ops = space.ops(space.reference("mnasnet-a1"))
    rows = [(op.kind, op.expansion, op.kernel, op.se, op.c_out) for op in ops[1:-2]]
    expected = (
        [("dconv", 1, 3, 0.0, 16)]
        + [("mbconv", 6, 3, 0.0, 24)] * 2
        + [("mbconv", 3, 5, 0.25, 40)] * 3
        + [("mbconv", 6, 3, 0.0, 80)] * 4
        + [("mbconv", 6, 3, 0.25, 112)] * 2
        + [("mbconv", 6, 5, 0.25, 160)] * 3
        + [("mbconv", 6, 3, 0.0, 320)]
    )
    assert rows == expected
    first_layers = [op for op in ops if op.name.endswith(".1")]
    assert [op.hw for op in first_layers] == [112, 112, 56, 28, 14, 14, 7]  # block input resolutions
    assert ops[-2].c_out == 1280 and ops[-1].c_out == 1000


def test_encode_features() -> None:
    names = space.feature_names()
    vec = space.encode(space.reference("mnasnet-a1"))
    row = dict(zip(names, vec, strict=True))
    assert row["b5_filters"] == 112 and row["b3_se"] == 0.25 and row["b3_op=mb3"] == 1.0
    assert row["b3_op=mb6"] == 0.0 and row["b2_layers"] == 2


def test_registry_instance() -> None:
    assert isinstance(get_space("mnasnet"), MnasNetSpace)
    assert np.unique([space.sample(np.random.default_rng(s)).arch_id for s in range(50)]).size == 50


@pytest.mark.parametrize("n", [4, 8, 6])
def test_balanced_samples_give_every_choice_its_share(n: int) -> None:
    space = get_space("mnasnet")
    rng = np.random.default_rng(n)
    for _ in range(5):
        params = [space.to_params(a) for a in space.sample_balanced(n, rng)]
        for b in range(2, 7):  # blocks that never vanish, so canonical form keeps their genes
            ops = [p[f"b{b}_op"] for p in params]
            kernels = [p[f"b{b}_kernel"] for p in params]
            assert max(ops.count(o) for o in set(ops)) - min(ops.count(o) for o in ("conv", "dconv", "mb3", "mb6")) <= 1
            assert kernels.count(3) in (n // 2, (n + 1) // 2), kernels
    draws = {a.arch_id for _ in range(3) for a in space.sample_balanced(4, rng)}
    assert len(draws) == 12  # still random
