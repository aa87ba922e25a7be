"""What a staged space's supernet holds, derived from the space's stage description.

Every layer *position* ``b<stage>_<layer>`` (layer 0-based) keeps one choice path per operator
family and shortcut (`path_name`): ``conv``, ``dconv``, ``mb`` (MBConv of every kernel and
expansion: elastic kernel and expansion) and ``mbg<g>`` (grouped MBConv, FBNet's ``_g2``), each
``-plain`` or ``-res``. A path is built at the largest shape any architecture needs there (widest
input and output, largest kernel and expansion, squeeze-excite where the space has it). Also here:
width scaling (`scale`, `scaled_ops`) and the sandwich rule's extreme subnets (`largest_arch`,
`smallest_arch`), for MnasNet exactly as before this module existed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any, cast

import numpy as np

from search_spaces import Architecture, get_space
from search_spaces.base import choices_of
from search_spaces.ops.spec import OpSpec, conv_out
from search_spaces.staged import BlockSearch, LayerSearch, StagedSpace
from search_spaces.staged.description import layer_op, parse_layer_op

SHORTCUTS = ("plain", "res")
FIXED_POSITIONS = ("stem", "head", "classifier")  # one path each; every other position is a block layer
CONVOP_PATHS = ("conv", "dconv", "mb")  # MnasNet's ConvOps with weights of their own (MBConv3 and 6 share one)
CATEGORICAL = ("op", "skip")  # MnasNet genes without a largest or smallest choice
_FAMILY = {"conv": "conv", "dconv": "dconv", "mbconv": "mb"}


def scale(c: int, width: float, divisor: int = 1) -> int:
    """A channel count at width multiplier ``width`` (exact at 1.0), a multiple of ``divisor``."""
    if width == 1.0:
        return c
    return max(divisor, round(c * width / divisor) * divisor)


def scaled_ops(ops: Sequence[OpSpec], width: float, divisor: int = 1) -> list[OpSpec]:
    """``ops`` with every channel count scaled, except the network's input and class count.

    A pooled shortcut whose scaled shapes happen to match becomes the identity (what the space's
    ``poolskip`` means for matching shapes)."""
    if width == 1.0:
        return list(ops)
    out = []
    for i, op in enumerate(ops):
        c_in = op.c_in if i == 0 else scale(op.c_in, width, divisor)
        c_out = op.c_out if op.kind == "classifier" else scale(op.c_out, width, divisor)
        skip = op.skip
        if skip == "pool" and c_in == c_out and op.stride == 1:
            skip = "id"
        out.append(replace(op, c_in=c_in, c_out=c_out, skip=skip))
    return out


def family(spec: OpSpec) -> str:
    """The operator family whose weights ``spec`` uses: ``conv``, ``dconv``, ``mb`` or ``mbg<groups>``."""
    groups = int(spec.attr("groups", 1))
    return _FAMILY[spec.kind] + (f"g{groups}" if groups > 1 else "")


def path_name(gene: str, shortcut: str) -> str:
    """The choice path that holds a layer's weights: one per ConvOp type (``conv``, ``dconv``,
    ``mb``: MBConv3 is the first half of MBConv6's expanded channels, OFA's elastic expansion)
    and shortcut (``plain``, ``res``)."""
    return f"{'mb' if gene.startswith('mb') else gene}-{shortcut}"


def spec_path(spec: OpSpec) -> str:
    """The path of a block layer's spec: its family and shortcut (MnasNet: as `path_name`)."""
    return f"{family(spec)}-{'plain' if spec.skip == 'none' else 'res'}"


def group_divisor(space: StagedSpace) -> int:
    """Scaled widths stay multiples of the largest group count (grouped 1x1 convs need it)."""
    groups = [
        parse_layer_op(name).get("groups", 1)
        for stage in space.desc.stages
        if isinstance(stage.search, LayerSearch)
        for name in (*stage.search.choices, *(stage.search.first or ()))
    ]
    return max(groups, default=1)


def _merge(specs: Sequence[OpSpec]) -> OpSpec:
    """The one spec that holds every spec of a path: the largest of each size (no shortcut)."""
    first = specs[0]
    return replace(
        first,
        c_in=max(s.c_in for s in specs),
        c_out=max(s.c_out for s in specs),
        kernel=max(s.kernel for s in specs),
        expansion=max(s.expansion for s in specs),
        se=max(s.se for s in specs),
        skip="none",
        name="",
    )


def full_specs(
    space: StagedSpace, shape: dict[str, int], width: float, reference: Sequence[OpSpec]
) -> dict[str, dict[str, OpSpec]]:
    """Position -> path -> the largest `OpSpec` the path must hold; ``reference`` is the largest
    subnet's (scaled) layer list, which gives the stem, head and classifier."""
    desc, attrs, divisor = space.desc, space.desc.op_attrs, group_divisor(space)
    stem, head, classifier = reference[0], reference[-2], reference[-1]
    out: dict[str, dict[str, OpSpec]] = {"stem": {"fixed": stem}}
    reaching, raw_reaching = {stem.c_out}, {space.desc.stem}  # widths that can enter the next stage (scaled, not)
    hw, dists = stem.hw_out, space.distributions()
    for b, (stage, stride) in enumerate(zip(desc.stages, desc.strides(shape["input_size"]), strict=True), start=1):
        search, skel, hw_out = stage.search, desc.skeletons[b - 1], conv_out(hw, 3, stride)
        if isinstance(search, BlockSearch):  # MnasNet's layout, unchanged
            filters = max(scale(c, width) for c in choices_of(dists[f"b{b}_filters"]))
            kernel, depths = max(search.kernels), choices_of(dists[f"b{b}_layers"])
            for layer in range(max(depths)):
                c_in, s, size = (max(reaching), stride, hw) if layer == 0 else (filters, 1, hw_out)
                specs: dict[str, OpSpec] = {}
                for gene, (kind, e) in sorted(search.ops.items(), key=lambda item: item[1][1]):
                    for cut in SHORTCUTS:  # the widest expansion of a path wins
                        specs[path_name(gene, cut)] = OpSpec(
                            kind, c_in, filters, size, kernel=kernel, stride=s, expansion=e,
                            se=max(search.se_ratios), attrs=attrs,
                        )  # fmt: skip
                out[f"b{b}_{layer}"] = specs
            widths = {scale(c, width) for c in choices_of(dists[f"b{b}_filters"])}
            reaching = widths | (reaching if min(depths) == 0 else set())
            raw_reaching = set(choices_of(dists[f"b{b}_filters"])) | (raw_reaching if min(depths) == 0 else set())
        else:  # every operator a layer can take, built at the space's widths, then scaled
            for layer in range(skel.layers):
                c_ins, s, size = (sorted(raw_reaching), stride, hw) if layer == 0 else ([skel.filters], 1, hw_out)
                names = search.at(layer) if isinstance(search, LayerSearch) else (None,)
                grouped: dict[str, list[OpSpec]] = {}
                for c_in in c_ins:
                    for name in names:
                        spec = _fixed_layer(space, b, c_in, skel.filters, size, s) if name is None else layer_op(
                            name, c_in, skel.filters, size, s, attrs=attrs, label=""
                        )  # fmt: skip
                        if spec is not None:
                            spec = replace(
                                spec, c_in=scale(spec.c_in, width, divisor), c_out=scale(spec.c_out, width, divisor)
                            )
                            grouped.setdefault(spec_path(spec), []).append(spec)
                out[f"b{b}_{layer}"] = {path: _merge(specs) for path, specs in grouped.items()}
            reaching, raw_reaching = {scale(skel.filters, width, divisor)}, {skel.filters}
        hw = hw_out
    out["head"] = {"fixed": replace(head, c_in=max(reaching), c_out=head.c_out)}
    out["classifier"] = {"fixed": classifier}
    return out


def _fixed_layer(space: StagedSpace, b: int, c_in: int, c_out: int, hw: int, stride: int) -> OpSpec:
    skel = space.desc.skeletons[b - 1]
    same = c_in == c_out and stride == 1 and not skel.noskip
    return OpSpec(
        skel.kind, c_in, c_out, hw, kernel=skel.kernel, stride=stride, expansion=skel.expansion, se=skel.se,
        skip="id" if same else "none", attrs=space.desc.op_attrs,
    )  # fmt: skip


# -- the sandwich rule's extreme subnets ---------------------------------------------------------------
def largest_arch(
    space: StagedSpace | None = None, rng: np.random.Generator | None = None, *, path: str | None = None
) -> Architecture:
    """The sandwich rule's largest subnet: MBConv6, deepest, 5x5, widest, squeeze-excite, residuals
    in MnasNet; the largest kernel and expansion in every layer of a layer-wise space (``rng`` and
    ``path``: `_extreme`)."""
    return _extreme(space, last=True, rng=rng, path=path)


def smallest_arch(
    space: StagedSpace | None = None, rng: np.random.Generator | None = None, *, path: str | None = None
) -> Architecture:
    """The sandwich rule's smallest subnet: depthwise-separable, shallowest, 3x3, narrowest, no SE or
    skip in MnasNet; the identity (``zero``/``skip``) or the smallest MBConv in every layer of a
    layer-wise space (``rng`` and ``path``: `_extreme`)."""
    return _extreme(space, last=False, rng=rng, path=path)


def _path_op(path: str, *, last: bool) -> str:
    """The ConvOp an extreme MnasNet subnet takes on ``path``: MBConv at 6 for the largest, 3 for the smallest."""
    if path not in CONVOP_PATHS:
        raise ValueError(f"unknown ConvOp path {path!r}; expected one of {CONVOP_PATHS}")
    return ("mb6" if last else "mb3") if path == "mb" else path


def _draw_categorical(field: str, choices: tuple[Any, ...], rng: np.random.Generator, *, last: bool) -> Any:
    """A uniform draw of ``field`` for an extreme subnet; ConvOps are drawn by choice path (`_path_op`)."""
    if field == "op":
        return _path_op(CONVOP_PATHS[int(rng.integers(len(CONVOP_PATHS)))], last=last)
    return choices[int(rng.integers(len(choices)))]


def _size(name: str) -> tuple[int, int, int]:
    fields = parse_layer_op(name)
    if fields["op"] != "mbconv":
        return (0, 0, 0)
    return (fields["expansion"], fields["kernel"], -fields["groups"])


def _op_family(name: str) -> str:
    fields = parse_layer_op(name)
    return fields["op"] if fields["op"] != "mbconv" else "mb" + (f"g{fields['groups']}" if fields["groups"] > 1 else "")


def _layer_extreme(choices: tuple[str, ...], *, last: bool, rng: np.random.Generator | None, path: str | None) -> str:
    """The largest or smallest operator of one layer; with ``rng`` within a uniformly drawn family,
    with ``path`` within that family where the layer has it (else over all choices)."""
    families = sorted({_op_family(c) for c in choices})
    pick = families[int(rng.integers(len(families)))] if rng is not None else path
    pool = [c for c in choices if _op_family(c) == pick] or list(choices)
    return (max if last else min)(pool, key=_size)


def _extreme(
    space: StagedSpace | None, *, last: bool, rng: np.random.Generator | None = None, path: str | None = None
) -> Architecture:
    """The largest (``last``) or smallest subnet. With ``rng``, every MnasNet block's ConvOp path and
    skip (`CATEGORICAL`) or every layer's operator family is drawn uniformly; with ``path`` (for
    MnasNet one of `CONVOP_PATHS`), every block or layer takes that path where it exists."""
    space = space or cast(StagedSpace, get_space("mnasnet"))
    fixed: dict[str, Any] = {}
    if any(isinstance(s.search, BlockSearch) for s in space.desc.stages):
        fixed = {"op": _path_op(path or ("mb" if last else "dconv"), last=last), "skip": "idskip" if last else "noskip"}
    params = {}
    for name, dist in space.distributions().items():
        field = name.split("_", 1)[1]
        choices = choices_of(dist)
        if field.startswith("l") and field[1:].isdigit():  # a layer-wise gene
            params[name] = _layer_extreme(choices, last=last, rng=rng, path=path)
        elif rng is not None and field in CATEGORICAL:
            params[name] = _draw_categorical(field, choices, rng, last=last)
        else:
            params[name] = fixed.get(field, choices[-1] if last else choices[0])
    return space.decode(params)
