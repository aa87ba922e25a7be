"""The sparse space's supernet: one dense network whose candidates are its magnitude-pruned copies
at their own sparsities and block shapes, trained and scored through the same path as the others."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from core.errors import NasError
from evaluators import EVALUATORS, Task
from evaluators.base import Evaluator
from evaluators.supernet.checkpoint import load_supernet, save_supernet
from evaluators.supernet.pruned import PrunedSupernet
from search_spaces import get_space
from search_spaces.ops.sparse import pruned_entries
from search_spaces.ops.sparse_modules import block_keep, sparse_layers
from tests.evaluators.supernets import SHAPE, train_and_load

pytestmark = pytest.mark.usefixtures("one_thread")


def test_a_candidate_is_the_dense_network_pruned_to_its_own_sparsities(tmp_path: Path) -> None:
    net = PrunedSupernet(macro="mobilenet_v1 w0.5", **SHAPE)
    arch = net.candidate(np.random.default_rng(0))
    sub = net.extract(arch)
    space = get_space("sparse")
    built = space.build(arch, **SHAPE)
    assert sum(p.numel() for p in sub.parameters()) == sum(p.numel() for p in built.parameters())
    assert sum(p.numel() for p in sub.parameters()) == space.cost(arch, **SHAPE).params
    # the same network by hand: dense weights copied, each layer pruned by block magnitude
    built.load_state_dict(net.net.state_dict())
    for (_, layer), (_, dense) in zip(sparse_layers(built), sparse_layers(net.net), strict=True):
        keep = block_keep(dense.weight.detach().reshape(layer.rows, layer.cols), layer.sparsity, layer.block)
        layer.mask.copy_(keep.reshape(layer.mask.shape).float())
    x = torch.randn(3, 1, 8, 8)
    with torch.no_grad():
        assert torch.allclose(sub(x), built.eval()(x), atol=1e-5)
    pruned = [(lay.mask.numel() - lay.nonzeros(), pruned_entries(lay.rows, lay.cols, lay.sparsity, lay.block))
              for _, lay in sparse_layers(sub)]  # fmt: skip
    assert all(a == b for a, b in pruned) and sum(a for a, _ in pruned) > 0
    again, _ = load_supernet(save_supernet(tmp_path / "sparse.pt", net))
    assert isinstance(again, PrunedSupernet) and again.macro == "mobilenet_v1 w0.5"
    other = space.sample(np.random.default_rng(1), {"backbone": "mobilenet_v2", "width": 0.5})
    with pytest.raises(NasError, match=r"trained at 'mobilenet_v1 w0\.5'"):
        net.extract(other)


@pytest.mark.usefixtures("ray_cluster")
def test_nas_supernet_train_for_sparse_then_the_evaluator_scores_pruned_candidates(tmp_path: Path) -> None:
    info, evaluator = train_and_load(tmp_path, "sparse")
    assert info["schedule"]["macro"] == "mobilenet_v1 w0.5" and set(info["accuracy"]) == {"dense", "random"}
    rng = np.random.default_rng(2)
    outcomes = evaluator.evaluate([evaluator.net.candidate(rng) for _ in range(3)])
    assert all(o.ok for o in outcomes), [o.error for o in outcomes]
    assert len({o.metrics["accuracy"] for o in outcomes}) > 1


def test_the_fine_tune_trains_the_kept_weights_only_and_is_repeatable(tmp_path: Path) -> None:
    from store.settings import Settings

    net = PrunedSupernet(macro="mobilenet_v1 w0.5", **SHAPE)
    checkpoint = save_supernet(tmp_path / "sparse.pt", net)
    arch = net.candidate(np.random.default_rng(3))

    def evaluator(images: int) -> Evaluator:
        return EVALUATORS.get("supernet")(task=Task("sparse", dataset="digits", **SHAPE), checkpoint=checkpoint,
                                          data_dirs=list(Settings().data_dirs), recal_images=64, val_limit=96,
                                          readout="inherited", finetune_images=images)  # fmt: skip

    plain, tuned, again = evaluator(0), evaluator(128), evaluator(128)
    before, after = plain.subnet(arch), tuned.subnet(arch)
    moved = 0
    for (name, a), (_, b) in zip(sparse_layers(before), sparse_layers(after), strict=True):
        assert torch.equal(a.mask, b.mask), name  # the fine-tune keeps each layer's sparsity pattern
        moved += int(not torch.allclose(a.weight * a.mask, b.weight * b.mask))
    assert moved == len(list(sparse_layers(after)))
    assert tuned.provenance()["finetune_images"] == 128 and "finetune_images" not in plain.provenance()
    assert tuned.score(arch) == again.score(arch) and tuned.score(arch) != plain.score(arch)
