"""``nas dass search``: a DASS (or DARTS) search in this process, checkpointed and resumable.

The run's folder is ``<artifacts>/dass/<digest of the settings>`` (or ``--workdir``): an
interrupted search started again with the same settings continues from its last epoch. At the end
the folder (checkpoint and per-epoch ``history.json``) is registered as a ``dass_search`` artifact
and the found architecture is printed as JSON; ``--evaluate`` also trains it from scratch with
gradual pruning to its sparsity (the ``sparse_train`` evaluator) and prints its accuracy.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from service.cli.app import app
from service.cli.common import console, open_db, request, settings
from workers.operations import DassSearchRequest, run_dass_search

dass = typer.Typer(
    help="Differentiable architecture search for sparse networks (DASS) and DARTS.", no_args_is_help=True
)
app.add_typer(dass, name="dass")


@dass.command("search")
def search_cmd(
    dataset: Annotated[str, typer.Option(help="Dataset (fashion-mnist, digits, cifar10, imagefolder:PATH).")] = (
        "fashion-mnist"
    ),
    method: Annotated[str, typer.Option(help="dass (sparse objective) or darts (dense).")] = "dass",
    epochs: Annotated[int, typer.Option(min=1, help="Search epochs (DASS: pretrain + prune + finetune).")] = 10,
    sparsity: Annotated[float, typer.Option(help="Target sparsity of the searched and the proposed network.")] = 0.9,
    search_channels: Annotated[int, typer.Option(min=2, help="C of the one-shot network.")] = 8,
    search_layers: Annotated[int, typer.Option(min=1, help="Cells of the one-shot network.")] = 5,
    channels: Annotated[int | None, typer.Option(help="C of the found network (default: searched).")] = None,
    layers: Annotated[int | None, typer.Option(help="Cells of the found network (default: searched).")] = None,
    train_limit: Annotated[int | None, typer.Option(min=2, help="Training images used (half for arch steps).")] = 2000,
    batch_size: Annotated[int, typer.Option(min=1)] = 32,
    lr: Annotated[float, typer.Option(help="Weight learning rate (cosine to 0.001).")] = 0.025,
    arch_lr: Annotated[float, typer.Option(help="Architecture learning rate (Adam).")] = 3e-4,
    seed: Annotated[int, typer.Option(min=0)] = 0,
    threads: Annotated[int, typer.Option(min=1, help="CPU threads.")] = 1,
    workdir: Annotated[Path | None, typer.Option(help="Checkpoint folder (default: under the artifacts).")] = None,
    evaluate: Annotated[bool, typer.Option(help="Train the found network with pruning and report accuracy.")] = False,
    eval_epochs: Annotated[int, typer.Option(min=1, help="Epochs of that training.")] = 5,
) -> None:
    """Search, print each epoch, register the result and print the found architecture."""
    req = request(
        DassSearchRequest,
        dataset=dataset,
        method=method,
        epochs=epochs,
        sparsity=sparsity,
        search_channels=search_channels,
        search_layers=search_layers,
        channels=channels,
        layers=layers,
        train_limit=train_limit,
        batch_size=batch_size,
        lr=lr,
        arch_lr=arch_lr,
        seed=seed,
        threads=threads,
        workdir=workdir,
        evaluate=evaluate,
        eval_epochs=eval_epochs,
    )

    def report(done: int, total: int, text: str) -> None:
        (console.print if text.startswith("resumed ") else typer.echo)(text)

    s = settings()
    result = run_dass_search(open_db(s), s, req, progress=report)
    metrics = result.evaluation
    if metrics is not None:
        typer.echo(
            f"sparse_train: accuracy {metrics['accuracy']:.4f} at sparsity {metrics['sparsity']:.3f}, "
            f"{metrics['nonzero_params']:.0f} of {metrics['params']:.0f} parameters"
        )
    console.print(f"artifact {result.artifact_id or '(outside the artifact root, not registered)'}: {result.folder}")
    typer.echo(result.arch.to_json(indent=2))
