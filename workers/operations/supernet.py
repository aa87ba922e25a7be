"""Train a weight-sharing supernet for a (space, dataset) through Ray Tune and register it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import Field

from evaluators.datasets import dataset_info
from search_spaces import get_space
from workers.operations.common import Progress, Request, Result

if TYPE_CHECKING:
    from store.session import Database
    from store.settings import Settings
    from workers.supernet_train import SupernetRun


class SupernetTrainRequest(Request):
    """``nas supernet train``'s options; everything but ``threads`` and ``name`` names the run."""

    epochs: int = Field(ge=1, description="Training epochs.")
    space: str = Field(default="mnasnet", description="Search space.")
    dataset: str = Field(default="fashion-mnist", description="fashion-mnist, digits, cifar10, imagefolder:PATH.")
    subset: int | None = Field(default=None, ge=1, description="Train on the first N training images only.")
    width: float = Field(default=1.0, gt=0.0, le=1.0, description="Width multiplier; 1 is the space itself.")
    batch_size: int = Field(default=64, ge=1)
    lr: float = Field(default=0.05, gt=0.0, description="Peak learning rate (cosine decay to 0).")
    seed: int = Field(default=0, ge=0)
    random_subnets: int = Field(default=4, ge=0, description="Random subnets per step, besides the extremes.")
    macro: str | None = Field(
        default=None, description="Cell spaces (nasnet): the macro setting trained at (default 'N=1 f=8 stem=1')."
    )
    threads: int = Field(default=1, ge=1, description="CPU threads for the training trial.")
    name: str | None = Field(default=None, description="Artifact name (default: space-dataset-epochs-digest).")

    def run(self) -> SupernetRun:
        """The run this request trains (its digest finds an interrupted or finished one)."""
        from workers.supernet_train import SupernetRun  # imports Ray: only when training

        return SupernetRun(**self.model_dump(exclude={"threads", "name"}))


class SupernetTrained(Result):
    """The registered supernet artifact."""

    artifact_id: str
    name: str
    info: dict[str, Any]


def train_supernet(
    db: Database, settings: Settings, request: SupernetTrainRequest, progress: Progress | None = None
) -> SupernetTrained:
    """Train (or resume, or find the finished) supernet of ``request`` and return its artifact.

    ``progress(epoch, epochs, "epochs")`` follows the training."""
    from workers import supernet_train

    get_space(request.space)
    dataset_info(request.dataset)
    artifact = supernet_train.train_supernet(
        request.run(), db=db, settings=settings, name=request.name, threads=request.threads, progress=progress
    )
    return SupernetTrained(artifact_id=artifact.id, name=artifact.name, info=artifact.info)
