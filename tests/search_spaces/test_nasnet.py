"""NASNet space: NASNet-A reproduces the reference counts, every operation costs exactly what it
builds, the genome's canonical form, the space's size, the operator catalogue and ScheduledDropPath."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from core.errors import InvalidArchitectureError
from search_spaces import SearchSpace, get_space
from search_spaces.base import choices_of
from search_spaces.cells.network import drop_path
from search_spaces.nasnet import NasNetSpace
from search_spaces.nasnet.genotype import OPS
from search_spaces.nasnet.layout import op_spec, reduce_spec
from search_spaces.ops.modules import build_op
from search_spaces.ops.spec import OpSpec

space = NasNetSpace()
DIGITS = {"in_channels": 1, "input_size": 8, "num_classes": 10}


def traced_macs(model: torch.nn.Module, shape: tuple[int, ...]) -> int:
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(torch.randn(*shape))
    return counter.get_total_flops() // 2


def params_of(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def with_macro(arch_name: str, macro: str) -> tuple[str, ...]:
    normal, reduction, _ = space.reference(arch_name).genome
    return normal, reduction, macro


# -- published models ---------------------------------------------------------------------------------
def test_nasnet_a_large_reproduces_the_reference_count_without_building() -> None:
    # TF-slim nasnet_large / Cadene's nasnetalarge (aux head not counted): 88,753,150; paper 88.9M, 23.8B MACs
    cost = space.cost(space.reference("nasnet-a-large"), input_size=331)
    assert cost.params == 88_753_150
    assert cost.macs == pytest.approx(23.8e9, rel=0.02)


def test_nasnet_a_mobile_built_matches_the_reference_and_its_cost() -> None:
    # TF-slim nasnet_mobile / Cadene's nasnetamobile: 5,289,978 parameters; paper 5.3M, 564M MACs
    arch = space.reference("nasnet-a-mobile")
    cost = space.cost(arch)
    assert cost.params == 5_289_978
    assert cost.macs == pytest.approx(564e6, rel=0.02)
    model = space.build(arch).eval()
    assert params_of(model) == cost.params
    assert traced_macs(model, (1, 3, 224, 224)) == cost.macs


def test_nasnet_a_cifar_has_the_papers_size_and_traces_exactly() -> None:
    arch = space.reference("nasnet-a-cifar")  # paper Table 1: NASNet-A (6 @ 768), 3.3M parameters
    cost = space.cost(arch, num_classes=10, input_size=32)
    assert round(cost.params / 1e6, 1) == 3.3
    model = space.build(arch, num_classes=10, input_size=32).eval()
    assert params_of(model) == cost.params
    assert traced_macs(model, (1, 3, 32, 32)) == cost.macs


@pytest.mark.parametrize(
    ("name", "size", "n", "resolutions", "widths"),
    [
        # stem conv (valid padding, stride 2), stem cells 0 and 1, reduction cells 1 and 2
        ("nasnet-a-large", 331, 6, [165, 83, 42, 21, 11], [96, 168, 336, 1008, 1344, 2016, 2688, 4032]),
        ("nasnet-a-mobile", 224, 4, [111, 56, 28, 14, 7], [32, 44, 88, 264, 352, 528, 704, 1056]),
    ],
)
def test_macro_layout_follows_the_reference(
    name: str, size: int, n: int, resolutions: list[int], widths: list[int]
) -> None:
    ops = {op.name: op for op in space.ops(space.reference(name), input_size=size)}
    reduced = ["stem0", "stem1", "reduce1", "reduce2"]
    assert [ops["stem"].hw_out] + [ops[f"{c}.out"].hw for c in reduced] == resolutions
    cells = ["stem0", "stem1", "cell0", "reduce1", f"cell{n}", "reduce2"]
    assert [ops["stem"].c_out] + [ops[f"{c}.out"].c_out for c in cells] + [ops["head"].c_in] == widths
    # h_{i-1} at twice the resolution: a factorized reduction, in the first cell after each reduction
    factorized = [name for name, op in ops.items() if name.endswith(".in1") and op.kind == "nasnet_reduce"]
    assert factorized == ["stem1.in1", "cell0.in1", f"cell{n}.in1", f"cell{2 * n}.in1"]
    # NASNet-A has 5 separable convs per cell (2 + 2 + 1 normal, 2 + 1 + 1 + 1 reduction); 3N + 4 cells
    assert sum(op.kind == "nasnet_sep" for op in ops.values()) == 5 * (3 * n + 4)


def test_first_stem_cell_reads_the_raw_stem_conv_output() -> None:
    # Reference: the first stem cell has no h_{i-1}, so block inputs 1 see the 96-channel conv output.
    ops = {op.name: op for op in space.ops(space.reference("nasnet-a-large"), input_size=331)}
    assert "stem0.in1" not in ops
    assert (ops["stem0.b0.right"].kind, ops["stem0.b0.right"].c_in, ops["stem0.b0.right"].c_out) == (
        "nasnet_sep",
        96,
        42,
    )
    assert ops["stem0.b0.right"].stride == 2 and ops["stem0.b3.left"].stride == 1  # block inputs are not strided


# -- every operation ------------------------------------------------------------------------------------
@pytest.mark.parametrize("op", [o for o in OPS if o != "id"] + ["id"])
@pytest.mark.parametrize(("c_in", "stride"), [(6, 1), (4, 2), (4, 1)])
def test_each_operation_costs_exactly_what_it_builds(op: str, c_in: int, stride: int) -> None:
    spec = op_spec(op, c_in, 4, 7, stride)
    if spec is None:  # identity with matching shape: no module at all
        assert (op, c_in, stride) == ("id", 4, 1)
        return
    module = build_op(spec).eval()
    out = module(torch.randn(2, c_in, 7, 7))
    assert out.shape == (2, 4, spec.hw_out, spec.hw_out)
    assert params_of(module) == spec.cost().params
    assert traced_macs(module, (1, c_in, 7, 7)) == spec.cost().macs


@pytest.mark.parametrize(("hw", "c_out", "stride", "relu"), [(7, 6, 2, True), (8, 5, 2, False), (5, 4, 1, False)])
def test_factorized_reduction(hw: int, c_out: int, stride: int, relu: bool) -> None:
    spec = reduce_spec(3, c_out, hw, stride=stride, relu=relu)
    module = build_op(spec).eval()
    assert module(torch.randn(2, 3, hw, hw)).shape == (2, c_out, spec.hw_out, spec.hw_out)
    assert spec.hw_out == -(-hw // stride)
    assert params_of(module) == spec.cost().params and traced_macs(module, (1, 3, hw, hw)) == spec.cost().macs


def test_combine_ops_time_alone_and_wire_together() -> None:
    add, cat = OpSpec("nasnet_add", 4, 4, 5), OpSpec("nasnet_concat", 4, 12, 5)
    x = torch.randn(1, 4, 5, 5)
    assert torch.equal(build_op(add)(x), 2 * x) and build_op(cat)(x).shape == (1, 12, 5, 5)
    assert build_op(cat)(x, x, -x)[:, 8:].equal(-x)
    assert add.cost().params == cat.cost().params == 0


def test_layer_list_is_the_built_model() -> None:
    arch = space.from_genome(with_macro("nasnet-a-mobile", "N=2 f=8 stem=1"))
    model = space.build(arch, **DIGITS)
    assert list(model.specs) == space.ops(arch, **DIGITS)
    for spec, layer in zip(model.specs, model.layers, strict=True):
        assert params_of(layer) == spec.cost().params, spec.name


def test_pools_average_unpadded_pixels_and_networks_trace_with_fx() -> None:
    avg = build_op(op_spec("avg3x3", 1, 1, 3, 1)).eval()
    out = avg(torch.arange(9.0).reshape(1, 1, 3, 3))
    assert out[0, 0, 0, 0].item() == pytest.approx((0 + 1 + 3 + 4) / 4)  # TF 'SAME': padding not counted
    arch = space.from_genome(with_macro("nasnet-a-mobile", "N=1 f=8 stem=1"))
    model = space.build(arch, **DIGITS).eval()
    x = torch.randn(2, 1, 8, 8)
    assert torch.allclose(torch.fx.symbolic_trace(model)(x), model(x))  # what the standalone export writes out


# -- small inputs and training ------------------------------------------------------------------------
def test_small_inputs_use_the_cifar_stem() -> None:
    arch = space.reference("nasnet-a-cifar")
    small, large = space.ops(arch, input_size=32), space.ops(arch, input_size=224)
    assert (small[0].stride, small[0].c_out, small[0].attr("pad", "")) == (1, 96, "same")  # f x 3
    assert (large[0].stride, large[0].c_out, large[0].attr("pad", "")) == (2, 96, "valid")  # 32 x 3
    assert small[-1].hw == 8 and not any(op.name.startswith("stem0") for op in small)


def test_tiny_networks_train_on_digit_sized_inputs() -> None:
    torch.manual_seed(0)
    rng = np.random.default_rng(3)
    for _ in range(3):
        params = space.to_params(space.sample(rng)) | {"cells": 1, "filters": 8, "stem": 1}
        model = space.build(space.decode(params), **DIGITS)
        out = model(torch.randn(4, 1, 8, 8))
        assert out.shape == (4, 10) and torch.isfinite(out).all()
        out.sum().backward()
        assert all(p.grad is not None for p in model.parameters())


def test_drop_path_zeroes_whole_samples_and_keeps_the_mean() -> None:
    torch.manual_seed(0)
    x = torch.ones(4000, 2, 3, 3)
    y = drop_path(x, 0.7)
    per_sample = y.flatten(1)
    assert (per_sample.min(1).values == per_sample.max(1).values).all()  # whole samples
    values = per_sample[:, 0]
    assert torch.isclose(values, torch.tensor(0.0)).logical_or(torch.isclose(values, torch.tensor(1 / 0.7))).all()
    assert y.mean().item() == pytest.approx(1.0, abs=0.05)


def test_scheduled_drop_path_follows_depth_and_progress() -> None:
    arch = space.from_genome(with_macro("nasnet-a-mobile", "N=1 f=8 stem=1"))
    model = space.build(arch, **DIGITS)
    assert model.num_cells == 3 * 1 + 2  # CIFAR stem: no stem cells
    model.set_drop_path(0.6, progress=0.5)
    assert model.cell_keep_prob(4) == pytest.approx(1 - 0.5 * 0.4)  # last cell: full rate, half-way through
    assert model.cell_keep_prob(0) == pytest.approx(1 - 0.5 * 0.4 / 5)
    with pytest.raises(ValueError, match="keep_prob"):
        model.set_drop_path(0.0)
    x = torch.randn(8, 1, 8, 8)
    model.set_drop_path(1.0)
    model.train()
    assert torch.equal(model(x), model(x))  # off by default: training is deterministic (no head dropout)
    model.set_drop_path(0.3)
    torch.manual_seed(1)
    a = model(x)
    assert not torch.equal(a, model(x))
    model.eval()
    assert torch.equal(model(x), model(x))  # never at inference


# -- genome -------------------------------------------------------------------------------------------------
def test_block_pairs_are_unordered_and_keep_of_an_unused_state_folds() -> None:
    normal, reduction, macro = space.reference("nasnet-a-mobile").genome
    swapped = normal.replace("add(sep5x5@0,sep3x3@1)", "add(sep3x3@1,sep5x5@0)")
    assert swapped != normal and space.from_genome((swapped, reduction, macro)).genome[0] == normal
    # state 6 (last block) is never read; state 5 (block 3) is unused in NASNet-A's normal cell
    folded = space.from_genome((normal.replace("keep=1", "keep=5"), reduction, macro))
    assert folded.genome[0].endswith("keep=none")
    assert space.cost(folded).params < space.cost(space.reference("nasnet-a-mobile")).params


def test_references_are_canonical_literals() -> None:
    for name, genome in space.reference_genomes().items():
        assert space.reference(name).genome == genome, name


BLOCKS = "add(id@0,id@0) " * 4


@pytest.mark.parametrize(
    ("normal", "message"),
    [
        ("add(sep3x3@0,id@0)", r"genome\[0\] \(normal cell\): .* 5 blocks and keep"),
        (
            "add(sep3x3@0,foo@1) " + BLOCKS + "keep=none",
            r"genome\[0\] .*block 0: operation 'foo' .*allowed: id, .*sep7x7",
        ),
        ("add(sep3x3@0,id@0) add(sep3x3@3,id@0) " + "add(id@0,id@0) " * 3 + "keep=none", r"block 1: input 3 .*0\.\.2"),
        ("add(sep3x3@0;id@0) " + BLOCKS + "keep=none", r"block 0 .*expected add\(<op>@<input>"),
        ("add(id@0,id@0) " + BLOCKS + "keep=6", r"keep=6.*0\.\.5"),
    ],
)
def test_bad_cells_name_the_gene_and_the_allowed_values(normal: str, message: str) -> None:
    _, reduction, macro = space.reference("nasnet-a-mobile").genome
    with pytest.raises(InvalidArchitectureError, match=message):
        space.from_genome((normal, reduction, macro))


def test_genomes_have_three_strings() -> None:
    with pytest.raises(InvalidArchitectureError, match=r"genome: .*\[normal cell, reduction cell, macro\]"):
        space.from_genome(("x",))


def test_bad_macro_names_the_allowed_values() -> None:
    with pytest.raises(InvalidArchitectureError, match=r"genome\[2\] \(macro\): filters 12 .*8, 16, 32, 44, 168"):
        space.from_genome(with_macro("nasnet-a-mobile", "N=4 f=12 stem=1"))
    with pytest.raises(InvalidArchitectureError, match=r"genome\[2\]"):
        space.from_genome(with_macro("nasnet-a-mobile", "4@1056"))


# -- size and catalogue ---------------------------------------------------------------------------------
def test_cardinality_formula_matches_enumeration_on_a_small_space() -> None:
    small = NasNetSpace(ops=("id", "sep3x3"), num_blocks=2, filters=(8,), cells=(1, 2))
    brute = SearchSpace.cardinality(small)  # enumerates each cell's genes through canonical()
    assert small.cardinality() == brute
    assert small.raw_cardinality() > brute


def test_paper_space_size() -> None:
    per_block = [2 * (13 * (b + 2)) ** 2 for b in range(5)]  # inputs, ops, combination (ordered pairs)
    keep = 7
    macro = 6 * 5 * 2
    assert space.raw_cardinality() == (np.prod(per_block, dtype=object) * keep) ** 2 * macro
    assert space.cardinality() < space.raw_cardinality()
    assert len(space.distributions()) == 2 * (5 * 5 + 1) + 3


def test_catalogue_is_exact_enough_and_affordable() -> None:
    catalogue = space.op_catalogue(**DIGITS)
    signatures = {op.signature() for op in catalogue}
    assert len(signatures) == len(catalogue) < 2000  # a full table is minutes on a CPU, not hours
    rng = np.random.default_rng(99)
    for _ in range(100):  # the conformance suite checks 200 more at 3x32x32
        ops = space.ops(space.sample(rng), **DIGITS)
        assert not [op.signature() for op in ops if op.signature() not in signatures]
    imagenet = {op.signature() for op in space.op_catalogue()}
    for name in space.reference_genomes():
        assert {op.signature() for op in space.ops(space.reference(name))} <= imagenet


def test_gene_groups_are_the_two_cells_and_the_macro_genes() -> None:
    groups = space.gene_groups()
    assert [len(g) for g in groups] == [26, 26, 1, 1, 1]
    assert list(itertools.chain(*groups)) == list(space.distributions())
    assert choices_of(space.distributions()["n4_in1"]) == tuple(range(6))


def test_registry_instance() -> None:
    assert isinstance(get_space("nasnet"), NasNetSpace)
