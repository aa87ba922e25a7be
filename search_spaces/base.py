"""The search-space contract.

A space is a *fixed* dict of Optuna distributions plus a bijection between parameter dicts and
genomes (human-readable gene strings). Everything generic — sampling, mutation, crossover, the
numeric encoding for predictors, counting, building and costing — is written once here on top of
that dict, so a new space supplies only its genes, its canonical form and its layers.
"""

from __future__ import annotations

import copy
import itertools
import math
from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
from optuna.distributions import BaseDistribution, CategoricalDistribution, IntDistribution

from core.errors import InvalidArchitectureError, UnknownPluginError
from search_spaces.arch import Architecture
from search_spaces.ops.spec import Cost, OpSpec, total_cost

if TYPE_CHECKING:
    from torch import nn

Params = dict[str, Any]


def choices_of(dist: BaseDistribution) -> tuple[Any, ...]:
    """Every value a (finite) distribution allows, in order."""
    if isinstance(dist, CategoricalDistribution):
        return tuple(dist.choices)
    if isinstance(dist, IntDistribution):
        return tuple(range(dist.low, dist.high + 1, dist.step))
    raise TypeError(f"search spaces use finite distributions only, not {type(dist).__name__}")


def unique_ops(ops: Iterable[OpSpec]) -> list[OpSpec]:
    """Operators with distinct signatures, in first-seen order."""
    seen: dict[str, OpSpec] = {}
    for op in ops:
        seen.setdefault(op.signature(), op)
    return list(seen.values())


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _same_kind(a: Any, b: Any) -> bool:
    """Equal values of comparable kinds: 3 matches 3.0, but neither "3" nor True."""
    return type(a) is type(b) or (_is_number(a) and _is_number(b))


class SearchSpace(ABC):
    """A search space: what architectures exist, how to draw and vary them, how to build them.

    Contract for implementations:

    * `distributions` returns the same ordered dict for every call and every architecture
      (conditional genes are always present and ignored where inactive), so NSGA-II and
      multivariate TPE see one stable relative space. Only finite distributions are allowed.
    * `parse_genome` turns a genome into a parameter dict (raising `InvalidArchitectureError`
      that names ``genome[i]``, the field and the allowed values); `format_genome` is its inverse.
    * `canonical` maps every parameter dict to the representative of the networks it builds
      (inactive genes set to their first choice, equivalent spellings merged), acting within
      each gene group of `gene_groups`; `arch_id` therefore identifies a *network*.
    * `ops` lists the layers of an architecture as `OpSpec`s: the built model, its cost and its
      latency-table keys all come from this one list.
    * No global RNG: every random method takes a `numpy.random.Generator`.
    """

    name: ClassVar[str]
    version: ClassVar[str]
    description: ClassVar[str] = ""
    # published benchmark tables shipped with the space (CSV, units in the headers): the ``tabular``
    # evaluator imports them on first use when no table of the space is stored
    tables: ClassVar[dict[str, Path]] = {}  # artifact name -> file

    # -- what an implementation supplies ------------------------------------------------------
    @abstractmethod
    def distributions(self) -> dict[str, BaseDistribution]:
        """The fixed, ordered Optuna distributions of every gene."""

    @abstractmethod
    def parse_genome(self, genome: Sequence[str]) -> Params:
        """Genome -> parameter dict (values not yet range-checked)."""

    @abstractmethod
    def format_genome(self, params: Mapping[str, Any]) -> tuple[str, ...]:
        """Canonical parameter dict -> genome."""

    @abstractmethod
    def ops(
        self, arch: Architecture, *, num_classes: int = 1000, in_channels: int = 3, input_size: int = 224
    ) -> list[OpSpec]:
        """The layers of ``arch`` for the given task shape."""

    @abstractmethod
    def reference_genomes(self) -> dict[str, tuple[str, ...]]:
        """Named published architectures expressed in this space."""

    def canonical(self, params: Params) -> Params:
        """Representative parameters of the same network (default: the parameters themselves)."""
        return params

    def gene_groups(self) -> list[list[str]]:
        """Genes that belong together (crossover keeps a group intact). Default: one gene each."""
        return [[name] for name in self.distributions()]

    # -- parameters <-> architectures ----------------------------------------------------------
    def check_params(self, params: Mapping[str, Any]) -> Params:
        """Exactly the space's genes, each with an allowed value; else `InvalidArchitectureError`."""
        dists = self.distributions()
        missing = [n for n in dists if n not in params]
        extra = [n for n in params if n not in dists]
        if missing or extra:
            raise InvalidArchitectureError(
                f"{self.name} parameters: missing {missing or 'none'}, unknown {extra or 'none'}"
            )
        out: Params = {}
        for name, dist in dists.items():
            value, allowed = params[name], choices_of(dist)
            same = [a for a in allowed if a == value and _same_kind(a, value)]
            if not same:
                listed = ", ".join(map(str, allowed))
                raise InvalidArchitectureError(f"{name}: {value!r} is not allowed; allowed: {listed}")
            out[name] = same[0]
        return out

    def decode(self, params: Mapping[str, Any]) -> Architecture:
        """Parameter dict (e.g. Optuna ``trial.params``) -> canonical architecture."""
        canonical = self.canonical(self.check_params(params))
        return Architecture(space=self.name, version=self.version, genome=self.format_genome(canonical))

    def to_params(self, arch: Architecture) -> Params:
        """Inverse of `decode`: the architecture's parameter dict."""
        self._check_header(arch)
        return self.check_params(self.parse_genome(arch.genome))

    def validate(self, arch: Architecture) -> Architecture:
        """The canonical form of ``arch``; `InvalidArchitectureError` names what is wrong."""
        return self.decode(self.to_params(arch))

    def from_genome(self, genome: Sequence[str]) -> Architecture:
        """Validated architecture of this space from its genes."""
        return self.validate(Architecture(space=self.name, version=self.version, genome=tuple(genome)))

    def _check_header(self, arch: Architecture) -> None:
        if arch.space != self.name:
            raise InvalidArchitectureError(f"space: {arch.space!r} is not {self.name!r}")
        if arch.version != self.version:
            raise InvalidArchitectureError(
                f"version: {self.name} version {arch.version!r} is not supported; allowed: {self.version}"
            )

    def restricted(self, fixed: Mapping[str, Any]) -> SearchSpace:
        """This space with each gene of ``fixed`` held at its value: `distributions` offers only that
        value, so drawing, mutation, crossover and every Optuna sampler keep it (a supernet trained
        at one macro setting scores only candidates there). `InvalidArchitectureError` names an
        unknown gene or a value it does not allow."""
        dists = self.distributions()
        unknown = [n for n in fixed if n not in dists]
        if unknown:
            raise InvalidArchitectureError(f"{self.name}: unknown genes {unknown}; genes: {', '.join(dists)}")
        held: dict[str, BaseDistribution] = {}
        for name, value in fixed.items():
            allowed = choices_of(dists[name])
            same = [a for a in allowed if a == value and _same_kind(a, value)]
            if not same:
                raise InvalidArchitectureError(
                    f"{name}: {value!r} is not allowed; allowed: {', '.join(map(str, allowed))}"
                )
            dist = dists[name]
            held[name] = (
                IntDistribution(same[0], same[0])
                if isinstance(dist, IntDistribution)
                else CategoricalDistribution((same[0],))
            )
        out = copy.copy(self)
        narrowed = {**dists, **held}
        out.distributions = lambda: narrowed  # type: ignore[method-assign]
        return out

    # -- random variation -----------------------------------------------------------------------
    def sample(self, rng: np.random.Generator, fixed: Mapping[str, Any] | None = None) -> Architecture:
        """Each gene drawn uniformly from its choices; ``fixed`` genes then set to the values given
        (before the canonical form, so genes that depend on them keep their draws)."""
        drawn = {n: self._draw(choices_of(d), rng) for n, d in self.distributions().items()}
        return self.decode({**drawn, **(fixed or {})})

    def sample_balanced(self, n: int, rng: np.random.Generator) -> list[Architecture]:
        """``n`` architectures in which every gene takes each of its choices equally often, as far as
        ``n`` allows (FairNAS's strict fairness): per gene, random orders of its choices, one after
        another, cut to ``n``."""
        columns: dict[str, list[Any]] = {}
        for name, dist in self.distributions().items():
            choices = choices_of(dist)
            order = np.concatenate([rng.permutation(len(choices)) for _ in range(-(-n // len(choices)))])
            columns[name] = [choices[int(i)] for i in order[:n]]
        return [self.decode({name: column[i] for name, column in columns.items()}) for i in range(n)]

    def mutate(self, arch: Architecture, rng: np.random.Generator, *, rate: float | None = None) -> Architecture:
        """A different architecture: each gene re-drawn (to another value) with probability ``rate``
        (default 1/number of genes), at least one gene always."""
        params = self.to_params(arch)
        dists = self.distributions()
        names = list(dists)
        p = 1.0 / len(names) if rate is None else rate
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"rate must be within [0, 1], got {rate}")
        for _ in range(100):
            hit = rng.random(len(names)) < p
            if not hit.any():
                hit[rng.integers(len(names))] = True
            child = dict(params)
            for name in itertools.compress(names, hit):
                others = [c for c in choices_of(dists[name]) if c != params[name]]
                if others:
                    child[name] = self._draw(others, rng)
            out = self.decode(child)
            if out != arch:
                return out
        raise InvalidArchitectureError(f"{self.name}: found no distinct mutation of {arch.arch_id}")

    def crossover(self, a: Architecture, b: Architecture, rng: np.random.Generator) -> Architecture:
        """Uniform crossover of gene groups: each group comes whole from one parent."""
        pa, pb = self.to_params(a), self.to_params(b)
        child: Params = {}
        for group in self.gene_groups():
            source = pa if rng.random() < 0.5 else pb
            child.update({n: source[n] for n in group})
        return self.decode(child)

    @staticmethod
    def _draw(choices: Sequence[Any], rng: np.random.Generator) -> Any:
        return choices[int(rng.integers(len(choices)))]

    # -- numeric encoding for predictors -------------------------------------------------------
    def feature_names(self) -> list[str]:
        """Names of `encode`'s columns: numeric genes as values, other genes one-hot."""
        names: list[str] = []
        for gene, dist in self.distributions().items():
            choices = choices_of(dist)
            if all(_is_number(c) for c in choices):
                names.append(gene)
            else:
                names.extend(f"{gene}={c}" for c in choices)
        return names

    def encode(self, arch: Architecture) -> np.ndarray:
        """Fixed-length float vector (same length for every architecture of the space)."""
        params = self.to_params(arch)
        row: list[float] = []
        for gene, dist in self.distributions().items():
            choices = choices_of(dist)
            if all(_is_number(c) for c in choices):
                row.append(float(params[gene]))
            else:
                row.extend(1.0 if params[gene] == c else 0.0 for c in choices)
        return np.asarray(row, dtype=np.float64)

    # -- size --------------------------------------------------------------------------------------
    def raw_cardinality(self) -> int:
        """Number of parameter dicts (the paper-style product of choice counts)."""
        return math.prod(len(choices_of(d)) for d in self.distributions().values())

    def cardinality(self) -> int:
        """Number of distinct canonical architectures (distinct networks)."""
        dists = self.distributions()
        base = {n: choices_of(d)[0] for n, d in dists.items()}
        total = 1
        for group in self.gene_groups():
            seen = set()
            for combo in itertools.product(*(choices_of(dists[n]) for n in group)):
                canon = self.canonical({**base, **dict(zip(group, combo, strict=True))})
                seen.add(tuple(canon[n] for n in group))
            total *= len(seen)
        return total

    def summary(self, arch: Architecture) -> str:
        """One line for tables and hover labels (default: the genes joined)."""
        return " | ".join(arch.genome)

    # -- references ----------------------------------------------------------------------------------
    def references(self) -> dict[str, Architecture]:
        """Named published architectures, validated."""
        return {name: self.from_genome(g) for name, g in self.reference_genomes().items()}

    def reference(self, name: str) -> Architecture:
        refs = self.reference_genomes()
        if name not in refs:
            known = ", ".join(sorted(refs)) or "(none)"
            raise UnknownPluginError(f"{self.name} has no reference architecture {name!r}; known: {known}")
        return self.from_genome(refs[name])

    # -- operators -------------------------------------------------------------------------------
    def op_catalogue(self, *, num_classes: int = 1000, in_channels: int = 3, input_size: int = 224) -> list[OpSpec]:
        """Every distinct operator (by signature) the space's networks contain for this task shape:
        what a latency table must measure. Spaces that can enumerate exactly override this; the
        default is the union over the references and 2,000 seeded samples (it may miss rare
        operators, which the latency evaluator then reports as missing)."""
        rng = np.random.default_rng(0)
        archs = [*self.references().values(), *(self.sample(rng) for _ in range(2000))]
        shape = {"num_classes": num_classes, "in_channels": in_channels, "input_size": input_size}
        return unique_ops(op for arch in archs for op in self.ops(arch, **shape))

    # -- networks ------------------------------------------------------------------------------------
    def build(
        self, arch: Architecture, *, num_classes: int = 1000, in_channels: int = 3, input_size: int = 224
    ) -> nn.Module:
        """A freshly initialised torch model of ``arch``."""
        from search_spaces.ops.modules import Network

        return Network(self.ops(arch, num_classes=num_classes, in_channels=in_channels, input_size=input_size))

    def cost(self, arch: Architecture, *, num_classes: int = 1000, in_channels: int = 3, input_size: int = 224) -> Cost:
        """Exact parameters and MACs, computed from `ops` without building the model."""
        return total_cost(self.ops(arch, num_classes=num_classes, in_channels=in_channels, input_size=input_size))
