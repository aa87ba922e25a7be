"""Every operator a NASNet network of the space can contain, for one task shape (exact enumeration).

`walk` drives `CatalogueBuilder` through each macro setting with *sets* of possible widths in
place of tensors: a cell's output has k x T channels, where T is the width of its last block (F,
or 2F after a concatenation) and k (1 to B + 2) the number of states it concatenates. At each
cell position the builder lists every operation on every width its states can have.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from search_spaces.nasnet.genotype import Macro
from search_spaces.nasnet.layout import (
    add_spec,
    concat_spec,
    input_spec,
    op_spec,
    reduce_spec,
    walk,
)
from search_spaces.ops.spec import OpSpec


@dataclass(frozen=True)
class Widths:
    """The widths a tensor may have at one position, and its resolution."""

    cs: frozenset[int]
    hw: int


class CatalogueBuilder:
    def __init__(self, *, ops: Iterable[str], num_blocks: int, combines: Iterable[str]) -> None:
        self.ops = tuple(ops)
        self.num_states = num_blocks + 2
        self.concat = "concat" in tuple(combines)
        self.found: dict[str, OpSpec] = {}
        self._seen: set[tuple[object, ...]] = set()

    def _emit(self, spec: OpSpec | None) -> None:
        if spec is not None:
            self.found.setdefault(spec.signature(), spec)

    def stem(self, spec: OpSpec) -> Widths:
        self._emit(spec)
        return Widths(frozenset([spec.c_out]), spec.hw_out)

    def width(self, state: Widths) -> int:
        return max(state.cs)

    def head(self, last: Widths, spec: OpSpec) -> None:
        for c in last.cs:
            self._emit(OpSpec(spec.kind, c, spec.c_out, last.hw, attrs=spec.attrs))

    def cell(
        self, *, reduction: bool, filters: int, prev: Widths, pprev: Widths | None, number: int, name: str
    ) -> Widths:
        f, stride = filters, 2 if reduction else 1
        hw, hw_out = prev.hw, -(-prev.hw // stride)
        block_cs = {f, 2 * f} if self.concat else {f}
        out = Widths(frozenset(k * t for t in block_cs for k in range(1, self.num_states + 1)), hw_out)
        key = (reduction, f, prev, pprev)
        if key in self._seen:
            return out
        self._seen.add(key)
        for c in prev.cs:
            self._emit(input_spec(c, f, hw))
        h1 = {f}
        if pprev is None:
            h1 = set(prev.cs)
        for c in pprev.cs if pprev is not None else ():
            if pprev.hw != hw:
                self._emit(reduce_spec(c, f, pprev.hw, stride=2, relu=True))
            elif c != f:
                self._emit(input_spec(c, f, hw))
        for op in self.ops:
            for c in {f} | h1:
                self._emit(op_spec(op, c, f, hw, stride))
            for c in block_cs:
                self._emit(op_spec(op, c, f, hw_out, 1))
        self._emit(add_spec(f, hw_out))
        if self.concat:
            self._emit(concat_spec(f, 2 * f, hw_out))
        for t in block_cs:  # t: the last block's width, to which every output state is brought
            for c in {f} | h1:
                if hw != hw_out or c != t:
                    self._emit(reduce_spec(c, t, hw, stride=2 if hw != hw_out else 1, relu=False))
            for c in block_cs - {t}:
                self._emit(reduce_spec(c, t, hw_out, stride=1, relu=False))
            for k in range(2, self.num_states + 1):
                self._emit(concat_spec(t, k * t, hw_out))
        return out


def catalogue(
    macros: Iterable[Macro],
    *,
    ops: Iterable[str],
    num_blocks: int,
    combines: Iterable[str],
    num_classes: int,
    in_channels: int,
    input_size: int,
) -> list[OpSpec]:
    """The distinct operators (by signature) of every network with one of ``macros``."""
    builder = CatalogueBuilder(ops=ops, num_blocks=num_blocks, combines=combines)
    for macro in macros:
        walk(builder, macro, num_classes=num_classes, in_channels=in_channels, input_size=input_size)
    return list(builder.found.values())
