"""Parsing shared by the cell genotypes: a cell string's tokens, its (operation, input) edges, and
the macro string ``key=value ...`` in both directions."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import astuple, dataclass, fields
from typing import Any, Generic, TypeVar

from core.errors import InvalidArchitectureError

M = TypeVar("M")


@dataclass(frozen=True)
class TwoEdges:
    """Two (operation, input state) edges: the base of a NASNet block and a DARTS node."""

    op1: str
    in1: int
    op2: str
    in2: int

    @property
    def edges(self) -> tuple[tuple[str, int], tuple[str, int]]:
        return (self.op1, self.in1), (self.op2, self.in2)


def cell_tokens(text: object, count: int, *, shape: str) -> list[str]:
    """The ``count`` space-separated tokens of a cell string (``shape`` says what they are)."""
    if not isinstance(text, str):
        raise InvalidArchitectureError(f"a cell must be a string, got {type(text).__name__}")
    tokens = text.split()
    if len(tokens) != count:
        raise InvalidArchitectureError(f"a cell is {shape} separated by spaces; got {len(tokens)} tokens")
    return tokens


def check_edges(where: str, edges: Sequence[tuple[str, int]], *, ops: Sequence[str], last_input: int) -> None:
    """Each (operation, input state) of ``where`` (e.g. ``block 2``) names an allowed operation
    and a state 0 .. ``last_input``."""
    for op, inp in edges:
        if op not in ops:
            raise InvalidArchitectureError(f"{where}: operation {op!r} is not allowed; allowed: {', '.join(ops)}")
        if inp > last_input:
            raise InvalidArchitectureError(f"{where}: input {inp} is not allowed; allowed: 0..{last_input}")


@dataclass(frozen=True)
class MacroCodec(Generic[M]):
    """The macro string of a space: ``"<key>=<value> ..."``, one key per field of the dataclass
    ``macro`` in field order (``keys``), each an int or a float by the field's type; ``placeholders``
    name the values in the error message."""

    macro: type[M]
    keys: tuple[str, ...]
    placeholders: tuple[str, ...]

    def _types(self) -> list[str]:
        return [f.type if isinstance(f.type, str) else f.type.__name__ for f in fields(self.macro)]  # type: ignore[arg-type, union-attr]

    def _pattern(self) -> re.Pattern[str]:
        number = {"int": r"(\d+)", "float": r"(\d+(?:\.\d+)?)"}
        parts = [f"{k}={number[t]}" for k, t in zip(self.keys, self._types(), strict=True)]
        return re.compile("^" + " ".join(parts) + "$")

    def format(self, macro: M) -> str:
        values = astuple(macro)  # type: ignore[call-overload]
        return " ".join(
            f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in zip(self.keys, values, strict=True)
        )

    def parse(self, text: object) -> M:
        m = self._pattern().match(text) if isinstance(text, str) else None
        if m is None:
            spelled = " ".join(f"{k}=<{p}>" for k, p in zip(self.keys, self.placeholders, strict=True))
            raise InvalidArchitectureError(f"macro {text!r}: expected '{spelled}'")
        kinds = [int if t == "int" else float for t in self._types()]
        return self.macro(*(kind(g) for kind, g in zip(kinds, m.groups(), strict=True)))

    def values(self, macro: M) -> dict[str, Any]:
        """Field name -> value."""
        return {f.name: getattr(macro, f.name) for f in fields(self.macro)}  # type: ignore[arg-type]
