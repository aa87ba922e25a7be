"""The differentiable strategy: one DASS (or DARTS) search, then its genotype as the job's candidate.

A one-long-trial strategy (`Strategy.bind`): each `ask` runs ``epochs_per_ask`` search epochs
(`evaluators.dass.search.DifferentiableSearch`) and returns nothing, writing after every epoch
a checkpoint and ``history.json`` under ``<artifacts>/strategies/<job id>/`` and reporting the
epoch (phase line; a ``strategy`` event with the derived cells and the softmaxed architecture
weights). A job whose runner dies resumes from the last checkpoint. When the search is done, the
next `ask` proposes the derived genotype with the macro setting of the ``channels``, ``layers``
and ``sparsity`` options (the network that is evaluated, typically larger than the one searched);
the candidate's attrs keep the search's summary. After its result the strategy is finished.

`DassSetup` is the search's set-up (its `SearchConfig`, the proposed network's macro, loading
the data, resuming, checkpointing, deriving the architecture), shared with `nas dass search`
(`workers.operations.run_dass_search`), so the two cannot drift apart.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from core.errors import NasError
from evaluators.dass.search import DifferentiableSearch, EpochRecord, SearchConfig
from evaluators.datasets import load_split
from search_spaces.dass import DassSpace
from search_spaces.dass.genotype import Macro
from workers.strategies.base import Proposal, Record, Result, Strategy, StrategyContext

if TYPE_CHECKING:
    from core.objectives import Constraint, Objective
    from search_spaces import Architecture, SearchSpace

CHECKPOINT = "search.pt"
HISTORY = "history.json"


@dataclass(frozen=True)
class DassSetup:
    """One DASS (or DARTS) search: its settings, the network it proposes, its checkpoint folder's files."""

    config: SearchConfig
    macro: Macro  # of the proposed network: typically larger than the one searched
    threads: int | None = 1

    @classmethod
    def create(
        cls,
        space: SearchSpace,
        *,
        method: str = "dass",
        epochs: int = 10,
        phase_epochs: Sequence[int] | None = None,
        sparsity: float = 0.9,
        search_channels: int = 8,
        search_layers: int = 5,
        channels: int | None = None,
        layers: int | None = None,
        train_limit: int | None = 2000,
        batch_size: int = 32,
        lr: float = 0.025,
        arch_lr: float = 3e-4,
        seed: int = 0,
        threads: int | None = 1,
    ) -> DassSetup:
        """Validate the options (`NasError` naming the bad one) and the proposed network's macro
        (``channels`` / ``layers`` default to the searched ones, ``sparsity`` is the target's)."""
        if not isinstance(space, DassSpace):
            raise NasError(f"the dass strategy searches the dass space, not {space.name!r}")
        config = SearchConfig(
            method=method,
            epochs=epochs,
            phase_epochs=None if phase_epochs is None else tuple(phase_epochs),  # type: ignore[arg-type]
            sparsity=sparsity,
            channels=search_channels,
            layers=search_layers,
            batch_size=batch_size,
            train_limit=train_limit,
            lr=lr,
            arch_lr=arch_lr,
            seed=seed,
        )
        macro = space.check_macro(Macro(channels or search_channels, layers or search_layers, float(sparsity)))
        return cls(config=config, macro=macro, threads=threads)

    def open(self, *, dataset: str, num_classes: int, data_dirs: Sequence[Path], workdir: Path) -> DifferentiableSearch:
        """The search over ``dataset``'s training split, resumed from ``workdir``'s checkpoint if it has one."""
        train = load_split(dataset, "train", data_dirs=tuple(data_dirs), limit=self.config.train_limit)
        search = DifferentiableSearch(self.config, train=train, num_classes=num_classes, threads=self.threads)
        checkpoint = workdir / CHECKPOINT
        if checkpoint.exists():
            search.load(checkpoint)
        return search

    def save(self, search: DifferentiableSearch, workdir: Path) -> None:
        """Write the checkpoint and ``history.json`` (the config and every epoch so far, atomically)."""
        workdir.mkdir(parents=True, exist_ok=True)
        search.save(workdir / CHECKPOINT)
        history = [asdict(r) for r in search.history]
        tmp = workdir / (HISTORY + ".tmp")
        tmp.write_text(json.dumps({"config": self.config.as_dict(), "epochs": history}))
        tmp.replace(workdir / HISTORY)

    def propose(self, space: SearchSpace, search: DifferentiableSearch) -> Architecture:
        """The finished search's genotype with the proposed network's macro."""
        normal, reduce = search.genotype()
        return space.architecture(normal, reduce, self.macro)  # type: ignore[attr-defined]

    def describe(self, record: EpochRecord) -> str:
        """One epoch as a phase line."""
        return (
            f"{self.config.method} search epoch {record.epoch + 1}/{self.config.epochs} ({record.phase}): "
            f"train acc {record.train_acc:.3f}, search-val acc {record.search_val_acc:.3f}, "
            f"mask sparsity {record.mask_sparsity:.2f}"
        )


class DassStrategy(Strategy):
    """Options: ``method`` (``dass`` or ``darts``), ``epochs`` (all phases), ``phase_epochs``
    (DASS's pretrain/prune/finetune split), ``sparsity`` (DASS's target; also the proposed
    network's), the one-shot network's ``search_channels`` / ``search_layers``, the proposed
    network's ``channels`` / ``layers`` (default: the searched ones), ``train_limit`` (training
    images the search uses, half of them for architecture steps), ``batch_size``, ``lr``,
    ``arch_lr``, ``epochs_per_ask``, ``threads``."""

    name: ClassVar[str] = "dass"

    @classmethod
    def num_cpus(cls, options: Mapping[str, Any]) -> float:
        return float(options.get("threads") or 1)

    def __init__(
        self,
        *,
        space: SearchSpace,
        objectives: Sequence[Objective],
        constraints: Sequence[Constraint] = (),
        seed: int = 0,
        epochs_per_ask: int = 1,
        **search: Any,
    ) -> None:
        """``search`` holds the options of `DassSetup.create` (an unknown one is a `TypeError`)."""
        super().__init__(space=space, objectives=objectives, constraints=constraints, seed=seed)
        if epochs_per_ask < 1:
            raise NasError(f"epochs_per_ask must be at least 1, got {epochs_per_ask}")
        # the proposed network must be in the space: fail now (a 422 at submission)
        self.setup = DassSetup.create(space, seed=seed, **search)
        self.config, self.macro = self.setup.config, self.setup.macro
        self.epochs_per_ask, self.threads = epochs_per_ask, self.setup.threads
        self.context: StrategyContext | None = None
        self.search: DifferentiableSearch | None = None
        self.proposed: Architecture | None = None
        self.finished = False

    # -- the job's context ------------------------------------------------------------------------
    def bind(self, context: StrategyContext) -> None:
        self.context = context

    def replay(self, records: Sequence[Record]) -> None:
        """A stored candidate of this strategy means the search already proposed (and, with a
        result, is finished)."""
        for record in records:
            if record.attrs.get("strategy") == self.name:
                self.proposed = record.arch
                self.finished = True

    # -- ask / tell -------------------------------------------------------------------------------
    def ask(self, n: int) -> list[Proposal]:
        if self.finished or self.proposed is not None or n < 1:
            return []
        search = self._search()
        if not search.done:
            search.run(until=search.epoch + self.epochs_per_ask, progress=self._epoch_done)
            return []
        self.proposed = self.setup.propose(self.space, search)
        return [Proposal(self.proposed, self._attrs(search))]

    def tell(self, proposal: Proposal, result: Result) -> None:
        if proposal.attrs.get("strategy") == self.name:
            self.finished = True

    # -- the search -------------------------------------------------------------------------------
    def _search(self) -> DifferentiableSearch:
        if self.search is not None:
            return self.search
        if self.context is None:
            raise NasError("the dass strategy runs inside a job: it needs the runner's context (bind)")
        task = self.context.task
        if task.dataset is None:
            raise NasError("the dass strategy needs a dataset to search on")
        search = self.setup.open(
            dataset=task.dataset,
            num_classes=task.num_classes,
            data_dirs=self.context.data_dirs,
            workdir=self.context.workdir,
        )
        if search.epoch:
            self.context.report(f"dass search resumed at epoch {search.epoch}/{self.config.epochs}", None)
        self.search = search
        return search

    def _epoch_done(self, record: EpochRecord) -> None:
        assert self.context is not None and self.search is not None
        self.setup.save(self.search, self.context.workdir)
        phase = self.setup.describe(record)
        self.context.report(phase, {"strategy": self.name, "epochs": self.config.epochs, **asdict(record)})

    def _attrs(self, search: DifferentiableSearch) -> dict[str, Any]:
        last = search.history[-1] if search.history else None
        return {
            "strategy": self.name,
            "method": self.config.method,
            "search": {k: v for k, v in self.config.as_dict().items() if k != "seed"},
            "epochs": [
                {"epoch": r.epoch, "phase": r.phase, "normal": r.normal, "reduce": r.reduce, "acc": r.search_val_acc}
                for r in search.history
            ],
            "alphas": last.alphas if last is not None else {},
        }
