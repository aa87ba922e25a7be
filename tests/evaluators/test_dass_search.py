"""The DASS/DARTS search: mixed operations, scored sparse layers, phases, checkpoints, sparse training."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from evaluators.base import Task
from evaluators.dass.search import DifferentiableSearch, SearchConfig
from evaluators.dass.sparse_train import SparseTrainEvaluator
from evaluators.dass.supernet import MixedOp, SearchNetwork, SparseConv2d
from evaluators.datasets import load_split
from search_spaces import get_space
from search_spaces.dass.genotype import PRIMITIVES, edge_count
from search_spaces.ops.sparse import n_pruned
from search_spaces.ops.sparse_modules import sparse_layers

DATA = (Path("/nonexistent"),)  # digits come with scikit-learn


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def digits():
    return load_split("digits", "train", data_dirs=DATA, limit=32)


def tiny(method: str = "dass", **kw: object) -> SearchConfig:
    """One step per epoch of a one-shot network with a normal and two reduction cells."""
    base = {"epochs": 3, "phase_epochs": (1, 1, 1), "channels": 2, "layers": 3, "batch_size": 16, "arch_lr": 3e-2}
    return SearchConfig(method=method, **{**base, **kw})  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def whole(digits) -> DifferentiableSearch:
    """A DASS search run uninterrupted."""
    search = DifferentiableSearch(tiny(), train=digits, num_classes=10)
    search.run()
    return search


def test_mixed_op_is_the_weighted_sum_of_every_primitive_and_backpropagates() -> None:
    torch.manual_seed(0)
    op = MixedOp(4, stride=2)
    x = torch.randn(2, 4, 6, 6, requires_grad=True)
    alpha = torch.randn(len(PRIMITIVES), requires_grad=True)
    w = F.softmax(alpha, dim=0)
    out = op(x, w)
    assert out.shape == (2, 4, 3, 3)
    expected = sum(wi * o(x) for wi, o in zip(w, op.ops, strict=True))
    torch.testing.assert_close(out, expected)
    out.square().sum().backward()
    assert alpha.grad is not None and alpha.grad.abs().sum() > 0
    assert x.grad is not None and torch.isfinite(x.grad).all()
    sep = op.ops[PRIMITIVES.index("sep_conv_3x3")]
    assert all(m.weight.grad is not None for m in sep.modules() if isinstance(m, SparseConv2d))


def test_one_shot_network_gives_gradients_to_the_architecture_and_the_weights() -> None:
    net = SearchNetwork(channels=4, layers=3, num_classes=10, in_channels=1, seed=0)  # normal, reduce, reduce
    assert net.alphas_normal.shape == (edge_count(), len(PRIMITIVES))
    F.cross_entropy(net(torch.randn(3, 1, 8, 8)), torch.tensor([0, 1, 2])).backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in net.arch_parameters())
    assert net.stem[0].weight.grad is not None
    assert all(p.grad is None for p in net.score_parameters())  # dense: the scores take no part


def test_masks_prune_exactly_the_target_and_scores_learn_straight_through() -> None:
    conv = SparseConv2d(6, 8, 3, padding=1)
    conv.scale_scores()
    conv.sparsity = 0.9
    mask = conv.mask()
    assert int((mask == 0).sum()) == n_pruned(conv.weight.numel(), 0.9)
    magnitude = conv.weight.detach().abs().flatten()
    assert magnitude[mask.flatten() == 1].min() >= magnitude[mask.flatten() == 0].max()  # scaled init: by magnitude
    conv(torch.randn(2, 6, 5, 5)).sum().backward()
    assert conv.scores.grad is not None and conv.scores.grad.abs().sum() > 0
    net = SearchNetwork(channels=4, layers=2, num_classes=10, in_channels=1, seed=0)
    net.set_sparsity(0.9)
    total = sum(m.weight.numel() for m in net.sparse_layers())
    pruned = sum(n_pruned(m.weight.numel(), 0.9) for m in net.sparse_layers())
    assert net.mask_sparsity() == pytest.approx(pruned / total) and abs(pruned / total - 0.9) < 0.01


def test_dass_phases_reach_the_target_sparsity_and_darts_stays_dense(digits, whole) -> None:
    search = whole
    assert [r.phase for r in search.history] == ["pretrain", "prune", "finetune"]
    assert search.history[0].mask_sparsity == 0.0
    assert all(abs(r.mask_sparsity - 0.9) < 0.01 for r in search.history[1:])
    assert not search.net.stem[0].scores.requires_grad  # finetune: masks fixed
    darts = DifferentiableSearch(tiny("darts", epochs=1, phase_epochs=None), train=digits, num_classes=10)
    darts.run()
    assert {r.phase for r in darts.history} == {"pretrain"} and all(r.mask_sparsity == 0 for r in darts.history)
    normal, reduce = search.genotype()
    assert len(normal.nodes) == len(reduce.nodes) == 4
    alphas = np.array(search.history[-1].alphas["normal"])
    assert alphas.shape == (edge_count(), len(PRIMITIVES)) and np.allclose(alphas.sum(1), 1, atol=1e-3)


def test_a_search_resumed_from_its_checkpoints_continues_exactly(digits, whole, tmp_path: Path) -> None:
    path = tmp_path / "search.pt"
    for _ in range(3):  # a fresh process at every epoch: pretrain -> prune -> finetune boundaries
        part = DifferentiableSearch(tiny(), train=digits, num_classes=10)
        if path.exists():
            part.load(path)
        part.run_epoch()
        part.save(path)
    assert part.done and part.epoch == 3
    for a, b in zip(whole.net.arch_parameters(), part.net.arch_parameters(), strict=True):
        torch.testing.assert_close(a, b)
    assert [r.normal for r in whole.history] == [r.normal for r in part.history]
    assert [round(r.train_loss, 6) for r in whole.history] == [round(r.train_loss, 6) for r in part.history]
    with pytest.raises(Exception, match="other settings"):
        DifferentiableSearch(tiny(sparsity=0.5), train=digits, num_classes=10).load(path)


def test_sparse_train_prunes_to_the_genome_sparsity_and_reports_exact_counts() -> None:
    space = get_space("dass")
    arch = space.reference("darts-v2-cpu")
    task = Task(space="dass", in_channels=1, input_size=8, num_classes=10, dataset="digits")
    evaluator = SparseTrainEvaluator(
        task=task, data_dirs=DATA, epochs=1, batch_size=32, train_limit=64, val_limit=64, recal_images=64
    )
    [outcome] = evaluator.evaluate([arch])
    assert outcome.ok, outcome.error
    m = outcome.metrics
    assert abs(m["sparsity"] - 0.9) < 0.001 and 0.0 <= m["accuracy"] <= 1.0
    model, _ = evaluator.train_one(arch)
    layers = sparse_layers(model)
    nonzero = sum(int(torch.count_nonzero(layer.weight)) for _, layer in layers)
    assert nonzero <= sum(layer.nonzeros() for _, layer in layers)  # pruned weights are zeroed in the parameters
    shape = task.shape
    assert m["params"] == space.cost(arch, **shape).params
    kept_weights = sum(layer.nonzeros() for _, layer in layers)
    other = m["params"] - sum(layer.mask.numel() for _, layer in layers)
    assert m["nonzero_params"] == kept_weights + other


@pytest.mark.parametrize(("sparsity", "train_scores"), [(0.0, False), (0.9, True), (0.9, False)])
def test_the_default_one_shot_network_computes_what_the_reference_path_computes(sparsity, train_scores) -> None:
    """Same outputs, gradients (architecture, weights, scores) and BN statistics as the unoptimised
    per-primitive network, in float64 so that summation order cannot hide a difference."""
    nets = [
        SearchNetwork(channels=4, layers=3, num_classes=10, in_channels=1, seed=0, reference=r).double()
        for r in (True, False)
    ]
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(6, 1, 12, 12, generator=gen, dtype=torch.float64)
    y = torch.tensor([0, 1, 2, 3, 4, 5])
    for net in nets:
        if sparsity:
            net.scale_scores()
        net.set_sparsity(sparsity)
        for p in net.score_parameters():
            p.requires_grad_(train_scores)
        F.cross_entropy(net(x), y).backward()
    ref, new = nets
    for (name, p), (_, q) in zip(ref.named_parameters(), new.named_parameters(), strict=True):
        assert (p.grad is None) == (q.grad is None), name
        if p.grad is None:
            continue
        if name.endswith("scores"):
            # Entries the mask prunes: their straight-through gradient reads channels that the
            # masks left without any kept weight; BatchNorm normalises such a channel's rounding
            # noise (~1e-17, which depends on summation order) to O(1) values, in either path.
            layer = new.get_submodule(name.rsplit(".", 1)[0])
            kept = layer.mask().bool()
            torch.testing.assert_close(q.grad[kept], p.grad[kept], rtol=1e-9, atol=1e-12, msg=name)
        else:
            torch.testing.assert_close(q.grad, p.grad, rtol=1e-9, atol=1e-12, msg=name)
    for (name, p), (_, q) in zip(ref.named_buffers(), new.named_buffers(), strict=True):
        torch.testing.assert_close(q, p, rtol=1e-9, atol=1e-12, msg=name)
    ref.eval(), new.eval()
    with torch.no_grad():
        torch.testing.assert_close(new(x), ref(x), rtol=1e-9, atol=1e-12)


def test_a_default_search_follows_the_reference_search(digits) -> None:
    """Three phases, both step kinds: the optimised steps (architecture gradient only, frozen
    architecture in the weight step) give the reference's history up to float32 rounding."""
    runs = [DifferentiableSearch(tiny(), train=digits, num_classes=10, reference=r) for r in (True, False)]
    for run in runs:
        run.run()
    ref, new = runs
    for a, b in zip(ref.net.arch_parameters(), new.net.arch_parameters(), strict=True):
        torch.testing.assert_close(b, a, rtol=1e-4, atol=1e-5)
    assert [r.normal for r in ref.history] == [r.normal for r in new.history]
    assert [r.train_loss for r in new.history] == pytest.approx([r.train_loss for r in ref.history], rel=1e-4)
    assert [r.mask_sparsity for r in new.history] == [r.mask_sparsity for r in ref.history]
