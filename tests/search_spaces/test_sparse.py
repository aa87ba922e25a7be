"""The sparse MobileNet space: reference counts, genome, canonical form, sparse layers and kernels."""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from core.errors import InvalidArchitectureError
from search_spaces import Architecture, get_space
from search_spaces.ops import sparse_kernels as kernels
from search_spaces.ops.sparse import effective_cost, pruned_entries
from search_spaces.ops.sparse_modules import (
    BACKENDS,
    SparseConv1x1,
    SparseLinear,
    SparseWeight,
    block_keep,
    fold_batchnorm,
    fuse_activations,
    set_backend,
    sparse_layers,
    to_dense,
)
from search_spaces.ops.spec import OpSpec
from search_spaces.sparse.space import BLOCK_SHAPES, SPARSITIES, WIDTHS, SparseMobileNetSpace

DIGITS = {"num_classes": 10, "in_channels": 1, "input_size": 8}
V1_1_0 = [  # MobileNet v1 1.0 pointwise layers (c_in, c_out, output size at 224)
    (32, 64, 112),
    (64, 128, 56),
    (128, 128, 56),
    (128, 256, 28),
    (256, 256, 28),
    (256, 512, 14),
    *[(512, 512, 14)] * 5,
    (512, 1024, 7),
    (1024, 1024, 7),
]


@pytest.fixture(scope="module")
def space() -> SparseMobileNetSpace:
    return get_space("sparse")  # type: ignore[return-value]


pytestmark = pytest.mark.usefixtures("one_thread")


# -- references --------------------------------------------------------------------------------
def test_dense_mobilenets_have_the_reference_counts(space: SparseMobileNetSpace) -> None:
    v1, v2 = space.cost(space.reference("mobilenet-v1")), space.cost(space.reference("mobilenet-v2"))
    assert v1.params == 4_231_976  # TF-slim mobilenet_v1 1.0, 1000 classes
    assert v1.macs == pytest.approx(568.7e6, rel=1e-3)  # paper: 569M mult-adds
    assert v2.params == 3_504_872  # torchvision mobilenet_v2 (MnasNet space's mobilenet-v2 too)
    assert v2.macs == pytest.approx(300.8e6, rel=1e-3)  # paper: 300M
    mnas = get_space("mnasnet")
    assert v2 == mnas.cost(mnas.reference("mobilenet-v2"))


def test_published_sparse_models_count_their_nonzeros(space: SparseMobileNetSpace) -> None:
    """MobileNet v1 1.0 at 90% with 1x4 blocks in the last block: worked out by hand here."""
    arch = space.reference("sparse-mobilenet-v1-1.0-90")
    pruned = sum(round(0.9 * ci * co) for ci, co, _ in V1_1_0[:12]) + 4 * round(0.9 * 1024 * 256)
    pruned_macs = sum(round(0.9 * ci * co) * hw * hw for ci, co, hw in V1_1_0[:12]) + 4 * round(0.9 * 1024 * 256) * 49
    eff = space.effective_cost(arch)
    assert space.cost(arch).params == 4_231_976  # the dense count of the built module
    assert eff.params == 4_231_976 - pruned == 1_406_347
    assert eff.macs == 568_740_352 - pruned_macs
    # MobileNet v2 1.8 at 80%, unstructured: every 1x1 layer keeps 20% of its weights (fc dense)
    v2 = space.reference("sparse-mobilenet-v2-1.8-80")
    ops = space.ops(v2)
    convs = [op for op in ops if op.kind == "sparse_conv1x1"]
    assert len(convs) == 34 and all(dict(op.attrs)["sparsity"] == 0.8 for op in convs)
    expected = space.cost(v2).params - sum(math.floor(0.8 * op.c_in * op.c_out + 0.5) for op in convs)
    assert space.effective_cost(v2).params == expected


def test_paper_models_follow_the_model_release(space: SparseMobileNetSpace) -> None:
    v1 = space.to_params(space.reference("sparse-mobilenet-v1-1.4-90"))
    assert v1["width"] == 1.4 and v1["v1_pw13_block"] == "1x4" and v1["v1_pw12_block"] == "1x1"
    assert v1["fc_sparsity"] == 0.0
    v2 = space.to_params(space.reference("sparse-mobilenet-v2-1.15-85"))
    assert v2["v2_b10p_block"] == "1x1" and v2["v2_b11e_block"] == v2["v2_b16p_block"] == "1x2"
    assert v2["v2_head_block"] == "1x1" and v2["v2_head_sparsity"] == 0.85
    # width rules: v1 truncates (TF-slim), v2 rounds to multiples of 8 and keeps a 1280+ head
    v1_ops = space.ops(space.reference("sparse-mobilenet-v1-1.4-90"))
    assert [op.c_out for op in v1_ops if op.name in ("stem", "pw1", "pw13")] == [44, 89, 1433]
    v2_ops = space.ops(space.from_genome(("mobilenet_v2", "w0.5", *space.reference("mobilenet-v2").genome[2:])))
    assert [op.c_out for op in v2_ops if op.name in ("stem", "b0p", "head")] == [16, 8, 1280]


def test_residuals_are_those_of_mobilenet_v2(space: SparseMobileNetSpace) -> None:
    ops, residuals = space.layout(space.reference("mobilenet-v2"))
    names = [(ops[a].name, ops[b].name) for a, b in residuals]
    blocks = [2, 4, 5, 7, 8, 9, 11, 12, 14, 15]  # stride 1 and equal widths
    assert names == [(f"b{i}e", f"b{i}p") for i in blocks]
    assert space.layout(space.reference("mobilenet-v1"))[1] == []


# -- genome and canonical form ------------------------------------------------------------------
def test_genome_round_trip_and_size(space: SparseMobileNetSpace) -> None:
    arch = space.reference("sparse-mobilenet-v1-1.0-90")
    assert arch.genome[:3] == ("mobilenet_v1", "w1.0", "pw1_s90_1x1") and arch.genome[-2:] == (
        "pw13_s90_1x4",
        "fc_s0_1x1",
    )
    assert Architecture.from_json(arch.to_json()) == arch
    assert len(space.reference("mobilenet-v2").genome) == 2 + 34 + 1
    per_layer = 1 + (len(SPARSITIES) - 1) * len(BLOCK_SHAPES)
    assert per_layer == 19
    assert space.cardinality() == len(WIDTHS) * (19**14 + 19**35)
    assert space.cardinality() < space.raw_cardinality()


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        ({0: "resnet"}, "genome[0] (backbone): 'resnet' is not allowed; allowed: mobilenet_v1, mobilenet_v2"),
        ({0: "mobilenet_v2"}, "mobilenet_v2 needs backbone, width and 35 layer strings (34 1x1 layers and fc)"),
        ({1: "w1.3"}, "genome[1] (width): 'w1.3' is not allowed; allowed: w0.5, w0.75, w0.8, w1.0"),
        ({2: "pw1_s33_1x1"}, "genome[2] (layer pw1): sparsity s33 is not allowed; allowed: s0, s50, s70, s80, s85"),
        ({2: "pw1_s90_2x2"}, "genome[2] (layer pw1): block 2x2 is not allowed; allowed: 1x1, 1x2, 1x4"),
        ({3: "pw1_s90_1x1"}, "genome[3] (layer pw2): 'pw1_s90_1x1' is not a layer string; expected pw2_s<percent>"),
        ({15: "fc_s90"}, "genome[15] (layer fc): 'fc_s90' is not a layer string"),
    ],
)
def test_bad_genomes_name_the_gene_and_the_allowed_values(
    space: SparseMobileNetSpace, edit: dict[int, str], message: str
) -> None:
    genome = list(space.reference("mobilenet-v1").genome)
    for i, value in edit.items():
        genome[i] = value
    with pytest.raises(InvalidArchitectureError) as err:
        space.from_genome(genome)
    assert message in str(err.value)
    with pytest.raises(InvalidArchitectureError, match="genome"):
        space.from_genome(genome[:5])


def test_canonical_form_merges_what_builds_the_same_network(space: SparseMobileNetSpace) -> None:
    params = space.to_params(space.reference("mobilenet-v1"))
    assert all(params[n] == 0.0 for n in params if n.startswith("v2_") and n.endswith("sparsity"))
    other = dict(params, v2_b3e_sparsity=0.9, v2_b3e_block="1x4", v1_pw2_block="1x4", fc_block="1x2")
    assert space.decode(other) == space.reference("mobilenet-v1")  # inactive genes and blocks of dense layers
    sparse = dict(params, v1_pw2_sparsity=0.5, v1_pw2_block="1x4")
    assert space.decode(sparse) != space.decode(dict(sparse, v1_pw2_block="1x1"))
    assert space.decode(sparse).genome[3] == "pw2_s50_1x4"


def test_signatures_carry_sparsity_and_block(space: SparseMobileNetSpace) -> None:
    a = OpSpec("sparse_conv1x1", 64, 128, 8, attrs=(("sparsity", 0.9), ("block", 4), ("act", "relu6")))
    b = OpSpec("sparse_conv1x1", 64, 128, 8, attrs=(("sparsity", 0.9), ("block", 1), ("act", "relu6")))
    assert a.signature().endswith("-actrelu6-block4-sparsity0.9") and a.signature() != b.signature()
    catalogue = space.op_catalogue(**DIGITS)
    pw1 = [op for op in catalogue if op.name == "pw1" and op.c_in == 16]  # v1 at width 0.5, stem 16
    assert len(pw1) == 19 and len({op.signature() for op in pw1}) == 19


# -- built models ------------------------------------------------------------------------------
def _blocks_whole(layer: SparseWeight) -> bool:
    mask = layer.mask.reshape(layer.rows, layer.cols)
    full = layer.rows - layer.rows % layer.block
    blocks = mask[:full].reshape(-1, layer.block, layer.cols)
    return bool((blocks.amin(dim=1) == blocks.amax(dim=1)).all())


def test_built_layers_are_pruned_exactly_and_count_as_costed(space: SparseMobileNetSpace) -> None:
    genome = list(space.reference("sparse-mobilenet-v2-0.8-85").genome)
    genome[-1] = "fc_s70_1x4"  # 10 classes: two whole blocks of 4 and a tail of 2 rows
    arch = space.from_genome(genome)
    model = space.build(arch, **DIGITS)
    layers = sparse_layers(model)
    assert len(layers) == 35
    for _, layer in layers:
        pruned = layer.mask.numel() - layer.nonzeros()
        assert pruned == pruned_entries(layer.rows, layer.cols, layer.sparsity, layer.block)
        assert _blocks_whole(layer)
    cost, eff = space.cost(arch, **DIGITS), space.effective_cost(arch, **DIGITS)
    assert cost.params == sum(p.numel() for p in model.parameters())
    assert eff.params == cost.params - sum(layer.mask.numel() - layer.nonzeros() for _, layer in layers)
    ops = space.ops(arch, **DIGITS)
    assert eff.macs == sum(effective_cost(op).macs for op in ops) < cost.macs


def test_block_keep_is_exact_with_a_tail_and_never_revives() -> None:
    w = torch.randn(10, 7)
    keep = block_keep(w, 0.7, 4)
    assert (~keep).sum() == pruned_entries(10, 7, 0.7, 4) == 4 * round(0.7 * 14) + round(0.7 * 14)
    more = block_keep(w * 100, 0.8, 4, keep=keep)  # magnitudes changed: old pruned blocks stay pruned
    assert not (more & ~keep).any()


# -- sparse inference --------------------------------------------------------------------------
def _has_compiler() -> bool:
    return any(shutil.which(c) for c in ("c++", "g++", "clang++"))


def test_block_kernel_is_built_where_a_compiler_exists() -> None:
    if not _has_compiler():
        pytest.skip("no C++ compiler: the block-sparse kernel is unavailable, torch CSR is used")
    ext = kernels.block_extension()
    assert ext is not None, kernels.extension_error()
    # built (or loaded) in a cache folder named for the source, flags, torch and CPU
    assert Path(ext.__file__).parent.name == kernels.cache_dir().name


@pytest.mark.parametrize("block", [1, 2, 4])
@pytest.mark.parametrize(("c_in", "c_out", "hw"), [(24, 40, 7), (16, 10, 13), (64, 96, 4)])
def test_sparse_conv_matches_the_dense_masked_conv(block: int, c_in: int, c_out: int, hw: int) -> None:
    torch.manual_seed(block * 100 + hw)
    layer = SparseConv1x1(c_in, c_out, sparsity=0.8, block=block).eval()
    x = torch.randn(2, c_in, hw, hw)
    reference = F.conv2d(x, layer.weight * layer.mask)
    for backend in BACKENDS:
        if backend == "block" and kernels.block_extension() is None:
            continue
        layer.backend = backend
        with torch.inference_mode():
            out = layer(x)
        assert torch.allclose(out, reference, atol=1e-4, rtol=1e-4), backend
    layer.backend = None
    with torch.inference_mode():
        layer(x)
    assert layer._choice[(2, c_in, hw * hw)] in BACKENDS  # measured and remembered


def test_a_layer_made_in_inference_mode_runs_and_can_be_invalidated() -> None:
    with torch.inference_mode():
        layer = SparseConv1x1(16, 24, sparsity=0.9, block=4).eval()
        x = torch.randn(1, 16, 5, 5)
        first = layer(x)
        layer.weight.mul_(2)  # inference tensors keep no version: the change needs invalidate()
        layer.invalidate()
        assert torch.allclose(layer(x), 2 * first, atol=1e-5)


def test_sparse_linear_matches_and_falls_back_without_the_kernel(monkeypatch: pytest.MonkeyPatch) -> None:
    layer = SparseLinear(48, 10, sparsity=0.9, block=4).eval()
    x = torch.randn(3, 48)
    reference = F.linear(x, layer.weight * layer.mask, layer.bias)
    for backend in ("csr", "block", "dense"):
        layer.backend = backend
        with torch.inference_mode():
            assert torch.allclose(layer(x), reference, atol=1e-5)
    monkeypatch.setattr(kernels, "block_extension", lambda: None)
    layer.backend = None
    layer.mask.mul_(1)  # the weight "changed": repacked, now without the block format
    with torch.inference_mode():
        assert torch.allclose(layer(x), reference, atol=1e-5)
    assert layer._packed is not None and layer._packed.formats() == ["csr"]


def test_a_network_runs_sparse_and_dense_alike_and_exports(space: SparseMobileNetSpace) -> None:
    rng = np.random.default_rng(3)
    arch = space.decode(
        {**space.to_params(space.sample(rng)), "backbone": "mobilenet_v2", "width": 0.5, "fc_sparsity": 0.5}
    )
    model = space.build(arch, num_classes=10, in_channels=3, input_size=16)
    for m in model.modules():  # BatchNorm statistics of the data, so the outputs are O(1)
        if isinstance(m, torch.nn.BatchNorm2d):
            m.reset_running_stats()
            m.momentum = None
    with torch.no_grad():
        model.train()(torch.randn(32, 3, 16, 16))
    model.eval()
    x = torch.randn(4, 3, 16, 16)
    dense = to_dense(model)
    assert not any(isinstance(m, SparseWeight) for m in dense.modules())
    with torch.inference_mode():
        want = dense(x)
        for backend in ("csr", "block", None):
            set_backend(model, backend)
            assert torch.allclose(model(x), want, atol=1e-4, rtol=1e-4)
    assert want.abs().max() > 0.1
    program = torch.export.export(model, (x,))  # traced through the dense fallback
    assert torch.allclose(program.module()(x), want, atol=1e-4, rtol=1e-4)
    with torch.no_grad():  # torch.fx too (the standalone export traces with it)
        assert torch.allclose(torch.fx.symbolic_trace(model)(x), want, atol=1e-4, rtol=1e-4)
    folded = fold_batchnorm(model)  # BatchNorm into the (sparse) convolutions: a bias in the kernels
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in folded.modules())
    assert [m.nonzeros() for _, m in sparse_layers(folded)] == [m.nonzeros() for _, m in sparse_layers(model)]
    with torch.inference_mode():
        for backend in ("csr", "block", "dense"):
            set_backend(folded, backend)
            assert torch.allclose(folded(x), want, atol=1e-4, rtol=1e-4), backend
    fused = fuse_activations(folded)  # ReLU6 applied by the kernels as they store
    relu6_left = sum(isinstance(m, torch.nn.ReLU6) for m in fused.modules())
    assert relu6_left < sum(isinstance(m, torch.nn.ReLU6) for m in folded.modules())
    assert {m.act for _, m in sparse_layers(fused) if isinstance(m, SparseConv1x1)} == {
        "none",
        "relu6",
    }  # v2: projections linear
    with torch.inference_mode():
        for backend in ("csr", "block", "dense"):
            set_backend(fused, backend)
            assert torch.allclose(fused(x), want, atol=1e-4, rtol=1e-4), backend
        assert torch.allclose(to_dense(fused)(x), want, atol=1e-4, rtol=1e-4)
    with pytest.raises(ValueError, match="backend: 'fast' is not allowed"):
        set_backend(model, "fast")
