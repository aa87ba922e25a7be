"""A DASS (or DARTS) search in this process, checkpointed and resumable, registered as an artifact.

The run's folder is ``<artifacts>/dass/<method>-<dataset>-<digest of the settings>`` (or the
request's ``workdir``): an interrupted search started again with the same settings continues from
its last epoch. The set-up (config, proposed macro, data, checkpoint, ``history.json``) is the
``dass`` strategy's (`workers.strategies.dass.DassSetup`). At the end the folder is registered
as a ``dass_search`` artifact when it lies under the artifact root; with ``evaluate`` the found
network is also trained from scratch with gradual pruning to its sparsity (``sparse_train``).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field

from evaluators.datasets import dataset_info
from search_spaces import Architecture, get_space
from store import artifacts as repo
from workers.operations.common import Progress, Request, Result, no_progress
from workers.strategies.dass import DassSetup

if TYPE_CHECKING:
    from evaluators.dass.search import EpochRecord
    from store.session import Database
    from store.settings import Settings


class DassSearchRequest(Request):
    """``nas dass search``'s options."""

    dataset: str = Field(default="fashion-mnist", description="fashion-mnist, digits, cifar10, imagefolder:PATH.")
    method: Literal["dass", "darts"] = Field(default="dass", description="dass (sparse objective) or darts (dense).")
    epochs: int = Field(default=10, ge=1, description="Search epochs (DASS: pretrain + prune + finetune).")
    sparsity: float = Field(default=0.9, description="Target sparsity of the searched and the proposed network.")
    search_channels: int = Field(default=8, ge=2, description="C of the one-shot network.")
    search_layers: int = Field(default=5, ge=1, description="Cells of the one-shot network.")
    channels: int | None = Field(default=None, description="C of the found network (default: searched).")
    layers: int | None = Field(default=None, description="Cells of the found network (default: searched).")
    train_limit: int | None = Field(default=2000, ge=2, description="Training images used (half for arch steps).")
    batch_size: int = Field(default=32, ge=1)
    lr: float = Field(default=0.025, description="Weight learning rate (cosine to 0.001).")
    arch_lr: float = Field(default=3e-4, description="Architecture learning rate (Adam).")
    seed: int = Field(default=0, ge=0)
    threads: int = Field(default=1, ge=1, description="CPU threads.")
    workdir: Path | None = Field(default=None, description="Checkpoint folder (default: under the artifacts).")
    evaluate: bool = Field(default=False, description="Train the found network with pruning and report accuracy.")
    eval_epochs: int = Field(default=5, ge=1, description="Epochs of that training.")

    def setup(self) -> DassSetup:
        fields = self.model_dump(exclude={"dataset", "workdir", "evaluate", "eval_epochs"})
        return DassSetup.create(get_space("dass"), **fields)


class DassSearchResult(Result):
    """The found architecture, the run's folder and artifact (None outside the artifact root)."""

    artifact_id: str | None
    folder: Path
    arch: Architecture
    resumed_from: int  # epochs done before this call
    evaluation: dict[str, float] | None = None  # sparse_train's metrics, with ``evaluate``


def workdir_of(settings: Settings, request: DassSearchRequest, setup: DassSetup) -> Path:
    """The run's folder: the request's, else one named by the digest of the search's settings."""
    if request.workdir is not None:
        return request.workdir.resolve()
    fields = {"dataset": request.dataset, **setup.config.as_dict()}
    digest = hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()
    return (settings.artifacts / "dass" / f"{request.method}-{request.dataset}-{digest[:12]}").resolve()


def describe_epoch(epochs: int, r: EpochRecord) -> str:
    """An epoch as ``nas dass search`` prints it: losses, accuracies, sparsity and the derived cells."""
    return (
        f"epoch {r.epoch + 1}/{epochs} {r.phase:8} loss {r.train_loss:.3f} train acc {r.train_acc:.3f} "
        f"search-val acc {r.search_val_acc:.3f} mask sparsity {r.mask_sparsity:.2f} {r.seconds:.0f} s\n"
        f"  normal {r.normal}\n  reduce {r.reduce}"
    )


def _evaluate(settings: Settings, request: DassSearchRequest, arch: Architecture) -> dict[str, float]:
    from evaluators.base import Task
    from evaluators.dass.sparse_train import SparseTrainEvaluator

    info = dataset_info(request.dataset)
    task = Task(space="dass", in_channels=info.in_channels, input_size=info.input_size,
                num_classes=info.num_classes, dataset=request.dataset)  # fmt: skip
    evaluator = SparseTrainEvaluator(
        task=task, data_dirs=settings.data_dirs, epochs=request.eval_epochs, seed=request.seed
    )
    return evaluator.evaluate_one(arch)


def run_dass_search(
    db: Database, settings: Settings, request: DassSearchRequest, progress: Progress | None = None
) -> DassSearchResult:
    """Search (resuming from the folder's checkpoint), register the folder, return the found architecture.

    ``progress(epochs done, epochs, text)`` follows the epochs: once on resuming, then after every
    epoch with the epoch's line (`describe_epoch`)."""
    progress = progress or no_progress
    info = dataset_info(request.dataset)
    setup = request.setup()
    folder = workdir_of(settings, request, setup)
    search = setup.open(dataset=request.dataset, num_classes=info.num_classes, data_dirs=settings.data_dirs,
                        workdir=folder)  # fmt: skip
    resumed_from = search.epoch
    if resumed_from:
        progress(resumed_from, request.epochs, f"resumed {folder} at epoch {resumed_from}/{request.epochs}")

    def epoch_done(record: EpochRecord) -> None:
        setup.save(search, folder)
        progress(record.epoch + 1, request.epochs, describe_epoch(request.epochs, record))

    search.run(progress=epoch_done)
    arch = setup.propose(get_space("dass"), search)
    evaluation = _evaluate(settings, request, arch) if request.evaluate else None
    meta: dict[str, Any] = {"dataset": request.dataset, "arch": arch.to_dict(), "arch_id": arch.arch_id}
    meta |= setup.config.as_dict()
    if evaluation is not None:
        meta["evaluation"] = evaluation
    artifact_id = None
    if folder.is_relative_to(settings.artifacts.resolve()):
        folder.mkdir(parents=True, exist_ok=True)
        with db.session() as session:
            row = repo.register_artifact(
                session, root=settings.artifacts, path=folder, kind="dass_search", name=folder.name, info=meta
            )
            artifact_id = row.id
    return DassSearchResult(
        artifact_id=artifact_id,
        folder=folder,
        arch=arch,
        resumed_from=resumed_from,
        evaluation=evaluation,
    )
