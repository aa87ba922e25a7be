"""Features of an architecture for predictors: the space's encoding plus derived quantities.

Columns: ``space.encode`` (numeric genes as values, categorical genes one-hot), then the exact
parameter and MAC counts (log10) and the number of layers, then per stage — layers grouped by
their input resolution, the stages being the resolutions the space's operator catalogue has for
the task shape — the number of layers, their MACs (log10 of 1 + MACs), mean kernel, mean output
width and mean expansion. Everything comes from `space.encode`, `space.ops` and the operators'
torch-free `cost`, so no model is built.

With ``op_counts=True`` (what the additive predictor asks for) the row also counts each operator
signature of the catalogue (``op:<signature>``; operators outside it add to ``op:other``) and,
for NAS-Bench-201, the same counts over the *live* edges only (``live:<signature>``: edges on no
path from the cell's input to its output are removed by compilers). These are the columns of a
learned lookup table: latency ~ sum over operators of count x cost.

`FEATURES_VERSION` names this recipe (``+ops`` when the counts are included); a featurizer's
`version` adds the space, its version and a digest of the column names and task shape. A
predictor stores the version it was trained with and is refused when it no longer matches
(`StalePredictorError`).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np

from core.task import TaskShape
from search_spaces import get_space

if TYPE_CHECKING:
    from search_spaces import Architecture, SearchSpace
    from search_spaces.ops.spec import Cost, OpSpec

FEATURES_VERSION = "f1"
STAGE_STATS = ("layers", "log_macs", "kernel", "width", "expansion")


class Featurizer:
    """Architectures of ``space`` -> feature rows for the task ``shape`` (cached per architecture)."""

    def __init__(
        self, space: str | SearchSpace, shape: Mapping[str, int] | None = None, *, op_counts: bool = False
    ) -> None:
        self.space = get_space(space) if isinstance(space, str) else space
        self.shape = TaskShape() if shape is None else TaskShape.of(shape)
        catalogue = self.space.op_catalogue(**self.shape)
        self.stages = sorted({op.hw for op in catalogue}, reverse=True)
        self.op_counts = op_counts
        self.signatures = list(dict.fromkeys(op.signature() for op in catalogue)) if op_counts else []
        self._sig_index = {sig: i for i, sig in enumerate(self.signatures)}
        self.has_liveness = op_counts and self.space.name == "nb201"
        self._cache: dict[str, np.ndarray] = {}
        self._costs: dict[tuple[object, ...], Cost] = {}

    def names(self) -> list[str]:
        derived = ["log10_params", "log10_macs", "layers"]
        per_stage = [f"stage{i}_{s}" for i in range(len(self.stages)) for s in STAGE_STATS]
        return [*self.space.feature_names(), *derived, *per_stage, *self.count_names()]

    def count_names(self) -> list[str]:
        """The operator-count columns (empty without ``op_counts``); they come last in a row."""
        if not self.op_counts:
            return []
        live = [f"live:{s}" for s in self.signatures] if self.has_liveness else []
        return [*(f"op:{s}" for s in self.signatures), "op:other", *live]

    def count_slice(self) -> slice:
        """Where the operator counts are in a row."""
        n = len(self.count_names())
        total = len(self.names())
        return slice(total - n, total)

    @property
    def version(self) -> str:
        """Recipe, space and version, and a digest of the columns and task shape."""
        text = "\n".join([*self.names(), *(f"{k}={v}" for k, v in sorted(self.shape.items()))])
        digest = hashlib.sha256(text.encode()).hexdigest()[:10]
        recipe = f"{FEATURES_VERSION}+ops" if self.op_counts else FEATURES_VERSION
        return f"{recipe}:{self.space.name}@{self.space.version}:{digest}"

    def row(self, arch: Architecture) -> np.ndarray:
        cached = self._cache.get(arch.arch_id)
        if cached is None:
            ops = self.space.ops(arch, **self.shape)
            parts = [self.space.encode(arch), self._derived(ops)]
            if self.op_counts:
                parts.append(self._counts(arch, ops))
            cached = np.concatenate(parts)
            self._cache[arch.arch_id] = cached
        return cached

    def transform(self, archs: Sequence[Architecture]) -> np.ndarray:
        """One row per architecture (shape: len(archs) x len(names()))."""
        if not archs:
            return np.zeros((0, len(self.names())))
        return np.stack([self.row(a) for a in archs])

    def _cost(self, op: OpSpec) -> Cost:
        key = (op.kind, op.c_in, op.c_out, op.hw, op.kernel, op.stride, op.expansion, op.se, op.skip, op.attrs)
        cost = self._costs.get(key)
        if cost is None:
            cost = self._costs[key] = op.cost()
        return cost

    def _derived(self, ops: list[OpSpec]) -> np.ndarray:
        costs = [self._cost(op) for op in ops]
        params, macs = sum(c.params for c in costs), sum(c.macs for c in costs)
        out = [math.log10(max(params, 1)), math.log10(max(macs, 1)), float(len(ops))]
        index = {hw: i for i, hw in enumerate(self.stages)}
        stats = np.zeros((len(self.stages), len(STAGE_STATS)))
        groups: dict[int, list[tuple[OpSpec, int]]] = {}
        for op, cost in zip(ops, costs, strict=True):
            if op.hw in index:
                groups.setdefault(index[op.hw], []).append((op, cost.macs))
        for i, members in groups.items():
            stats[i] = (
                len(members),
                math.log10(1 + sum(m for _, m in members)),
                float(np.mean([op.kernel for op, _ in members])),
                float(np.mean([op.c_out for op, _ in members])),
                float(np.mean([op.expansion for op, _ in members])),
            )
        return np.concatenate([np.asarray(out), stats.ravel()])

    def _counts(self, arch: Architecture, ops: list[OpSpec]) -> np.ndarray:
        n = len(self.signatures)
        counts = np.zeros(2 * n + 1 if self.has_liveness else n + 1)
        live = _nb201_live_names(arch) if self.has_liveness else set()
        for op in ops:
            i = self._sig_index.get(op.signature(), n)
            counts[i] += 1
            if self.has_liveness and i < n and (not op.name.startswith("cell") or op.name.split(".")[-1] in live):
                counts[n + 1 + i] += 1  # fixed layers (stem, blocks, head) are always live
        return counts


def _nb201_live_names(arch: Architecture) -> set[str]:
    """The genes of a NAS-Bench-201 cell whose edges are live (on an input-to-output path)."""
    from search_spaces.nb201.space import GENES, live_edges

    return {g for g, on in zip(GENES, live_edges(arch.genome), strict=True) if on}
