"""Contract tests run against every registered search space."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from optuna.samplers import NSGAIISampler, TPESampler
from optuna.study import create_study
from torch.utils.flop_counter import FlopCounterMode

from search_spaces import SPACES, Architecture, SearchSpace, get_space
from search_spaces.base import choices_of

SPACE_NAMES = SPACES.names()
seeds = st.integers(min_value=0, max_value=2**32 - 1)
# Build-and-trace tests skip networks above this many MACs at their input size (NASNet-A Large and
# big NASNet samples take minutes on a shared CPU); the spaces' own tests check those analytically.
# The MnasNet samples and references drawn here are all below it.
MAX_TRACED_MACS = 5e8


def _traceable(space: SearchSpace, archs: list[Architecture], **shape: int) -> list[Architecture]:
    return [a for a in archs if space.cost(a, **shape).macs <= MAX_TRACED_MACS]


def _draw(space: SearchSpace, rng: np.random.Generator, n: int, **shape: int) -> list[Architecture]:
    """The first ``n`` samples small enough to build and trace."""
    out: list[Architecture] = []
    for _ in range(50 * n):
        out += _traceable(space, [space.sample(rng)], **shape)
        if len(out) == n:
            return out
    raise AssertionError(f"{space.name}: fewer than {n} of {50 * n} samples have at most {MAX_TRACED_MACS:g} MACs")


@pytest.fixture(params=SPACE_NAMES)
def space(request: pytest.FixtureRequest) -> SearchSpace:
    return get_space(request.param)


def test_sample_is_deterministic_under_a_seed(space: SearchSpace) -> None:
    assert space.sample(np.random.default_rng(7)) == space.sample(np.random.default_rng(7))
    draws = [space.sample(np.random.default_rng(s)).arch_id for s in range(20)]
    assert len(set(draws)) > 15  # different seeds give different architectures


def test_distributions_are_fixed_and_finite(space: SearchSpace) -> None:
    first = space.distributions()
    assert first == space.distributions()
    assert all(len(choices_of(d)) >= 1 for d in first.values())


@settings(max_examples=60, deadline=None)
@given(seed=seeds)
def test_decode_inverts_to_params_and_json_round_trips(seed: int) -> None:
    for name in SPACE_NAMES:
        space = get_space(name)
        arch = space.sample(np.random.default_rng(seed))
        assert space.decode(space.to_params(arch)) == arch
        assert Architecture.from_json(arch.to_json()) == arch
        assert space.validate(arch) == arch


@settings(max_examples=60, deadline=None)
@given(seed=seeds)
def test_mutate_and_crossover_always_yield_valid_architectures(seed: int) -> None:
    for name in SPACE_NAMES:
        space = get_space(name)
        rng = np.random.default_rng(seed)
        a, b = space.sample(rng), space.sample(rng)
        child = space.mutate(a, rng)
        assert child != a
        assert space.validate(child) == child
        heavy = space.mutate(a, rng, rate=1.0)
        assert space.validate(heavy) == heavy
        kid = space.crossover(a, b, rng)
        assert space.validate(kid) == kid
        pa, pb, pk = space.to_params(a), space.to_params(b), space.to_params(kid)
        for group in space.gene_groups():  # parents are canonical and canonical() is group-local
            assert all(pk[n] == pa[n] for n in group) or all(pk[n] == pb[n] for n in group)


@settings(max_examples=30, deadline=None)
@given(seed=seeds)
def test_encode_has_a_fixed_length(seed: int) -> None:
    for name in SPACE_NAMES:
        space = get_space(name)
        vec = space.encode(space.sample(np.random.default_rng(seed)))
        assert vec.shape == (len(space.feature_names()),)
        assert np.isfinite(vec).all()


def test_optuna_samplers_drive_the_space_through_its_fixed_distributions(space: SearchSpace) -> None:
    for sampler in (NSGAIISampler(population_size=8, seed=0), TPESampler(seed=0, n_startup_trials=5)):
        study = create_study(directions=["minimize", "minimize"], sampler=sampler)
        for _ in range(20):
            trial = study.ask(fixed_distributions=space.distributions())
            arch = space.decode(trial.params)
            cost = space.cost(arch, input_size=32, num_classes=10)
            study.tell(trial, [cost.params, cost.macs])
        assert len(study.best_trials) >= 1


def test_cardinality_is_at_most_the_raw_size(space: SearchSpace) -> None:
    assert 1 <= space.cardinality() <= space.raw_cardinality()


def _macs_by_tracing(model: torch.nn.Module, size: int, in_channels: int) -> int:
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(torch.randn(1, in_channels, size, size))
    return counter.get_total_flops() // 2


@pytest.mark.parametrize("size", [32, 224])
def test_sampled_architectures_build_run_and_cost_exactly(space: SearchSpace, size: int) -> None:
    rng = np.random.default_rng(size)
    shape = {"num_classes": 10, "input_size": size}
    refs = _traceable(space, list(space.references().values()), **shape)
    archs = _draw(space, rng, 6 if size == 224 else 12, **shape) + refs
    for arch in archs:
        model = space.build(arch, num_classes=10, input_size=size).eval()
        with torch.no_grad():
            out = model(torch.randn(2, 3, size, size))
        assert out.shape == (2, 10)
        assert torch.isfinite(out).all()
        cost = space.cost(arch, num_classes=10, input_size=size)
        assert cost.params == sum(p.numel() for p in model.parameters())
        assert cost.macs == _macs_by_tracing(model, size, 3)


def test_build_honours_in_channels(space: SearchSpace) -> None:
    arch = _draw(space, np.random.default_rng(0), 1, num_classes=7, in_channels=1, input_size=28)[0]
    model = space.build(arch, num_classes=7, in_channels=1, input_size=28).eval()
    with torch.no_grad():
        assert model(torch.randn(1, 1, 28, 28)).shape == (1, 7)
    assert space.cost(arch, num_classes=7, in_channels=1, input_size=28).params == sum(
        p.numel() for p in model.parameters()
    )


def test_op_catalogue_covers_every_sampled_operator(space: SearchSpace) -> None:
    shape = {"num_classes": 10, "in_channels": 3, "input_size": 32}
    catalogue = {op.signature() for op in space.op_catalogue(**shape)}
    rng = np.random.default_rng(12345)
    for _ in range(200):
        arch = space.sample(rng)
        missing = [op.signature() for op in space.ops(arch, **shape) if op.signature() not in catalogue]
        assert not missing, f"{arch.arch_id}: {missing[:3]}"
