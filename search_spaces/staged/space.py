"""`StagedSpace`: an MBConv search space built from a `StagedDescription` (stem, stages, head).

One class serves every preset: MnasNet's factorized space (per-stage block strings), ProxylessNAS's
and FBNet's layer-wise spaces (one operator name per searched layer). Genes:

* a `BlockSearch` stage ``b`` has ``b{b}_{op,layers,kernel,filters,se,skip}`` and contributes one
  MnasNet block string to the genome;
* a `LayerSearch` stage ``b`` has ``b{b}_l{j}`` for each of its layers ``j`` (1-based) and
  contributes one operator name per layer;
* a fixed stage has no genes.

Layers are named ``b<stage>.<layer>`` (1-based), plus ``stem``, ``head`` and ``classifier``.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from optuna.distributions import BaseDistribution, CategoricalDistribution, IntDistribution

from core.errors import InvalidArchitectureError
from search_spaces.arch import Architecture
from search_spaces.base import Params, SearchSpace, choices_of, unique_ops
from search_spaces.blocks import FIELDS, format_block, parse_block
from search_spaces.ops.spec import OpSpec, conv_out
from search_spaces.staged.description import BlockSearch, LayerSearch, StagedDescription, layer_op

_LAYER_GENE = re.compile(r"l\d+")


class StagedSpace(SearchSpace):
    """A space of stacked MBConv-style stages; ``layout`` and ``reference_archs`` define it (class
    attributes of a preset, or arguments for a one-off variant)."""

    name: ClassVar[str] = "staged"
    version: ClassVar[str] = "1"
    layout: ClassVar[StagedDescription]
    reference_archs: ClassVar[Mapping[str, tuple[str, ...]]] = {}

    def __init__(
        self, layout: StagedDescription | None = None, *, references: Mapping[str, tuple[str, ...]] | None = None
    ) -> None:
        self.desc = layout or type(self).layout
        self._refs = dict(type(self).reference_archs if references is None else references)
        dists: dict[str, BaseDistribution] = {}
        self._groups: list[list[str]] = []
        for b, stage in enumerate(self.desc.stages, start=1):
            search = stage.search
            if isinstance(search, BlockSearch):
                block = {
                    "op": CategoricalDistribution(tuple(search.ops)),
                    "layers": IntDistribution(search.layers[0], search.layers[-1]),
                    "kernel": IntDistribution(search.kernels[0], search.kernels[-1], step=2),
                    "filters": CategoricalDistribution(search.filters),
                    "se": CategoricalDistribution(search.se_ratios),
                    "skip": CategoricalDistribution(search.skips),
                }
                dists.update({f"b{b}_{f}": block[f] for f in FIELDS})
                self._groups.append([f"b{b}_{f}" for f in FIELDS])
            elif isinstance(search, LayerSearch):
                names = [f"b{b}_l{j}" for j in range(1, self.desc.skeletons[b - 1].layers + 1)]
                dists.update({n: CategoricalDistribution(search.at(j)) for j, n in enumerate(names)})
                self._groups.append(names)
        self._dists = dists

    # -- genes ---------------------------------------------------------------------------------------
    def distributions(self) -> dict[str, BaseDistribution]:
        return dict(self._dists)

    def gene_groups(self) -> list[list[str]]:
        return [list(g) for g in self._groups]

    def _genes(self) -> list[tuple[int, str, int]]:
        """(stage, what, layer) per genome entry: ``what`` is ``block`` or ``layer``."""
        out = []
        for b, stage in enumerate(self.desc.stages, start=1):
            if isinstance(stage.search, BlockSearch):
                out.append((b, "block", 0))
            elif isinstance(stage.search, LayerSearch):
                out += [(b, "layer", j) for j in range(1, self.desc.skeletons[b - 1].layers + 1)]
        return out

    def parse_genome(self, genome: Sequence[str]) -> Params:
        genes = self._genes()
        if len(genome) != len(genes):
            blocks = all(what == "block" for _, what, _ in genes)
            unit = "blocks" if blocks else "searched layers"
            strings = "block strings" if blocks else "operator names"
            raise InvalidArchitectureError(
                f"genome: {self.name} has {len(genes)} {unit}, so the genome needs {len(genes)} {strings}; "
                f"got {len(genome)}"
            )
        params: Params = {}
        for i, ((b, what, j), text) in enumerate(zip(genes, genome, strict=True)):
            try:
                if what == "block":
                    block = {f"b{b}_{k}": v for k, v in parse_block(text).items()}
                else:
                    block = {f"b{b}_l{j}": text}
                for key, value in block.items():  # name the block and field in range errors
                    self._check_gene(key, value)
            except InvalidArchitectureError as e:
                where = f"block {b}" if what == "block" else f"block {b}, layer {j}"
                raise InvalidArchitectureError(f"genome[{i}] ({where}): {e}") from None
            params.update(block)
        return params

    def _check_gene(self, key: str, value: Any) -> None:
        allowed = choices_of(self._dists[key])
        if value not in allowed or isinstance(value, bool):
            field = key.split("_", 1)[1]
            what = repr(value) if _LAYER_GENE.fullmatch(field) else f"{field} {value!r}"
            raise InvalidArchitectureError(f"{what} is not allowed; allowed: {', '.join(map(str, allowed))}")

    def format_genome(self, params: Mapping[str, Any]) -> tuple[str, ...]:
        out = []
        for b, what, j in self._genes():
            out.append(
                format_block({f: params[f"b{b}_{f}"] for f in FIELDS}) if what == "block" else params[f"b{b}_l{j}"]
            )
        return tuple(out)

    def canonical(self, params: Params) -> Params:
        """Block stages: a vanished block's genes are inactive (first choices); a one-layer block never
        has a layer whose shapes match (MnasNet: see tests), so its identity skip is ``noskip``.
        Layer stages: a later layer's shapes always match, where ``zero`` and ``skip`` are the
        identity: those layers move to the end of the stage (as the first such choice listed)."""
        out = dict(params)
        for b, stage in enumerate(self.desc.stages, start=1):
            if isinstance(stage.search, BlockSearch):
                if out[f"b{b}_layers"] == 0:
                    for f in FIELDS:
                        if f != "layers":
                            out[f"b{b}_{f}"] = choices_of(self._dists[f"b{b}_{f}"])[0]
                elif out[f"b{b}_layers"] == 1 and out[f"b{b}_skip"] == "idskip":
                    out[f"b{b}_skip"] = "noskip"
            elif isinstance(stage.search, LayerSearch):
                names = [f"b{b}_l{j}" for j in range(2, self.desc.skeletons[b - 1].layers + 1)]
                identity = [c for c in stage.search.choices if c in ("zero", "skip")]
                kept = [out[n] for n in names if out[n] not in identity]
                for n, value in zip(names, kept + [identity[0]] * (len(names) - len(kept)), strict=True):
                    out[n] = value
        return out

    # -- layers ----------------------------------------------------------------------------------------
    def ops(
        self, arch: Architecture, *, num_classes: int = 1000, in_channels: int = 3, input_size: int = 224
    ) -> list[OpSpec]:
        params = self.to_params(arch)
        desc, attrs = self.desc, self.desc.op_attrs
        stem = OpSpec(
            "conv", in_channels, desc.stem, input_size, kernel=3, stride=desc.stem_stride(input_size), attrs=attrs,
            name="stem",
        )  # fmt: skip
        ops = [stem]
        c, hw = stem.c_out, stem.hw_out
        for b, (stage, stride) in enumerate(zip(desc.stages, desc.strides(input_size), strict=True), start=1):
            for layer_spec in self._stage_ops(b, stage.search, params, c, hw, stride):
                ops.append(layer_spec)
                c, hw = layer_spec.c_out, layer_spec.hw_out
        head = OpSpec("conv", c, desc.head_filters(input_size), hw, kernel=1, attrs=attrs, name="head")
        ops += [head, OpSpec("classifier", head.c_out, num_classes, head.hw_out, name="classifier")]
        return ops

    def _stage_ops(
        self, b: int, search: BlockSearch | LayerSearch | None, params: Params, c: int, hw: int, stride: int
    ) -> list[OpSpec]:
        skel, attrs, ops = self.desc.skeletons[b - 1], self.desc.op_attrs, []
        if isinstance(search, BlockSearch):
            kind, expansion = search.ops[params[f"b{b}_op"]]
            filters, skip = params[f"b{b}_filters"], params[f"b{b}_skip"]
            for layer in range(params[f"b{b}_layers"]):
                s = stride if layer == 0 else 1
                same = c == filters and s == 1
                effective = "none" if skip == "noskip" else "id" if same else "pool" if skip == "poolskip" else "none"
                op = OpSpec(
                    kind, c, filters, hw, kernel=params[f"b{b}_kernel"], stride=s, expansion=expansion,
                    se=params[f"b{b}_se"], skip=effective, attrs=attrs, name=f"b{b}.{layer + 1}",
                )  # fmt: skip
                ops.append(op)
                c, hw = filters, op.hw_out
            return ops
        for layer in range(skel.layers):
            s, label = (stride if layer == 0 else 1), f"b{b}.{layer + 1}"
            if isinstance(search, LayerSearch):
                op = layer_op(params[f"b{b}_l{layer + 1}"], c, skel.filters, hw, s, attrs=attrs, label=label)
            else:
                same = c == skel.filters and s == 1 and not skel.noskip
                op = OpSpec(
                    skel.kind, c, skel.filters, hw, kernel=skel.kernel, stride=s, expansion=skel.expansion,
                    se=skel.se, skip="id" if same else "none", attrs=attrs, name=label,
                )  # fmt: skip
            if op is not None:
                ops.append(op)
                c, hw = op.c_out, op.hw_out
        return ops

    def reference_genomes(self) -> dict[str, tuple[str, ...]]:
        return dict(self._refs)

    def op_catalogue(self, *, num_classes: int = 1000, in_channels: int = 3, input_size: int = 224) -> list[OpSpec]:
        """Exact: for each stage, every operator its first layer can see (each input width that can
        reach it) and every configuration of its later layers, plus stem, head and classifier."""
        desc, attrs = self.desc, self.desc.op_attrs
        stem = OpSpec(
            "conv", in_channels, desc.stem, input_size, kernel=3, stride=desc.stem_stride(input_size), attrs=attrs,
            name="stem",
        )  # fmt: skip
        ops, hw = [stem], stem.hw_out
        inputs: set[int] = {stem.c_out}  # widths that can reach the next stage
        for b, (stage, stride) in enumerate(zip(desc.stages, desc.strides(input_size), strict=True), start=1):
            search, hw_out = stage.search, conv_out(hw, 3, stride)
            if isinstance(search, BlockSearch):
                d = {f: choices_of(self._dists[f"b{b}_{f}"]) for f in FIELDS}
                for op_name, k, filters, se in itertools.product(d["op"], d["kernel"], d["filters"], d["se"]):
                    kind, expansion = search.ops[op_name]
                    common = {"kernel": k, "expansion": expansion, "se": se, "attrs": attrs}
                    for c_in, skip in itertools.product(sorted(inputs), ("none", "pool")):
                        ops.append(OpSpec(kind, c_in, filters, hw, stride=stride, skip=skip, **common))  # type: ignore[arg-type]
                    if max(d["layers"]) >= 2:
                        ops += [OpSpec(kind, filters, filters, hw_out, skip=s, **common) for s in ("none", "id")]  # type: ignore[arg-type]
                vanishes = min(d["layers"]) == 0
                inputs = set(d["filters"]) | (inputs if vanishes else set())
            else:
                ops += self._layer_catalogue(b, inputs, hw, hw_out, stride)
                inputs = {desc.skeletons[b - 1].filters}
            hw = hw_out
        ops += [
            OpSpec("conv", c, desc.head_filters(input_size), hw, kernel=1, attrs=attrs, name="head")
            for c in sorted(inputs)
        ]
        ops.append(OpSpec("classifier", desc.head_filters(input_size), num_classes, hw, name="classifier"))
        return unique_ops(ops)

    def _layer_catalogue(self, b: int, inputs: set[int], hw: int, hw_out: int, stride: int) -> list[OpSpec]:
        stage, skel = self.desc.stages[b - 1], self.desc.skeletons[b - 1]
        ops: list[OpSpec] = []
        for layer in range(skel.layers):
            widths, size, s = (sorted(inputs), hw, stride) if layer == 0 else ([skel.filters], hw_out, 1)
            names = stage.search.at(layer) if isinstance(stage.search, LayerSearch) else (None,)
            for c_in, name in itertools.product(widths, names):
                if name is None:
                    same = c_in == skel.filters and s == 1 and not skel.noskip
                    op: OpSpec | None = OpSpec(
                        skel.kind, c_in, skel.filters, size, kernel=skel.kernel, stride=s, expansion=skel.expansion,
                        se=skel.se, skip="id" if same else "none", attrs=self.desc.op_attrs,
                    )  # fmt: skip
                else:
                    op = layer_op(
                        name, c_in, skel.filters, size, s, attrs=self.desc.op_attrs, label=f"b{b}.{layer + 1}"
                    )
                if op is not None:
                    ops.append(op)
        return ops
