"""Gradual magnitude pruning: the Zhu & Gupta schedule, and a real sparse net trained on digits."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from core.errors import NasError
from evaluators.datasets import load_split
from evaluators.pruning import GradualPruning, scheduled_sparsity
from search_spaces.ops.modules import Network
from search_spaces.ops.sparse import pruned_entries
from search_spaces.ops.sparse_modules import SparseWeight, to_dense
from search_spaces.ops.spec import OpSpec

pytestmark = pytest.mark.usefixtures("one_thread")


def test_schedule_is_zhu_and_gupta() -> None:
    kw = {"begin": 100, "end": 500, "frequency": 100}
    assert scheduled_sparsity(0, 0.9, **kw) == 0.0
    assert scheduled_sparsity(100, 0.9, **kw) == 0.0
    assert scheduled_sparsity(300, 0.9, **kw) == pytest.approx(0.9 * (1 - 0.5**3))
    assert scheduled_sparsity(399, 0.9, **kw) == scheduled_sparsity(300, 0.9, **kw)  # between pruning steps
    assert scheduled_sparsity(500, 0.9, **kw) == scheduled_sparsity(10**6, 0.9, **kw) == 0.9
    values = [scheduled_sparsity(t, 0.8, initial=0.2, **kw) for t in range(0, 600, 10)]
    assert values == sorted(values) and values[0] == 0.2
    steps = [b - a for a, b in itertools.pairwise(values) if b > a]
    assert steps == sorted(steps, reverse=True)  # prunes fast first, then slower (cubic)


def test_bad_settings_are_refused() -> None:
    model = torch.nn.Linear(2, 2)
    with pytest.raises(NasError, match="begin < end"):
        GradualPruning(model, begin=10, end=10)
    with pytest.raises(NasError, match="frequency"):
        GradualPruning(model, begin=0, end=10, frequency=0)


def small_sparse_net() -> Network:
    """Stem, two depthwise-separable layers and one more 1x1 layer, of the sparse space's operators."""

    def pw(c_in: int, c_out: int, hw: int, sparsity: float, block: int) -> OpSpec:
        return OpSpec("sparse_conv1x1", c_in, c_out, hw, attrs=(("sparsity", sparsity), ("block", block)))

    return Network(
        [
            OpSpec("mb_stem", 1, 32, 8, kernel=3),
            OpSpec("mb_depthwise", 32, 32, 8, kernel=3),
            pw(32, 64, 8, 0.8, 4),
            OpSpec("mb_depthwise", 64, 64, 8, kernel=3, stride=2),
            pw(64, 96, 4, 0.9, 1),
            pw(96, 128, 4, 0.7, 2),
            OpSpec("sparse_classifier", 128, 10, 4, attrs=(("sparsity", 0.5), ("block", 4), ("drop", 0.0))),
        ]
    )


def test_training_on_digits_reaches_each_layers_exact_sparsity(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = small_sparse_net()
    data_dirs = (tmp_path,)
    train, val = load_split("digits", "train", data_dirs=data_dirs), load_split("digits", "val", data_dirs=data_dirs)
    x, y = torch.from_numpy(train.x), torch.from_numpy(train.y)
    pruner = GradualPruning(model, begin=10, end=50, frequency=5)
    sparse = [m for m in model.modules() if isinstance(m, SparseWeight)]
    assert len(pruner.layers) == len(sparse) == 4 and all(m.nonzeros() == m.mask.numel() for m in sparse)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    generator = torch.Generator().manual_seed(0)
    model.train()
    for step in range(80):
        pruner.step(step)
        if step == 30:  # mid-schedule: every layer at its own scheduled level, exactly
            for _, layer in pruner.layers:
                level = pruner.sparsity_at(30, layer)
                assert 0 < level < layer.sparsity
                assert layer.mask.numel() - layer.nonzeros() == pruned_entries(
                    layer.rows, layer.cols, level, layer.block
                )
        batch = torch.randint(len(y), (64,), generator=generator)
        loss = F.cross_entropy(model(x[batch]), y[batch])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    report = pruner.finalize()
    for row in report:
        assert row.pruned == row.expected, row
    assert [(r.name, r.block, r.target) for r in report] == [
        ("2.0", 4, 0.8),
        ("4.0", 1, 0.9),
        ("5.0", 2, 0.7),
        ("6.3", 4, 0.5),
    ]
    assert report[1].sparsity == pytest.approx(0.9, abs=1e-3)
    assert all((m.weight[m.mask == 0] == 0).all() for m in sparse)  # pruned weights are zero in the parameters
    model.eval()
    xv = torch.from_numpy(val.x)
    with torch.inference_mode():
        logits = model(xv)  # sparse kernels
        dense_logits = to_dense(model)(xv)
    accuracy = (logits.argmax(1).numpy() == val.y).mean()
    assert torch.allclose(logits, dense_logits, atol=1e-4, rtol=1e-4)
    assert accuracy > 0.8, accuracy  # chance is 0.1; 0.965 when written
