"""The ``supernet`` evaluator: accuracy of a candidate with weights inherited from a trained supernet.

Per candidate: extract the subnet, re-estimate its BatchNorm statistics on a fixed, seeded
sample of training images (a few hundred), fold BatchNorm into the convolutions, then run the
validation split in batches of 64 and score it by ``readout`` (`readout.py`): by default the
cross-validated accuracy of a linear readout fitted on the subnet's own head features, or
(``readout="inherited"``) the accuracy of the inherited classifier. The checkpoint and the data
are loaded once; results are cached by architecture id.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import numpy as np
import torch
from pydantic import Field

from core.errors import NasError
from evaluators.base import DataDirs, Evaluator, EvaluatorOptions, Need, StoredArtifact, Task
from evaluators.datasets import Arrays, load_split, recalibration_images
from evaluators.supernet.checkpoint import load_supernet
from evaluators.supernet.readout import READOUTS, readout_accuracy
from evaluators.supernet.training import SCORE_BATCH, FineTune, fold_batchnorm, inherited

if TYPE_CHECKING:
    from search_spaces import Architecture

FINETUNE_SEED = 11  # the fine-tune's images (the recalibration sample's seed is RECAL_SEED)


class SupernetEvaluator(Evaluator):
    """``accuracy`` on the validation split with inherited weights after BatchNorm recalibration,
    read out by ``readout``; optionally after a short fixed fine-tune (``finetune_images``)."""

    name: ClassVar[str] = "supernet"
    produces: ClassVar[tuple[str, ...]] = ("accuracy",)
    timeout_s: ClassVar[float] = 600.0  # training from scratch / scoring a subnet
    needs: ClassVar[tuple[Need, ...]] = (
        StoredArtifact(
            kind="supernet",
            option="checkpoint",
            match=("space", "dataset"),
            path_arg="checkpoint",
            id_arg="artifact_id",
            hint="nas supernet train --space {space} --dataset {dataset} --epochs E",
        ),
        DataDirs(),
    )

    class Options(EvaluatorOptions):
        checkpoint: str | None = Field(None, description="Supernet artifact id or name (default: the newest).")
        recal_images: int = Field(256, ge=1, description="Training images for BatchNorm recalibration.")
        val_limit: int | None = Field(None, ge=1, description="Validation images scored (None: all).")
        batch_size: int = Field(SCORE_BATCH, ge=1, le=4096)
        threads: int | None = Field(None, ge=1, le=256, description="Intra-op threads (default: torch's).")
        readout: Literal["ridge", "inherited"] = Field(
            "ridge", description="ridge: a cross-validated linear readout per candidate; inherited: the shared head."
        )
        finetune_images: int = Field(
            0, ge=0, le=100_000, description="Fine-tune each subnet for one epoch on this many train images (0: none)."
        )
        finetune_lr: float = Field(0.01, gt=0.0, le=1.0, description="The fine-tune's first learning rate (cosine).")

    def __init__(
        self,
        *,
        task: Task,
        checkpoint: str | Path,
        data_dirs: Sequence[str | Path],
        artifact_id: str | None = None,
        recal_images: int = 256,
        val_limit: int | None = None,
        batch_size: int = SCORE_BATCH,
        threads: int | None = None,
        readout: str = "ridge",
        finetune_images: int = 0,
        finetune_lr: float = 0.01,
    ) -> None:
        if task.dataset is None:
            raise NasError("supernet evaluator: the task names no dataset to score on")
        if recal_images < 1 or batch_size < 1:
            raise NasError(
                f"supernet evaluator: recal_images and batch_size must be >= 1, got {recal_images}, {batch_size}"
            )
        if readout not in READOUTS:
            raise NasError(f"supernet evaluator: readout must be one of {', '.join(READOUTS)}, got {readout!r}")
        if threads:
            torch.set_num_threads(threads)
        self.task, self.artifact_id, self.batch_size, self.readout = task, artifact_id, batch_size, readout
        self.checkpoint = Path(checkpoint)
        self.net, self.info = load_supernet(self.checkpoint)
        if self.net.space.name != task.space or self.net.shape != task.shape:
            raise NasError(
                f"supernet checkpoint {self.checkpoint.name} was trained for {self.net.space.name} at "
                f"{self.net.shape}; the task is {task.space} at {task.shape}"
            )
        if self.info.get("dataset") not in (None, task.dataset):
            raise NasError(
                f"supernet checkpoint {self.checkpoint.name} was trained on {self.info['dataset']!r}, "
                f"not {task.dataset!r}"
            )
        dirs = tuple(Path(d) for d in data_dirs)
        self.val = load_split(task.dataset, "val", data_dirs=dirs, limit=val_limit)
        train = load_split(task.dataset, "train", data_dirs=dirs)
        self.recal = recalibration_images(train, recal_images)
        self.tune = None
        if finetune_images > 0:  # seeded images apart from the recalibration sample's seed
            count = min(finetune_images, len(train))
            pick = np.sort(np.random.default_rng(FINETUNE_SEED).choice(len(train), count, replace=False))
            self.tune = FineTune(Arrays(train.x[pick], train.y[pick]), lr=finetune_lr)
        self.cache: dict[str, dict[str, float]] = {}
        self.computed = 0  # subnets actually evaluated (cache misses)

    def evaluate_one(self, arch: Architecture) -> dict[str, float]:
        if arch.arch_id not in self.cache:
            self.cache[arch.arch_id] = {"accuracy": self.score(arch)}
            self.computed += 1
        return dict(self.cache[arch.arch_id])

    def score(self, arch: Architecture, *, readout: str | None = None, recal: np.ndarray | None = None) -> float:
        """``arch``'s score, uncached; ``readout`` and ``recal`` default to the evaluator's own."""
        model = fold_batchnorm(self.subnet(arch, recal=recal))
        return readout_accuracy(model, self.val, readout=readout or self.readout, batch_size=self.batch_size)

    def subnet(self, arch: Architecture, *, recal: np.ndarray | None = None) -> torch.nn.Module:
        """``arch``'s network as scored (before BatchNorm folding): inherited weights, the fine-tune
        when asked, BatchNorm re-estimated on ``recal`` (default: the evaluator's images)."""
        return inherited(self.net, arch, recal=self.recal if recal is None else recal, tune=self.tune)

    def provenance(self) -> dict[str, Any]:
        """What produced the scores; the fine-tune's keys appear only where one ran."""
        tuned = {"finetune_images": len(self.tune.data), "finetune_lr": self.tune.lr} if self.tune else {}
        return {
            "evaluator": self.name,
            "artifact_id": self.artifact_id,
            "checkpoint": self.checkpoint.name,
            "width": self.net.width,
            "recal_images": len(self.recal),
            "val_images": len(self.val),
            "readout": self.readout,
        } | tuned
