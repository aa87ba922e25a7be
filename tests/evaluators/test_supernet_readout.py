"""The supernet evaluator's readouts: the cross-validated ridge readout is exact k-fold ridge
regression, reads the classifier's inputs, and tells separable features from noise."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from core.errors import NasError
from evaluators import EVALUATORS, Task
from evaluators.datasets import load_split
from evaluators.supernet.checkpoint import save_supernet
from evaluators.supernet.network import MnasNetSupernet
from evaluators.supernet.readout import head_features, ridge_cv_accuracy
from evaluators.supernet.training import fold_batchnorm, inherited, subnet_accuracy
from search_spaces import get_space

SHAPE = {"in_channels": 1, "input_size": 8, "num_classes": 10}
DIRS = (Path("/usr/share/datasets"),)
TASK = Task("mnasnet", dataset="digits", **SHAPE)


def ridge_by_refitting(x: torch.Tensor, y: torch.Tensor, lam: float, folds: int) -> float:
    """k-fold ridge written plainly: fit on the other folds, predict this one."""
    z = (x.double() - x.double().mean(0)) / (x.double().std(0) + 1e-6)
    z = torch.cat([z, torch.ones(len(z), 1, dtype=z.dtype)], 1)
    target = torch.nn.functional.one_hot(y).double()
    fold, hits = torch.arange(len(z)) % folds, 0
    for k in range(folds):
        fit, held = fold != k, fold == k
        a = z[fit].T @ z[fit] + lam * int(fit.sum()) * torch.eye(z.shape[1], dtype=z.dtype)
        w = torch.linalg.solve(a, z[fit].T @ target[fit])
        hits += int(((z[held] @ w).argmax(1) == y[held]).sum())
    return hits / len(z)


def test_ridge_readout_is_k_fold_ridge_regression_and_separates_signal_from_noise() -> None:
    g = torch.Generator().manual_seed(0)
    y = torch.randint(0, 10, (400,), generator=g)
    noise = torch.randn(400, 32, generator=g)
    signal = noise * 0.5 + torch.nn.functional.one_hot(y, 32).float() * 2.0  # class-dependent directions
    for x in (noise, signal):
        for lam, folds in ((0.01, 5), (0.1, 4)):
            assert ridge_cv_accuracy(x, y, lam=lam, folds=folds) == pytest.approx(
                ridge_by_refitting(x, y, lam, folds), abs=1 / 400
            )  # float32 fits may flip one near-tie
    assert ridge_cv_accuracy(signal, y) > 0.9 and ridge_cv_accuracy(noise, y) < 0.2  # chance is 0.1
    with pytest.raises(ValueError, match="at least 2 images"):
        ridge_cv_accuracy(noise[:1], y[:1])


def test_head_features_are_the_classifiers_inputs() -> None:
    torch.manual_seed(0)
    space = get_space("mnasnet")
    model = space.build(space.reference("mnasnet-a1"), **SHAPE).eval()
    data = load_split("digits", "val", data_dirs=DIRS, limit=40)
    features, logits = head_features(model, data, batch_size=16)
    classifier = [m for m in model.modules() if isinstance(m, torch.nn.Linear)][-1]
    assert features.shape == (40, classifier.in_features) and logits.shape == (40, 10)
    with torch.no_grad():
        torch.testing.assert_close(logits, model(torch.as_tensor(data.x)))
        torch.testing.assert_close(classifier(features), logits)


def test_the_inherited_readout_is_the_subnets_own_accuracy_and_a_bad_readout_is_named(tmp_path: Path) -> None:
    torch.manual_seed(0)
    net = MnasNetSupernet(**SHAPE, width=0.25)
    path = save_supernet(tmp_path / "supernet.pt", net, info={"dataset": "digits", "space": "mnasnet"})
    make = EVALUATORS.get("supernet")
    arch = get_space("mnasnet").reference("mnasnet-a1")
    plain = make(task=TASK, checkpoint=path, data_dirs=DIRS, recal_images=64, val_limit=96, readout="inherited")
    score = plain.evaluate([arch])[0].metrics["accuracy"]
    assert score == subnet_accuracy(plain.net, arch, recal=plain.recal, data=plain.val)
    ridge = make(task=TASK, checkpoint=path, data_dirs=DIRS, recal_images=64, val_limit=96)
    features, _ = head_features(fold_batchnorm(inherited(ridge.net, arch, recal=ridge.recal)), ridge.val, 64)
    assert ridge.evaluate([arch])[0].metrics["accuracy"] == ridge_cv_accuracy(features, torch.as_tensor(ridge.val.y))
    assert plain.score(arch, readout="ridge") == ridge.evaluate([arch])[0].metrics["accuracy"]  # the other readout
    with pytest.raises(NasError, match="readout must be one of ridge, inherited, got 'softmax'"):
        make(task=TASK, checkpoint=path, data_dirs=DIRS, readout="softmax")
