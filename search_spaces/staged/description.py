"""A staged MBConv space as data: a stem, stages written as timm ``arch_def`` block strings, a head,
and per stage what is searched.

A stage's skeleton is one timm block string — ``ds_r1_k3_s1_e1_c16``, ``ir_r3_k5_s2_e3_c40_se0.25``:
block type (``ds`` depthwise separable, ``ir`` inverted residual, ``cn`` plain conv), ``r`` repeats,
``k`` kernel, ``s`` stride of the first layer, ``e`` expansion, ``c`` output filters, optional ``se``
ratio and ``noskip``. What a stage searches is one of:

* nothing: the skeleton is built as written (ProxylessNAS's first MBConv1 block);
* `BlockSearch`: MnasNet's factorized choice, one ConvOp / kernel / SE / skip / filters / depth for
  all layers of the stage, the genome one MnasNet block string per stage (`search_spaces.blocks`);
* `LayerSearch`: one operator per layer from a list of names (`layer_op`), the genome one name per
  layer (ProxylessNAS, FBNet).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from search_spaces.ops.spec import AttrValue, OpSpec

_BLOCK_TYPES = {"ds": ("dconv", 1), "ir": ("mbconv", None), "cn": ("conv", 1)}
_TIMM_TOKEN = re.compile(r"^(se|r|k|s|e|c)(\d+(?:\.\d+)?)$")
_LAYER_OP = re.compile(r"^k(\d+)_e(\d+)(?:_g(\d+))?$")
ZERO, SKIP = "zero", "skip"


@dataclass(frozen=True)
class Skeleton:
    """One decoded timm block string."""

    kind: str
    layers: int
    kernel: int
    stride: int
    expansion: int
    filters: int
    se: float = 0.0
    noskip: bool = False


def parse_arch_def(text: str) -> Skeleton:
    """``"ir_r3_k5_s2_e3_c40_se0.25"`` -> `Skeleton` (timm's ``decode_arch_def`` for one string)."""
    block, *tokens = text.split("_")
    if block not in _BLOCK_TYPES:
        raise ValueError(f"block {text!r}: type {block!r} unknown; expected one of {', '.join(_BLOCK_TYPES)}")
    kind, fixed_e = _BLOCK_TYPES[block]
    values: dict[str, float] = {}
    noskip = False
    for token in tokens:
        if token == "noskip":
            noskip = True
        elif m := _TIMM_TOKEN.match(token):
            values[m.group(1)] = float(m.group(2))
        else:
            raise ValueError(f"block {text!r}: unknown token {token!r}")
    missing = [t for t in ("r", "k", "s", "c") if t not in values]
    if missing:
        raise ValueError(f"block {text!r}: missing {', '.join(missing)}")
    e = int(values.get("e", 1)) if fixed_e is None else fixed_e
    if fixed_e is not None and values.get("e", 1) != 1:
        raise ValueError(f"block {text!r}: {block} blocks have no expansion")
    return Skeleton(
        kind, int(values["r"]), int(values["k"]), int(values["s"]), e, int(values["c"]), values.get("se", 0.0), noskip
    )


@dataclass(frozen=True)
class BlockSearch:
    """MnasNet's per-stage genes: ConvOp (gene -> (kind, expansion)), kernels (odd, step 2), SE
    ratios, skip ops, filters and depths (consecutive)."""

    ops: Mapping[str, tuple[str, int]]
    kernels: tuple[int, ...]
    se_ratios: tuple[float, ...]
    skips: tuple[str, ...]
    filters: tuple[int, ...]
    layers: tuple[int, ...]


@dataclass(frozen=True)
class LayerSearch:
    """One operator per layer out of ``choices`` (`layer_op` names); the stage's first layer chooses
    out of ``first`` (default: ``choices``)."""

    choices: tuple[str, ...]
    first: tuple[str, ...] | None = None

    def at(self, layer: int) -> tuple[str, ...]:
        return self.first if layer == 0 and self.first is not None else self.choices


@dataclass(frozen=True)
class Stage:
    block: str
    search: BlockSearch | LayerSearch | None = None

    @property
    def skeleton(self) -> Skeleton:
        return parse_arch_def(self.block)


@dataclass(frozen=True)
class StagedDescription:
    """A whole staged space. Inputs up to ``small_input`` use a stride-1 stem and, where given, the
    small-input stage strides and head width (CIFAR settings); larger ones the strides written in
    the block strings. ``op_attrs`` are carried by every operator (e.g. the activation)."""

    stem: int
    stages: tuple[Stage, ...]
    head: int
    small_input: int = 64
    small_strides: tuple[int, ...] | None = None
    small_head: int | None = None
    op_attrs: tuple[tuple[str, AttrValue], ...] = ()
    skeletons: tuple[Skeleton, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "skeletons", tuple(s.skeleton for s in self.stages))
        if self.small_strides is not None and len(self.small_strides) != len(self.stages):
            raise ValueError(f"small_strides: {len(self.stages)} stages need as many strides")
        for i, stage in enumerate(self.stages):
            if isinstance(stage.search, LayerSearch):
                for layer in range(self.skeletons[i].layers):
                    for name in stage.search.at(layer):
                        parse_layer_op(name)
                if ZERO in stage.search.at(0):
                    raise ValueError(f"stage {i + 1}: a stage's first layer changes shapes, so it cannot be {ZERO!r}")

    def strides(self, input_size: int) -> tuple[int, ...]:
        if input_size <= self.small_input and self.small_strides is not None:
            return self.small_strides
        return tuple(s.stride for s in self.skeletons)

    def stem_stride(self, input_size: int) -> int:
        return 1 if input_size <= self.small_input else 2

    def head_filters(self, input_size: int) -> int:
        return self.small_head if input_size <= self.small_input and self.small_head else self.head


def parse_layer_op(name: str) -> dict[str, Any]:
    """A layer operator name: ``k<kernel>_e<expansion>[_g<groups>]`` (MBConv), ``zero`` (the layer
    is left out; only where shapes match) or ``skip`` (identity where shapes match, else FBNet's
    1x1 conv-BN-ReLU with the layer's stride)."""
    if name in (ZERO, SKIP):
        return {"op": name}
    m = _LAYER_OP.match(name)
    if not m:
        raise ValueError(f"layer operator {name!r} unknown; expected k<kernel>_e<expansion>[_g<groups>], zero or skip")
    return {"op": "mbconv", "kernel": int(m.group(1)), "expansion": int(m.group(2)), "groups": int(m.group(3) or 1)}


def layer_op(
    name: str, c_in: int, c_out: int, hw: int, stride: int, *, attrs: tuple[tuple[str, AttrValue], ...], label: str
) -> OpSpec | None:
    """The `OpSpec` of layer operator ``name`` at this place, or None where the layer is the identity."""
    fields = parse_layer_op(name)
    same = c_in == c_out and stride == 1
    if fields["op"] in (ZERO, SKIP):
        if same:
            return None
        if fields["op"] == ZERO:
            raise ValueError(f"{label}: {ZERO!r} needs equal input and output shapes")
        return OpSpec("conv", c_in, c_out, hw, kernel=1, stride=stride, attrs=attrs, name=label)
    extra = (("groups", fields["groups"]),) if fields["groups"] > 1 else ()
    return OpSpec(
        "mbconv",
        c_in,
        c_out,
        hw,
        kernel=fields["kernel"],
        stride=stride,
        expansion=fields["expansion"],
        skip="id" if same else "none",
        attrs=attrs + extra,
        name=label,
    )
