"""``nas dass search``: a DASS (or DARTS) search in this process, checkpointed and resumable.

The run's folder is ``<artifacts>/dass/<digest of the settings>`` (or ``--workdir``): an
interrupted search started again with the same settings continues from its last epoch. At the end
the folder (checkpoint and per-epoch ``history.json``) is registered as a ``dass_search`` artifact
and the found architecture is printed as JSON; ``--evaluate`` also trains it from scratch with
gradual pruning to its sparsity (the ``sparse_train`` evaluator) and prints its accuracy.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict
from pathlib import Path
from typing import Annotated

import typer

from evaluators.dass.search import DifferentiableSearch, EpochRecord, SearchConfig
from evaluators.datasets import dataset_info, load_split
from search_spaces import get_space
from search_spaces.dass.genotype import Macro
from service.cli.app import app
from service.cli.common import console, open_db, settings
from store import artifacts as repo

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
    info = dataset_info(dataset)
    config = SearchConfig(
        method=method,
        epochs=epochs,
        sparsity=sparsity,
        channels=search_channels,
        layers=search_layers,
        batch_size=batch_size,
        train_limit=train_limit,
        lr=lr,
        arch_lr=arch_lr,
        seed=seed,
    )
    space = get_space("dass")
    macro = space.check_macro(Macro(channels or search_channels, layers or search_layers, float(sparsity)))  # type: ignore[attr-defined]
    s = settings()
    digest = hashlib.sha256(json.dumps({"dataset": dataset, **config.as_dict()}, sort_keys=True).encode()).hexdigest()
    folder = (workdir or s.artifacts / "dass" / f"{method}-{dataset}-{digest[:12]}").resolve()
    checkpoint = folder / "search.pt"
    train = load_split(dataset, "train", data_dirs=s.data_dirs, limit=train_limit)
    search = DifferentiableSearch(config, train=train, num_classes=info.num_classes, threads=threads)
    if checkpoint.exists():
        search.load(checkpoint)
        console.print(f"resumed {folder} at epoch {search.epoch}/{epochs}")

    def report(r: EpochRecord) -> None:
        search.save(checkpoint)
        (folder / "history.json").write_text(json.dumps([asdict(h) for h in search.history]))
        typer.echo(
            f"epoch {r.epoch + 1}/{epochs} {r.phase:8} loss {r.train_loss:.3f} train acc {r.train_acc:.3f} "
            f"search-val acc {r.search_val_acc:.3f} mask sparsity {r.mask_sparsity:.2f} {r.seconds:.0f} s\n"
            f"  normal {r.normal}\n  reduce {r.reduce}"
        )

    search.run(progress=report)
    normal, reduce = search.genotype()
    arch = space.architecture(normal, reduce, macro)  # type: ignore[attr-defined]
    db = open_db(s)
    info_json = {"dataset": dataset, "arch": arch.to_dict(), "arch_id": arch.arch_id, **config.as_dict()}
    if evaluate:
        from evaluators.base import Task
        from evaluators.dass.sparse_train import SparseTrainEvaluator

        task = Task(space="dass", in_channels=info.in_channels, input_size=info.input_size,
                    num_classes=info.num_classes, dataset=dataset)  # fmt: skip
        evaluator = SparseTrainEvaluator(task=task, data_dirs=s.data_dirs, epochs=eval_epochs, seed=seed)
        metrics = evaluator.evaluate_one(arch)
        info_json["evaluation"] = metrics
        typer.echo(
            f"sparse_train: accuracy {metrics['accuracy']:.4f} at sparsity {metrics['sparsity']:.3f}, "
            f"{metrics['nonzero_params']:.0f} of {metrics['params']:.0f} parameters"
        )
    with db.session() as session:
        row = repo.register_artifact(
            session, root=s.artifacts, path=folder, kind="dass_search", name=folder.name, info=info_json
        ) if folder.is_relative_to(s.artifacts) else None  # fmt: skip
        artifact = row.id if row is not None else None
    console.print(f"artifact {artifact or '(outside the artifact root, not registered)'}: {folder}")
    typer.echo(arch.to_json(indent=2))
