"""How the ``supernet`` evaluator turns a subnet with inherited weights into a score.

``inherited``: top-1 accuracy with every inherited weight, the classifier included.
``ridge`` (default): the inherited network up to its pooled head features, read out by a linear
classifier fitted per candidate — one-hot ridge regression on standardised features, penalty
``lam`` per fitted image — and scored by k-fold cross-validation over the validation images, so
every image is predicted by a readout not fitted on it. The supernet's shared classifier is trained
on the mixture of every subnet's features; a candidate's own readout measures how separable its
features are, which ranks candidates like training them from scratch far better than the shared
classifier's accuracy does (docs/supernet.md, seventh session). Same forward passes as
``inherited``; the fits add about 0.06 s per candidate (width 0.5, 2,000 images, one thread).
"""

from __future__ import annotations

import torch
from torch import nn

from evaluators.datasets import Arrays
from evaluators.supernet.training import batches, channels_last
from search_spaces.ops.sparse_modules import SparseLinear

READOUTS = ("ridge", "inherited")


@torch.inference_mode()
def head_features(model: nn.Module, data: Arrays, batch_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The inputs of ``model``'s last linear layer (its pooled head features; the sparse space's
    classifier is a `SparseLinear`) and its logits on ``data``."""
    model.eval()
    classifier = [m for m in model.modules() if isinstance(m, nn.Linear | SparseLinear)][-1]
    seen: list[torch.Tensor] = []
    hook = classifier.register_forward_hook(lambda _m, inputs, _out: seen.append(inputs[0]))
    try:
        logits = torch.cat([model(channels_last(x)) for x, _ in batches(data, batch_size)])
    finally:
        hook.remove()
    return torch.cat(seen), logits


def ridge_cv_accuracy(features: torch.Tensor, labels: torch.Tensor, *, lam: float = 0.01, folds: int = 5) -> float:
    """Accuracy of a one-hot ridge-regression readout on ``features`` under ``folds``-fold
    cross-validation (image i in fold i mod ``folds``; penalty ``lam`` x the fitted images; features
    standardised over all images, which uses no labels)."""
    if len(features) < 2:
        raise ValueError(f"a cross-validated readout needs at least 2 images, got {len(features)}")
    folds = min(folds, len(features))
    x = features.float()
    x = (x - x.mean(0)) / (x.std(0) + 1e-6)
    x = torch.cat([x, torch.ones(len(x), 1, dtype=x.dtype)], 1)
    y = torch.nn.functional.one_hot(labels, int(labels.max()) + 1).float()
    parts = [torch.arange(len(x)) % folds == k for k in range(folds)]
    grams = [(x[p].T @ x[p], x[p].T @ y[p]) for p in parts]  # per fold; the totals are their sums
    gram, cross = sum(g for g, _ in grams), sum(c for _, c in grams)
    eye = torch.eye(x.shape[1])
    correct = 0
    for part, (g, c) in zip(parts, grams, strict=True):
        factor = torch.linalg.cholesky(gram - g + lam * int((~part).sum()) * eye)
        weights = torch.cholesky_solve(cross - c, factor)
        correct += int(((x[part] @ weights).argmax(1) == labels[part]).sum())
    return correct / max(1, len(x))


def readout_accuracy(model: nn.Module, data: Arrays, *, readout: str, batch_size: int) -> float:
    """``model``'s score on ``data`` by ``readout`` (one of `READOUTS`)."""
    features, logits = head_features(model, data, batch_size)
    labels = torch.as_tensor(data.y)
    if readout == "inherited":
        return float((logits.argmax(1) == labels).float().mean())
    return ridge_cv_accuracy(features, labels)
