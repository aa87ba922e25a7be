"""`CellSpace`: the base of the spaces whose genome is ``[normal cell, reduction cell, macro]``.

A subclass supplies its genes (``_dists``, ``_groups`` and ``ops_allowed`` in its constructor),
how one cell reads from and writes to the parameter dict (`_cell`, `_cell_params`), its cell
strings (`parse_cell`, `format_cell`), its macro (`macro_genes`, `macro_codec`), the size of
one cell (`cell_cardinality`) and its network (`network_steps`, `network`). The rest — genome
parsing with errors naming ``genome[i]``, the macro checks, cardinality, ``steps``/``ops``/``build``
— is here once.
"""

from __future__ import annotations

import itertools
import math
from abc import abstractmethod
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from core.errors import InvalidArchitectureError
from search_spaces.base import Params, SearchSpace, choices_of

if TYPE_CHECKING:
    from optuna.distributions import BaseDistribution

    from search_spaces.arch import Architecture
    from search_spaces.cells.genotype import MacroCodec
    from search_spaces.cells.network import CellNetwork
    from search_spaces.cells.steps import Step
    from search_spaces.ops.spec import OpSpec

CELLS = ("n", "r")  # gene prefixes: normal, reduction
CELL_NAMES = {"n": "normal", "r": "reduction"}


def checked_ops(ops: Sequence[str], allowed: Sequence[str]) -> tuple[str, ...]:
    """``ops`` if it is a non-empty subset of ``allowed``, else a `ValueError` listing them."""
    unknown = [o for o in ops if o not in allowed]
    if unknown or not ops:
        raise ValueError(f"ops: unknown {unknown}; allowed: {', '.join(allowed)}")
    return tuple(ops)


def _number(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


class CellSpace(SearchSpace):
    """A normal and a reduction cell plus macro genes (see the module docstring)."""

    macro_genes: ClassVar[tuple[str, ...]]
    macro_codec: ClassVar[MacroCodec[Any]]
    ops_allowed: tuple[str, ...]
    _dists: dict[str, BaseDistribution]
    _groups: list[list[str]]

    # -- what a cell space supplies --------------------------------------------------------------
    @abstractmethod
    def _cell(self, params: Mapping[str, Any], p: str) -> Any:
        """The cell with gene prefix ``p`` of a parameter dict."""

    @abstractmethod
    def _cell_params(self, cell: Any, p: str) -> Params:
        """Inverse of `_cell`."""

    @abstractmethod
    def parse_cell(self, text: str) -> Any:
        """A cell string -> cell (`InvalidArchitectureError` naming the block or node)."""

    @abstractmethod
    def format_cell(self, cell: Any) -> str:
        """Inverse of `parse_cell`."""

    @abstractmethod
    def cell_cardinality(self) -> int:
        """Distinct cells of one type."""

    @abstractmethod
    def network_steps(self, normal: Any, reduction: Any, macro: Any, *, shape: dict[str, int]) -> list[Step]:
        """The network's steps (operators and wiring) for the task ``shape``."""

    @abstractmethod
    def network(self, steps: list[Step], macro: Any, *, shape: dict[str, int]) -> CellNetwork:
        """The torch network running ``steps``."""

    # -- genes -----------------------------------------------------------------------------------
    def distributions(self) -> dict[str, BaseDistribution]:
        return dict(self._dists)

    def gene_groups(self) -> list[list[str]]:
        return [list(g) for g in self._groups]

    def cells_of(self, params: Mapping[str, Any]) -> tuple[Any, Any, Any]:
        """Normal cell, reduction cell and macro setting of a parameter dict."""
        normal, reduction = (self._cell(params, p) for p in CELLS)
        return normal, reduction, self.macro_codec.macro(*(params[g] for g in self.macro_genes))

    def params_of(self, normal: Any, reduction: Any, macro: Any) -> Params:
        """Inverse of `cells_of` (values not yet checked against the space)."""
        return {**self._cell_params(normal, "n"), **self._cell_params(reduction, "r"), **self._macro_params(macro)}

    def _macro_params(self, macro: Any) -> Params:
        return dict(zip(self.macro_genes, self.macro_codec.values(macro).values(), strict=True))

    def check_macro(self, macro: Any) -> Any:
        """``macro`` if the space allows each of its values; else `InvalidArchitectureError`
        naming the gene and the allowed values."""
        for gene, value in self._macro_params(macro).items():
            allowed = choices_of(self._dists[gene])
            if value not in allowed:
                raise InvalidArchitectureError(
                    f"{gene} {_number(value)} is not allowed; allowed: {', '.join(map(_number, allowed))}"
                )
        return macro

    def architecture(self, normal: Any, reduction: Any, macro: Any) -> Architecture:
        """The validated architecture of two cells and a macro setting."""
        return self.decode(self.params_of(normal, reduction, macro))

    def parse_genome(self, genome: Sequence[str]) -> Params:
        if len(genome) != 3:
            raise InvalidArchitectureError(
                f"genome: {self.name} genomes are [normal cell, reduction cell, macro]; got {len(genome)} strings"
            )
        params: Params = {}
        for i, p in enumerate(CELLS):
            try:
                cell = self.parse_cell(genome[i])
            except InvalidArchitectureError as e:
                raise InvalidArchitectureError(f"genome[{i}] ({CELL_NAMES[p]} cell): {e}") from None
            params |= self._cell_params(cell, p)
        try:
            params |= self._macro_params(self.check_macro(self.macro_codec.parse(genome[2])))
        except InvalidArchitectureError as e:
            raise InvalidArchitectureError(f"genome[2] (macro): {e}") from None
        return params

    def format_genome(self, params: Mapping[str, Any]) -> tuple[str, ...]:
        normal, reduction, macro = self.cells_of(params)
        return self.format_cell(normal), self.format_cell(reduction), self.macro_codec.format(macro)

    # -- size ------------------------------------------------------------------------------------
    def cardinality(self) -> int:
        macro = math.prod(len(choices_of(self._dists[g])) for g in self.macro_genes)
        return self.cell_cardinality() ** 2 * macro

    def macros(self) -> list[Any]:
        """Every macro setting the space allows."""
        values = itertools.product(*(choices_of(self._dists[g]) for g in self.macro_genes))
        return [self.macro_codec.macro(*v) for v in values]

    # -- layers ----------------------------------------------------------------------------------
    def steps(
        self, arch: Architecture, *, num_classes: int = 1000, in_channels: int = 3, input_size: int = 224
    ) -> list[Step]:
        """The network's steps (operators and wiring)."""
        shape = {"num_classes": num_classes, "in_channels": in_channels, "input_size": input_size}
        return self.network_steps(*self.cells_of(self.to_params(arch)), shape=shape)

    def ops(
        self, arch: Architecture, *, num_classes: int = 1000, in_channels: int = 3, input_size: int = 224
    ) -> list[OpSpec]:
        steps = self.steps(arch, num_classes=num_classes, in_channels=in_channels, input_size=input_size)
        return [s.spec for s in steps]

    def build(
        self, arch: Architecture, *, num_classes: int = 1000, in_channels: int = 3, input_size: int = 224
    ) -> CellNetwork:
        """The cells wired as a DAG; its modules are exactly `ops` (``model.specs``)."""
        shape = {"num_classes": num_classes, "in_channels": in_channels, "input_size": input_size}
        normal, reduction, macro = self.cells_of(self.to_params(arch))
        return self.network(self.network_steps(normal, reduction, macro, shape=shape), macro, shape=shape)
