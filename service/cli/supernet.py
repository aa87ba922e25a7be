"""``nas supernet train | list``: train a weight-sharing supernet per (space, dataset), list the stored ones."""

from __future__ import annotations

from typing import Annotated

import typer

from service.cli.app import app
from service.cli.common import open_db, progress_bar, request, settings
from store import artifacts as repo
from workers.operations import SupernetTrainRequest, train_supernet

supernet = typer.Typer(
    help="Weight-sharing supernets: train one per (space, dataset), list them.", no_args_is_help=True
)
app.add_typer(supernet, name="supernet")


@supernet.command("train")
def train_cmd(
    epochs: Annotated[int, typer.Option(min=1, help="Training epochs.")],
    space: Annotated[str, typer.Option(help="Search space.")] = "mnasnet",
    dataset: Annotated[str, typer.Option(help="Dataset (fashion-mnist, digits, cifar10, imagefolder:PATH).")] = (
        "fashion-mnist"
    ),
    subset: Annotated[int | None, typer.Option(min=1, help="Train on the first N training images only.")] = None,
    width: Annotated[float, typer.Option(help="Width multiplier in (0, 1]; 1 is the space itself.")] = 1.0,
    batch_size: Annotated[int, typer.Option(min=1)] = 64,
    lr: Annotated[float, typer.Option(help="Peak learning rate (cosine decay to 0).")] = 0.05,
    seed: Annotated[int, typer.Option(min=0)] = 0,
    random_subnets: Annotated[
        int, typer.Option(min=0, help="Random subnets per step, besides the largest and smallest.")
    ] = 4,
    threads: Annotated[int, typer.Option(min=1, help="CPU threads for the training trial.")] = 1,
    name: Annotated[str | None, typer.Option(help="Artifact name (default: space-dataset-epochs-digest).")] = None,
    macro: Annotated[
        str | None, typer.Option(help="Cell spaces (nasnet): the macro setting trained at, e.g. 'N=1 f=8 stem=1'.")
    ] = None,
) -> None:
    """Train a supernet through Ray Tune (an interrupted run resumes when started again) and register it."""
    req = request(
        SupernetTrainRequest,
        epochs=epochs,
        space=space,
        dataset=dataset,
        subset=subset,
        width=width,
        batch_size=batch_size,
        lr=lr,
        seed=seed,
        random_subnets=random_subnets,
        threads=threads,
        name=name,
        macro=macro,
    )
    db = open_db()
    with progress_bar(f"supernet {space}/{dataset}") as update:
        trained = train_supernet(db, settings(), req, progress=update)
    info, acc = trained.info, trained.info["accuracy"]
    scores = ", ".join(f"{label} val {a['val']:.4f} test {a['test']:.4f}" for label, a in acc.items())
    typer.echo(
        f"supernet {trained.artifact_id} ({trained.name}): {info['epochs']} epochs in {info['seconds']} s; {scores}"
    )


@supernet.command("list")
def list_cmd(
    space: Annotated[str | None, typer.Option(help="Only this search space.")] = None,
    dataset: Annotated[str | None, typer.Option(help="Only this dataset.")] = None,
) -> None:
    """The registered supernet checkpoints, newest first."""
    filters = {k: v for k, v in (("space", space), ("dataset", dataset)) if v is not None}
    db = open_db()
    with db.session() as s:
        rows = repo.find_artifacts(s, "supernet", **filters)
    for r in rows:
        i, acc = r.info, r.info.get("accuracy", {})
        scores = "  ".join(f"{label} {a.get('test', float('nan')):.4f}" for label, a in acc.items())
        typer.echo(
            f"{r.id}  {r.name:28} {i.get('space', '?'):8} {i.get('dataset', '?'):14} {i.get('epochs', '?')} ep  "
            f"width {i.get('width', 1.0)}  {i.get('seconds', '?')} s  {scores} (test)  {r.created_at:%Y-%m-%d %H:%M}"
        )
