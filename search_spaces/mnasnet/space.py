"""MnasNet's factorized hierarchical search space (Tan et al., CVPR 2019, https://arxiv.org/abs/1807.11626).

The network is a fixed stem (3x3 conv, 32 filters, stride 2), seven searched blocks laid over
MobileNetV2's stages, and a fixed head (1x1 conv to 1280, pooling, classifier). Each block
chooses, for all of its layers alike:

* ConvOp: ``conv`` (regular), ``dconv`` (depthwise separable), ``mb3``/``mb6`` (MBConv with
  expansion 3 or 6). MBConv with expansion 1 is built without an expansion layer in the
  reference code, i.e. it *is* ``dconv``; listing it once gives the paper's S = 432 per block.
* kernel 3 or 5; squeeze-excite ratio 0 or 0.25;
* skip op: ``noskip``, ``idskip`` (identity residual where shapes match) or ``poolskip``
  (identity where shapes match, a parameter-free pooled shortcut where they do not);
* filters: MobileNetV2's width x {0.75, 1.0, 1.25};
* layers: MobileNetV2's depth + {-1, 0, +1} (blocks 1 and 7 may vanish).

The first layer of a block carries its stride; the others have stride 1. Small inputs (at most
64x64, e.g. 28x28 Fashion-MNIST or 32x32 CIFAR) use stride 1 in the stem, so the network
downsamples by 16 instead of 32 (28x28 ends at 2x2, not 1x1). Two published widths
lie outside the x{0.75, 1.0, 1.25} grid — MnasNet-A1's 112 filters in block 5 and MnasNet-B1's
192 in block 6 — so exactly those two values are added to those blocks' filter lists.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from optuna.distributions import BaseDistribution, CategoricalDistribution, IntDistribution

from core.errors import InvalidArchitectureError
from search_spaces.arch import Architecture
from search_spaces.base import Params, SearchSpace, choices_of, unique_ops
from search_spaces.blocks import FIELDS, format_block, parse_block
from search_spaces.mnasnet.presets import REFERENCES
from search_spaces.ops.spec import OpSpec

# MobileNetV2's seven stages: (filters, layers, stride of the first layer).
BASE_BLOCKS: tuple[tuple[int, int, int], ...] = (
    (16, 1, 1),
    (24, 2, 2),
    (32, 3, 2),
    (64, 4, 2),
    (96, 3, 1),
    (160, 3, 2),
    (320, 1, 1),
)
FILTER_MULTIPLIERS = (0.75, 1.0, 1.25)
PUBLISHED_EXTRA_FILTERS = {5: 112, 6: 192}  # block number -> width of MnasNet-A1 / -B1 off the grid
CONV_OPS: dict[str, tuple[str, int]] = {
    "conv": ("conv", 1),
    "dconv": ("dconv", 1),
    "mb3": ("mbconv", 3),
    "mb6": ("mbconv", 6),
}
KERNELS = (3, 5)
SE_RATIOS = (0.0, 0.25)
SKIP_OPS = ("noskip", "idskip", "poolskip")
LAYER_DELTAS = (-1, 0, 1)
STEM_FILTERS = 32
HEAD_FILTERS = 1280
NUM_BLOCKS = len(BASE_BLOCKS)
SMALL_INPUT = 64  # input sizes up to this use a stride-1 stem


def filter_choices(block: int) -> tuple[int, ...]:
    """Allowed output filters of block ``block`` (1-based), ascending."""
    base = BASE_BLOCKS[block - 1][0]
    widths = {int(base * m) for m in FILTER_MULTIPLIERS}
    if block in PUBLISHED_EXTRA_FILTERS:
        widths.add(PUBLISHED_EXTRA_FILTERS[block])
    return tuple(sorted(widths))


class MnasNetSpace(SearchSpace):
    """The MnasNet space; genes ``b{1..7}_{op,layers,kernel,filters,se,skip}``."""

    name: ClassVar[str] = "mnasnet"
    version: ClassVar[str] = "1"
    description: ClassVar[str] = "MnasNet factorized hierarchical space (7 blocks over MobileNetV2)"

    def __init__(self) -> None:
        dists: dict[str, BaseDistribution] = {}
        for b, (_, layers, _) in enumerate(BASE_BLOCKS, start=1):
            dists[f"b{b}_op"] = CategoricalDistribution(tuple(CONV_OPS))
            dists[f"b{b}_layers"] = IntDistribution(max(0, layers + LAYER_DELTAS[0]), layers + LAYER_DELTAS[-1])
            dists[f"b{b}_kernel"] = IntDistribution(KERNELS[0], KERNELS[-1], step=2)
            dists[f"b{b}_filters"] = CategoricalDistribution(filter_choices(b))
            dists[f"b{b}_se"] = CategoricalDistribution(SE_RATIOS)
            dists[f"b{b}_skip"] = CategoricalDistribution(SKIP_OPS)
        self._dists = dists

    def distributions(self) -> dict[str, BaseDistribution]:
        return dict(self._dists)

    def gene_groups(self) -> list[list[str]]:
        return [[f"b{b}_{f}" for f in FIELDS] for b in range(1, NUM_BLOCKS + 1)]

    def parse_genome(self, genome: Sequence[str]) -> Params:
        if len(genome) != NUM_BLOCKS:
            raise InvalidArchitectureError(
                f"genome: {self.name} has {NUM_BLOCKS} blocks, so the genome needs {NUM_BLOCKS} "
                f"block strings; "
                f"got {len(genome)}"
            )
        params: Params = {}
        for b, text in enumerate(genome, start=1):
            try:
                fields = parse_block(text)
                block = {f"b{b}_{k}": v for k, v in fields.items()}
                for key, value in block.items():  # name the block and field in range errors
                    self._check_gene(key, value)
            except InvalidArchitectureError as e:
                raise InvalidArchitectureError(f"genome[{b - 1}] (block {b}): {e}") from None
            params.update(block)
        return params

    def _check_gene(self, key: str, value: Any) -> None:
        allowed = choices_of(self._dists[key])
        if value not in allowed or isinstance(value, bool):
            field = key.split("_", 1)[1]
            raise InvalidArchitectureError(f"{field} {value!r} is not allowed; allowed: {', '.join(map(str, allowed))}")

    def format_genome(self, params: Mapping[str, Any]) -> tuple[str, ...]:
        return tuple(format_block({f: params[f"b{b}_{f}"] for f in FIELDS}) for b in range(1, NUM_BLOCKS + 1))

    def canonical(self, params: Params) -> Params:
        """A vanished block's genes are inactive (first choices); a one-layer block never has a
        layer whose shapes match (see tests), so its identity skip is ``noskip``."""
        out = dict(params)
        for b in range(1, NUM_BLOCKS + 1):
            if out[f"b{b}_layers"] == 0:
                for f in FIELDS:
                    if f != "layers":
                        out[f"b{b}_{f}"] = choices_of(self._dists[f"b{b}_{f}"])[0]
            elif out[f"b{b}_layers"] == 1 and out[f"b{b}_skip"] == "idskip":
                out[f"b{b}_skip"] = "noskip"
        return out

    def ops(
        self, arch: Architecture, *, num_classes: int = 1000, in_channels: int = 3, input_size: int = 224
    ) -> list[OpSpec]:
        params = self.to_params(arch)
        stem_stride = 1 if input_size <= SMALL_INPUT else 2
        stem = OpSpec("conv", in_channels, STEM_FILTERS, input_size, kernel=3, stride=stem_stride, name="stem")
        ops = [stem]
        c, hw = stem.c_out, stem.hw_out
        for b, (_, _, block_stride) in enumerate(BASE_BLOCKS, start=1):
            kind, expansion = CONV_OPS[params[f"b{b}_op"]]
            filters, skip = params[f"b{b}_filters"], params[f"b{b}_skip"]
            for layer in range(params[f"b{b}_layers"]):
                stride = block_stride if layer == 0 else 1
                same = c == filters and stride == 1
                effective = "none" if skip == "noskip" else "id" if same else "pool" if skip == "poolskip" else "none"
                op = OpSpec(
                    kind,
                    c,
                    filters,
                    hw,
                    kernel=params[f"b{b}_kernel"],
                    stride=stride,
                    expansion=expansion,
                    se=params[f"b{b}_se"],
                    skip=effective,
                    name=f"b{b}.{layer + 1}",
                )
                ops.append(op)
                c, hw = filters, op.hw_out
        head = OpSpec("conv", c, HEAD_FILTERS, hw, kernel=1, name="head")
        ops += [head, OpSpec("classifier", HEAD_FILTERS, num_classes, head.hw_out, name="classifier")]
        return ops

    def reference_genomes(self) -> dict[str, tuple[str, ...]]:
        return dict(REFERENCES)

    def op_catalogue(self, *, num_classes: int = 1000, in_channels: int = 3, input_size: int = 224) -> list[OpSpec]:
        """Exact: for each block, every (input width, ConvOp, kernel, filters, SE, skip) its first
        layer can see and every configuration of its later layers, plus stem, head and classifier."""
        shape = {"num_classes": num_classes, "in_channels": in_channels, "input_size": input_size}
        ref = self.reference("mnasnet-a1")
        stem, *_, head, classifier = self.ops(ref, **shape)
        ops = [stem]
        hw = {b: op.hw for op in self.ops(ref, **shape) if op.name.endswith(".1") for b in [int(op.name[1])]}
        inputs: set[int] = {stem.c_out}  # widths that can reach the next block
        for b, (_, _, block_stride) in enumerate(BASE_BLOCKS, start=1):
            d = {f: choices_of(self._dists[f"b{b}_{f}"]) for f in FIELDS}
            for op_name, k, filters, se in itertools.product(d["op"], d["kernel"], d["filters"], d["se"]):
                kind, expansion = CONV_OPS[op_name]
                common = {"kernel": k, "expansion": expansion, "se": se}
                for c_in, skip in itertools.product(sorted(inputs), ("none", "pool")):
                    first = OpSpec(kind, c_in, filters, hw[b], stride=block_stride, skip=skip, **common)
                    ops.append(first)
                if max(d["layers"]) >= 2:
                    later_hw = first.hw_out
                    ops += [OpSpec(kind, filters, filters, later_hw, skip=s, **common) for s in ("none", "id")]
            vanishes = min(d["layers"]) == 0
            inputs = set(d["filters"]) | (inputs if vanishes else set())
        ops += [OpSpec("conv", c, head.c_out, head.hw, kernel=1, name="head") for c in sorted(inputs)]
        ops.append(classifier)
        return unique_ops(ops)
