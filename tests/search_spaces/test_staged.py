"""Staged spaces: ProxylessNAS and FBNet presets reproduce their reference networks exactly; the
stage description decodes timm block strings; layer-wise genomes read as operator names."""

from __future__ import annotations

import csv
import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch

from core.errors import InvalidArchitectureError
from search_spaces import get_space
from search_spaces.staged import Stage, StagedSpace
from search_spaces.staged.description import parse_arch_def, parse_layer_op
from search_spaces.staged.presets import _PROXYLESS_LAYER, FBNET_OPS, PROXYLESS_MOBILE, PROXYLESSNAS

FBNET_CSV = Path("/work/shared/data/fbnet_device_latency.csv")
proxyless, fbnet = get_space("proxylessnas"), get_space("fbnet")


def n_params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def test_timm_block_strings_decode() -> None:
    s = parse_arch_def("ir_r3_k5_s2_e3_c40_se0.25")
    assert (s.kind, s.layers, s.kernel, s.stride, s.expansion, s.filters, s.se) == ("mbconv", 3, 5, 2, 3, 40, 0.25)
    d = parse_arch_def("ds_r1_k3_s1_e1_c16_noskip")
    assert (d.kind, d.expansion, d.noskip) == ("dconv", 1, True)
    with pytest.raises(ValueError, match="type 'xx' unknown"):
        parse_arch_def("xx_r1_k3_s1_c16")
    with pytest.raises(ValueError, match="missing c"):
        parse_arch_def("ir_r1_k3_s1_e6")
    assert parse_layer_op("k5_e1_g2") == {"op": "mbconv", "kernel": 5, "expansion": 1, "groups": 2}
    with pytest.raises(ValueError, match="layer operator 'k5' unknown"):
        parse_layer_op("k5")


def test_proxyless_mobile_in_the_space_and_the_released_network() -> None:
    ref = proxyless.reference("proxyless_mobile")
    assert ref.genome == PROXYLESS_MOBILE and len(ref.genome) == 21
    assert n_params(proxyless.build(ref)) == proxyless.cost(ref).params == 4_073_520  # stage 2 at 24 filters
    # mit-han-lab's released proxyless_mobile.config widens stage 2 to 32: 4,080,512 parameters (pytorchcv's
    # count of the same config) and 320.4M MACs (the release's log: "Total FLOPs: 320.4M").
    stages = list(PROXYLESSNAS.stages)
    stages[1] = Stage("ir_r4_k3_s2_e6_c32", _PROXYLESS_LAYER)
    released = StagedSpace(dataclasses.replace(PROXYLESSNAS, stages=tuple(stages)), references={"m": PROXYLESS_MOBILE})
    arch = released.reference("m")
    assert n_params(released.build(arch)) == released.cost(arch).params == 4_080_512
    assert released.cost(arch).macs == pytest.approx(320.4e6, rel=1e-3)


def test_proxyless_layers_relu6_and_zero_layers() -> None:
    ops = {op.name: op for op in proxyless.ops(proxyless.reference("proxyless_mobile"))}
    assert (ops["stem"].c_out, ops["b1.1"].kind, ops["b1.1"].c_out, ops["head"].c_out) == (32, "dconv", 16, 1280)
    assert "b2.3" not in ops and "b2.4" not in ops  # zero layers
    assert (ops["b2.1"].kernel, ops["b2.1"].expansion, ops["b2.1"].skip, ops["b2.2"].skip) == (5, 3, "none", "id")
    assert all(op.attr("act", "relu") == "relu6" for op in ops.values() if op.kind != "classifier")
    model = proxyless.build(proxyless.reference("proxyless_mobile"), input_size=32, num_classes=10)
    assert any(isinstance(m, torch.nn.ReLU6) for m in model.modules())
    assert not any(type(m) is torch.nn.ReLU for m in model.modules())
    with pytest.raises(InvalidArchitectureError, match=r"genome\[0\] \(block 2, layer 1\): 'zero' is not allowed"):
        proxyless.from_genome(("zero", *PROXYLESS_MOBILE[1:]))
    with pytest.raises(InvalidArchitectureError, match="needs 21 operator names; got 20"):
        proxyless.from_genome(PROXYLESS_MOBILE[1:])


def test_identity_layers_move_to_the_end_of_their_stage() -> None:
    genome = list(PROXYLESS_MOBILE)
    genome[1:4] = ["zero", "k3_e3", "zero"]  # stage 2: k5_e3, zero, k3_e3, zero -> k5_e3, k3_e3, zero, zero
    arch = proxyless.from_genome(genome)
    assert arch == proxyless.reference("proxyless_mobile")
    assert proxyless.cardinality() < proxyless.raw_cardinality()


def test_fbnet_c_reproduces_timm_and_the_two_macro_settings() -> None:
    ref = fbnet.reference("fbnet-c")
    assert n_params(fbnet.build(ref)) == fbnet.cost(ref).params == 5_572_200  # timm fbnetc_100 (paper: 5.5M)
    assert fbnet.cost(ref).macs == pytest.approx(385.0e6, rel=1e-3)  # paper: 375M FLOPs
    imagenet, cifar = fbnet.ops(ref), fbnet.ops(ref, input_size=32, num_classes=100)
    assert (imagenet[0].stride, imagenet[-2].c_out, imagenet[-1].hw) == (2, 1984, 7)
    assert (cifar[0].stride, cifar[-2].c_out, cifar[-1].hw) == (1, 1504, 4)  # HW-NAS-Bench CIFAR: strides 1,1,2,2,1,2,1
    assert [op.stride for op in cifar if op.name.endswith(".1")] == [1, 1, 2, 2, 1, 2, 1]


def test_fbnet_grouped_blocks_and_skip_convs() -> None:
    genome = ["k3_e1_g2"] + ["skip"] * 4 + ["k5_e1_g2"] * 4 + ["k3_e6"] * 13
    arch = fbnet.from_genome(genome)
    ops = {op.name: op for op in fbnet.ops(arch, input_size=32, num_classes=100)}
    assert ops["b1.1"].attr("groups", 1) == 2 and ops["b1.1"].skip == "id"
    assert ops["b2.1"].kind == "conv" and ops["b2.1"].kernel == 1  # skip where shapes change: 1x1 conv
    assert "b2.2" not in ops  # skip where shapes match: identity
    model = fbnet.build(arch, input_size=32, num_classes=100)
    assert n_params(model) == fbnet.cost(arch, input_size=32, num_classes=100).params
    grouped = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d) and m.groups == 2]
    assert len(grouped) == 10  # two 1x1 convs in each of the five _g2 layers
    x = torch.randn(2, 3, 32, 32)
    assert model.eval()(x).shape == (2, 100)


def test_fbnet_benchmark_rows_parse_as_genomes() -> None:
    if not FBNET_CSV.exists():
        pytest.skip(f"{FBNET_CSV} not present")
    with FBNET_CSV.open() as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 5000
    for row in rows:
        names = row["op_names"].split()
        assert [FBNET_OPS[int(i)] for i in row["op_idx_list"].split()] == names
        arch = fbnet.from_genome(names)
        assert len(arch.genome) == 22
        assert sorted(arch.genome[1:5]) == sorted(names[1:5])  # canonical form only reorders within a stage


def test_exact_catalogues_cover_the_samples_at_224() -> None:
    for space in (proxyless, fbnet):
        catalogue = {op.signature() for op in space.op_catalogue()}
        rng = np.random.default_rng(0)
        for _ in range(300):
            assert {op.signature() for op in space.ops(space.sample(rng))} <= catalogue
    assert len(proxyless.op_catalogue()) == 70
