"""The sparse MobileNet space of Fast Sparse ConvNets (Elsen et al., CVPR 2020, https://arxiv.org/abs/1911.09723).

A network is MobileNet v1 or v2 at a width multiplier, where every 1x1 convolution — and
optionally the classifier — has its own sparsity and block shape (blocks of 1, 2 or 4
consecutive output channels: the paper's 1x1, 1x2 and 1x4). The first full convolution and the
depthwise convolutions stay dense, as in the paper.

Genes (one fixed dict for every architecture): ``backbone``, ``width``, then a ``sparsity`` and a
``block`` gene for each 1x1 layer of *both* backbones (13 of v1, 34 of v2) and for the
classifier. The genes of the backbone not chosen are inactive; the canonical form sets them, and
the block of every layer of sparsity 0, to their first choice.

Genome: ``("mobilenet_v1", "w1.0", "pw1_s90_1x1", ..., "pw13_s90_1x4", "fc_s0_1x1")`` — backbone,
width, one ``<layer>_s<percent>_<block>`` string per 1x1 layer of the chosen backbone (v1:
``pw1..pw13``; v2: ``b<i>e`` expansion and ``b<i>p`` projection of block i, then ``head``), then
the classifier. Decisions are in ``docs/sparse.md``.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from optuna.distributions import BaseDistribution, CategoricalDistribution

from core.errors import InvalidArchitectureError
from search_spaces.arch import Architecture
from search_spaces.base import Params, SearchSpace, choices_of, unique_ops
from search_spaces.ops.sparse import SPARSE_KINDS, total_effective_cost
from search_spaces.ops.spec import Cost, OpSpec
from search_spaces.sparse import presets

BACKBONES = ("mobilenet_v1", "mobilenet_v2")
# The paper's widths: v1 0.75, 1.0, 1.4; v2 0.8, 1.0, 1.15, 1.4, 1.8, 2.0; plus 0.5.
WIDTHS = (0.5, 0.75, 0.8, 1.0, 1.15, 1.4, 1.8, 2.0)
# The levels plus 0.85, the level of the paper's published MobileNet v2 models.
SPARSITIES = (0.0, 0.5, 0.7, 0.8, 0.85, 0.9, 0.95)
# 1x1 and 1x4 as in the issue, plus 1x2, the block of the published MobileNet v2 models.
BLOCK_SHAPES = ("1x1", "1x2", "1x4")
SMALL_INPUT = 64  # input sizes up to this use a stride-1 stem (as the MnasNet space)
LAYERS = {"mobilenet_v1": presets.v1_layers(), "mobilenet_v2": presets.v2_layers()}
PREFIX = {"mobilenet_v1": "v1", "mobilenet_v2": "v2"}
_LAYER = re.compile(r"^(?P<name>[a-z0-9]+)_s(?P<pct>\d+)_(?P<block>\d+x\d+)$")


def make_divisible(value: float, divisor: int = 8) -> int:
    """MobileNet v2's channel rounding (TF-slim / torchvision ``_make_divisible``)."""
    out = max(divisor, int(value + divisor / 2) // divisor * divisor)
    return out + divisor if out < 0.9 * value else out


def v1_channels(c: int, width: float) -> int:
    """MobileNet v1's channel rule (TF-slim ``depth``): ``max(int(c * width), 8)``."""
    return max(int(c * width), 8)


def _gene(backbone: str, layer: str, field: str) -> str:
    return f"{PREFIX[backbone]}_{layer}_{field}"


def _block_rows(shape: str) -> int:
    return int(shape.split("x")[1])


class SparseMobileNetSpace(SearchSpace):
    """MobileNet v1/v2 with per-layer sparsity and block shape of the 1x1 convolutions."""

    name: ClassVar[str] = "sparse"
    version: ClassVar[str] = "1"
    description: ClassVar[str] = "Fast Sparse ConvNets: MobileNet v1/v2 x width with per-1x1-layer sparsity and block"

    def __init__(self) -> None:
        dists: dict[str, BaseDistribution] = {
            "backbone": CategoricalDistribution(BACKBONES),
            "width": CategoricalDistribution(WIDTHS),
        }
        for backbone in BACKBONES:
            for layer in LAYERS[backbone]:
                dists[_gene(backbone, layer, "sparsity")] = CategoricalDistribution(SPARSITIES)
                dists[_gene(backbone, layer, "block")] = CategoricalDistribution(BLOCK_SHAPES)
        dists["fc_sparsity"] = CategoricalDistribution(SPARSITIES)
        dists["fc_block"] = CategoricalDistribution(BLOCK_SHAPES)
        self._dists = dists

    def distributions(self) -> dict[str, BaseDistribution]:
        return dict(self._dists)

    def gene_groups(self) -> list[list[str]]:
        """Backbone, width, and each layer's (sparsity, block) pair."""
        pairs = [[_gene(b, layer, "sparsity"), _gene(b, layer, "block")] for b in BACKBONES for layer in LAYERS[b]]
        return [["backbone"], ["width"], *pairs, ["fc_sparsity", "fc_block"]]

    # -- genome <-> parameters ----------------------------------------------------------------------
    def _layer_keys(self, backbone: str) -> list[tuple[str, str, str]]:
        """(layer name, sparsity gene, block gene) of the backbone's 1x1 layers and the classifier."""
        keys = [
            (layer, _gene(backbone, layer, "sparsity"), _gene(backbone, layer, "block")) for layer in LAYERS[backbone]
        ]
        return [*keys, ("fc", "fc_sparsity", "fc_block")]

    def _first(self, gene: str) -> Any:
        return choices_of(self._dists[gene])[0]

    def parse_genome(self, genome: Sequence[str]) -> Params:
        if len(genome) < 2 or genome[0] not in BACKBONES:
            got = genome[0] if genome else "nothing"
            raise InvalidArchitectureError(
                f"genome[0] (backbone): {got!r} is not allowed; allowed: {', '.join(BACKBONES)}"
            )
        backbone = genome[0]
        keys = self._layer_keys(backbone)
        if len(genome) != 2 + len(keys):
            raise InvalidArchitectureError(
                f"genome: {backbone} needs backbone, width and {len(keys)} layer strings "
                f"({len(keys) - 1} 1x1 layers and fc), {2 + len(keys)} in all; got {len(genome)}"
            )
        params: Params = {name: self._first(name) for name in self._dists}
        params["backbone"] = backbone
        params["width"] = self._parse_width(genome[1])
        for i, ((layer, s_gene, b_gene), text) in enumerate(zip(keys, genome[2:], strict=True), start=2):
            params[s_gene], params[b_gene] = self._parse_layer(i, layer, text)
        return params

    def _parse_width(self, text: str) -> float:
        allowed = ", ".join(f"w{w}" for w in WIDTHS)
        try:
            value = float(text[1:]) if isinstance(text, str) and text.startswith("w") else None
        except ValueError:
            value = None
        if value not in WIDTHS:
            raise InvalidArchitectureError(f"genome[1] (width): {text!r} is not allowed; allowed: {allowed}")
        return value

    def _parse_layer(self, i: int, layer: str, text: str) -> tuple[float, str]:
        m = _LAYER.match(text) if isinstance(text, str) else None
        if m is None or m["name"] != layer:
            raise InvalidArchitectureError(
                f"genome[{i}] (layer {layer}): {text!r} is not a layer string; expected {layer}_s<percent>_<block>, "
                f"e.g. {layer}_s90_1x4"
            )
        pct, block = int(m["pct"]), m["block"]
        allowed_pct = [round(s * 100) for s in SPARSITIES]
        if pct not in allowed_pct:
            raise InvalidArchitectureError(
                f"genome[{i}] (layer {layer}): sparsity s{pct} is not allowed; allowed: "
                + ", ".join(f"s{p}" for p in allowed_pct)
            )
        if block not in BLOCK_SHAPES:
            raise InvalidArchitectureError(
                f"genome[{i}] (layer {layer}): block {block} is not allowed; allowed: {', '.join(BLOCK_SHAPES)}"
            )
        return SPARSITIES[allowed_pct.index(pct)], block

    def format_genome(self, params: Mapping[str, Any]) -> tuple[str, ...]:
        backbone = params["backbone"]
        layers = [f"{layer}_s{round(params[s] * 100)}_{params[b]}" for layer, s, b in self._layer_keys(backbone)]
        return (backbone, f"w{params['width']}", *layers)

    def canonical(self, params: Params) -> Params:
        """Genes of the backbone not chosen are inactive (first choices); a layer of sparsity 0
        has no block shape (first choice). Inactivity depends on the ``backbone`` gene, but every
        canonical parent carries first choices in its inactive groups, so a crossover child's group
        still comes whole from one parent."""
        out = dict(params)
        for backbone in BACKBONES:
            for layer in LAYERS[backbone]:
                s, b = _gene(backbone, layer, "sparsity"), _gene(backbone, layer, "block")
                if backbone != out["backbone"]:
                    out[s] = self._first(s)
                if out[s] == 0.0:
                    out[b] = self._first(b)
        if out["fc_sparsity"] == 0.0:
            out["fc_block"] = self._first("fc_block")
        return out

    def cardinality(self) -> int:
        """Exact: per backbone, widths x (1 + (levels - 1) x blocks) per sparse layer."""
        per_layer = 1 + (len(SPARSITIES) - 1) * len(BLOCK_SHAPES)
        return sum(len(WIDTHS) * per_layer ** (len(LAYERS[b]) + 1) for b in BACKBONES)

    # -- layers ---------------------------------------------------------------------------------------
    def ops(
        self, arch: Architecture, *, num_classes: int = 1000, in_channels: int = 3, input_size: int = 224
    ) -> list[OpSpec]:
        return self.layout(arch, num_classes=num_classes, in_channels=in_channels, input_size=input_size)[0]

    def layout(
        self, arch: Architecture, *, num_classes: int = 1000, in_channels: int = 3, input_size: int = 224
    ) -> tuple[list[OpSpec], list[tuple[int, int]]]:
        """The layers and MobileNet v2's residual connections as (first, last) layer indices."""
        params = self.to_params(arch)
        if params["backbone"] == "mobilenet_v1":
            return self._v1(params, num_classes, in_channels, input_size), []
        return self._v2(params, num_classes, in_channels, input_size)

    @staticmethod
    def _sparse_attrs(params: Params, s_gene: str, b_gene: str, **extra: Any) -> tuple[tuple[str, Any], ...]:
        return (("sparsity", float(params[s_gene])), ("block", _block_rows(params[b_gene])), *extra.items())

    def _stem(self, params: Params, in_channels: int, input_size: int, width: int) -> OpSpec:
        stride = 1 if input_size <= SMALL_INPUT else 2
        return OpSpec("mb_stem", in_channels, width, input_size, kernel=3, stride=stride, name="stem")

    def _v1(self, params: Params, num_classes: int, in_channels: int, input_size: int) -> list[OpSpec]:
        w = params["width"]
        ops = [self._stem(params, in_channels, input_size, v1_channels(presets.STEM, w))]
        c, hw = ops[0].c_out, ops[0].hw_out
        for i, (c_out, stride) in enumerate(presets.V1_BLOCKS, start=1):
            dw = OpSpec("mb_depthwise", c, c, hw, kernel=3, stride=stride, name=f"dw{i}")
            layer, c_new = f"pw{i}", v1_channels(c_out, w)
            attrs = self._sparse_attrs(
                params, _gene("mobilenet_v1", layer, "sparsity"), _gene("mobilenet_v1", layer, "block"), act="relu6"
            )
            pw = OpSpec("sparse_conv1x1", c, c_new, dw.hw_out, attrs=attrs, name=layer)
            ops += [dw, pw]
            c, hw = c_new, dw.hw_out
        fc = self._sparse_attrs(params, "fc_sparsity", "fc_block", drop=presets.V1_DROPOUT)
        return [*ops, OpSpec("sparse_classifier", c, num_classes, hw, attrs=fc, name="fc")]

    def _v2(
        self, params: Params, num_classes: int, in_channels: int, input_size: int
    ) -> tuple[list[OpSpec], list[tuple[int, int]]]:
        w = params["width"]
        ops = [self._stem(params, in_channels, input_size, make_divisible(presets.STEM * w))]
        residuals: list[tuple[int, int]] = []
        c, hw = ops[0].c_out, ops[0].hw_out

        def conv1x1(layer: str, c_in: int, c_out: int, act: str) -> OpSpec:
            s, b = _gene("mobilenet_v2", layer, "sparsity"), _gene("mobilenet_v2", layer, "block")
            return OpSpec(
                "sparse_conv1x1", c_in, c_out, hw, attrs=self._sparse_attrs(params, s, b, act=act), name=layer
            )

        for i, (t, c_out, stride) in enumerate(presets.v2_blocks()):
            first, c_new, mid = len(ops), make_divisible(c_out * w), c * t
            if t != 1:
                ops.append(conv1x1(f"b{i}e", c, mid, "relu6"))
            dw = OpSpec("mb_depthwise", mid, mid, hw, kernel=3, stride=stride, name=f"b{i}dw")
            ops.append(dw)
            hw_in, hw = hw, dw.hw_out
            ops.append(conv1x1(f"b{i}p", mid, c_new, "none"))
            if stride == 1 and c == c_new and hw_in == hw:
                residuals.append((first, len(ops) - 1))
            c = c_new
        head = make_divisible(presets.V2_HEAD * max(1.0, w))
        ops.append(conv1x1("head", c, head, "relu6"))
        fc = self._sparse_attrs(params, "fc_sparsity", "fc_block", drop=presets.V2_DROPOUT)
        ops.append(OpSpec("sparse_classifier", head, num_classes, hw, attrs=fc, name="fc"))
        return ops, residuals

    def build(self, arch: Architecture, *, num_classes: int = 1000, in_channels: int = 3, input_size: int = 224) -> Any:
        """A freshly initialised model; each sparse layer is already pruned to its sparsity by
        magnitude (training with `evaluators.pruning` prunes gradually instead)."""
        from search_spaces.ops.sparse_modules import ResidualNetwork

        ops, residuals = self.layout(arch, num_classes=num_classes, in_channels=in_channels, input_size=input_size)
        return ResidualNetwork(ops, residuals)

    def effective_cost(
        self, arch: Architecture, *, num_classes: int = 1000, in_channels: int = 3, input_size: int = 224
    ) -> Cost:
        """Non-zero parameters and the MACs they take part in (`cost` counts sparse layers densely)."""
        return total_effective_cost(
            self.ops(arch, num_classes=num_classes, in_channels=in_channels, input_size=input_size)
        )

    def reference_genomes(self) -> dict[str, tuple[str, ...]]:
        return dict(presets.REFERENCES)

    def summary(self, arch: Architecture) -> str:
        params = self.to_params(arch)
        keys = self._layer_keys(params["backbone"])[:-1]
        levels = [params[s] for _, s, _ in keys]
        blocks = sorted({params[b] for _, s, b in keys if params[s] > 0})
        mean = sum(levels) / len(levels)
        return (
            f"{params['backbone']} x{params['width']} | 1x1 sparsity mean {mean:.2f} "
            f"(min {min(levels):g}, max {max(levels):g}) blocks {','.join(blocks) or '-'} "
            f"| fc s{params['fc_sparsity']:g}"
        )

    def op_catalogue(self, *, num_classes: int = 1000, in_channels: int = 3, input_size: int = 224) -> list[OpSpec]:
        """Exact: for each backbone and width, the dense layers once and every sparse layer at
        every (sparsity, block) the canonical form allows."""
        shape = {"num_classes": num_classes, "in_channels": in_channels, "input_size": input_size}
        variants = [(("sparsity", 0.0), ("block", 1))] + [
            (("sparsity", s), ("block", _block_rows(b))) for s, b in itertools.product(SPARSITIES[1:], BLOCK_SHAPES)
        ]
        out: list[OpSpec] = []
        for backbone, width in itertools.product(BACKBONES, WIDTHS):
            base = {n: self._first(n) for n in self._dists} | {"backbone": backbone, "width": width}
            for op in self.ops(self.decode(base), **shape):
                if op.kind not in SPARSE_KINDS:
                    out.append(op)
                    continue
                other = tuple((k, v) for k, v in op.attrs if k not in ("sparsity", "block"))
                out += [OpSpec(op.kind, op.c_in, op.c_out, op.hw, attrs=(*v, *other), name=op.name) for v in variants]
        return unique_ops(out)
