"""The job runner: replay -> ask -> evaluate in batches -> store -> tell, until the budget is spent.

It owns the job through a lease renewed by a heartbeat thread; every batch is written in one
transaction that checks the lease, so a runner that lost its job (killed, presumed dead,
cancelled) stores nothing more. On start it replays every stored candidate into the strategy
and never evaluates an architecture the job already holds.
"""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING

import numpy as np

from core.metrics import get_metric
from core.objectives import violations
from core.spec import JobSpec
from evaluators.pareto import default_reference, front_indices, hypervolume
from search_spaces import Architecture
from store import jobs as repo
from store.session import Database
from workers.evaluation import recipes_for
from workers.pool import EvaluatorPool, Scored
from workers.strategies import Proposal, Record, Result
from workers.strategies.base import StrategyContext

if TYPE_CHECKING:
    from store.settings import Settings

# proposals in a row that are all known architectures before the space counts as exhausted (a converged
# NSGA-II population proposes many duplicates before mutation finds something new; asking is cheap)
STALL_PROPOSALS = 1000


class Front:
    """The job's current Pareto front, updated incrementally, and its fixed reference point."""

    def __init__(self, spec: JobSpec, reference: list[float] | None) -> None:
        self.objectives = spec.objectives
        self.constraints = spec.parsed_constraints
        self.spec_reference = spec.reference_point
        self.reference = None if reference is None else np.asarray(reference, float)
        self.seqs = np.zeros(0, dtype=int)
        self.losses = np.zeros((0, len(self.objectives)))
        self.viol = np.zeros(0)

    def add(self, seqs: list[int], metrics: list[dict[str, float]]) -> None:
        if not seqs:
            return
        losses = np.array([[o.sign * m[o.metric] for o in self.objectives] for m in metrics], float)
        viol = np.array([sum(violations(m, self.constraints)) for m in metrics], float)
        if self.reference is None:
            self.reference = self._reference(losses)
        all_seqs = np.concatenate([self.seqs, seqs])
        all_losses, all_viol = np.vstack([self.losses, losses]), np.concatenate([self.viol, viol])
        keep = front_indices(all_losses, all_viol)
        self.seqs, self.losses, self.viol = all_seqs[keep], all_losses[keep], all_viol[keep]

    def _reference(self, losses: np.ndarray) -> np.ndarray:
        """Per objective: the spec's value; else a matching constraint bound; else the value its
        metric record fixes (accuracy: 0); else the first batch's worst value plus 10% of its range."""
        fallback = default_reference(losses)
        ref = []
        for i, o in enumerate(self.objectives):
            bounds = [
                c.bound for c in self.constraints if c.metric == o.metric and (c.op == "<=") == (o.direction == "min")
            ]
            if self.spec_reference is not None:
                ref.append(o.sign * self.spec_reference[o.metric])
            elif bounds:
                ref.append(o.sign * min(bounds, key=lambda b: o.sign * b))
            elif (fixed := get_metric(o.metric).reference) is not None:
                ref.append(o.sign * fixed)
            else:
                ref.append(float(fallback[i]))
        return np.asarray(ref, float)

    @property
    def hypervolume(self) -> float:
        if self.reference is None or not len(self.seqs) or np.any(self.viol > 0):
            return 0.0
        return hypervolume(self.losses, self.reference)


class JobRunner:
    """Runs one job to the end of its budget (or its cancellation, or its failure)."""

    def __init__(self, *, job_id: str, owner: str, settings: Settings, ttl: float | None = None) -> None:
        self.job_id, self.owner, self.settings = job_id, owner, settings
        self.ttl = ttl or settings.lease_seconds
        self.db = Database(settings.db_url)
        self.lost = threading.Event()
        self._stop = threading.Event()
        self.phase = "starting"

    # -- lease --------------------------------------------------------------------------------
    def _heartbeat(self) -> None:
        while not self._stop.wait(self.ttl / 3):
            try:
                ok = self.db.retrying(
                    lambda s: repo.renew_lease(s, job_id=self.job_id, owner=self.owner, ttl=self.ttl, phase=self.phase)
                )
            except Exception:  # the database is away: the lease simply runs out
                continue
            if not ok:
                self.lost.set()
                return

    def _set_phase(self, phase: str) -> None:
        self.phase = phase

    # -- the loop -----------------------------------------------------------------------------
    def run(self) -> str:
        """Returns the job's final state, or ``"lease lost"``."""
        beat = threading.Thread(target=self._heartbeat, name=f"lease-{self.job_id[:8]}", daemon=True)
        beat.start()
        pool: EvaluatorPool | None = None
        try:
            with self.db.session() as s:
                spec = JobSpec.model_validate(repo.get_job(s, self.job_id).spec)
            self._set_phase("preparing evaluators")
            recipes = recipes_for(
                spec,
                db=self.db,
                settings=self.settings,
                progress=lambda d, t, p: self._set_phase(f"measuring latency table {d}/{t}"),
            )
            pool = EvaluatorPool(recipes, size=self.settings.pool_size, candidate_timeout=spec.candidate_timeout())
            state = self._search(spec, pool)
            if state[0] == "succeeded" and spec.finalists is not None:
                pool.close()  # its CPUs go to the trials
                pool = None
                state = self._finalists(spec, state)
            self.db.retrying(
                lambda s: repo.finish_job(s, job_id=self.job_id, owner=self.owner, state=state[0], error=state[1])
            )
            return state[0]
        except repo.LeaseLostError:
            return "lease lost"
        except Exception as e:
            reason = f"{type(e).__name__}: {e}"
            try:
                self.db.retrying(
                    lambda s: repo.finish_job(s, job_id=self.job_id, owner=self.owner, state="failed", error=reason)
                )
            except repo.LeaseLostError:
                return "lease lost"
            return "failed"
        finally:
            self._stop.set()
            if pool is not None:
                pool.close()
            self.db.dispose()

    def _report(self, phase: str, event: dict | None = None) -> None:
        """A strategy's progress: the phase line, and optionally a ``strategy`` event."""
        self._set_phase(phase)
        if event is not None:
            self.db.retrying(lambda s: repo.add_event(s, job_id=self.job_id, kind="strategy", payload=event))

    def _search(self, spec: JobSpec, pool: EvaluatorPool) -> tuple[str, str | None]:
        strategy = spec.make_strategy()
        workdir = self.settings.artifacts / "strategies" / self.job_id
        task = spec.task
        strategy.bind(StrategyContext(self.job_id, task, tuple(self.settings.data_dirs), workdir, self._report))
        with self.db.session() as s:
            stored = repo.all_candidates(s, self.job_id)
            last = repo.latest_front(s, self.job_id)
            job = repo.get_job(s, self.job_id)
            started = job.started_at
        seen: dict[str, Result] = {}
        records = []
        for c in stored:
            result = Result(c.metrics if c.status == "ok" else None)
            seen[c.arch_id] = result
            records.append(
                Record(
                    Architecture.model_validate({**c.arch, "genome": tuple(c.arch["genome"])}), result, c.strategy_attrs
                )
            )
        strategy.replay(records)
        front = Front(spec, None if last is None else last.reference_point)
        ok = [c for c in stored if c.status == "ok"]
        front.add([c.seq for c in ok], [c.metrics for c in ok])
        evaluated, stall = len(stored), 0
        deadline = (
            None
            if spec.budget.wall_seconds is None or started is None
            else started.timestamp() + spec.budget.wall_seconds
        )
        while evaluated < spec.budget.candidates:
            if strategy.finished:
                return "succeeded", f"the {spec.strategy.name} strategy finished after {evaluated} candidates"
            if self.lost.is_set():
                raise repo.LeaseLostError("lease lost")
            if self._cancel_requested():
                return "cancelled", None
            if deadline is not None and time.time() > deadline:
                return "succeeded", f"stopped at the wall-time budget ({spec.budget.wall_seconds:g} s)"
            self._set_phase(f"searching {evaluated}/{spec.budget.candidates}")
            proposals = strategy.ask(min(spec.batch_size, spec.budget.candidates - evaluated))
            fresh: dict[str, list[Proposal]] = {}
            for p in proposals:
                if p.arch.arch_id in seen:
                    strategy.tell(p, seen[p.arch.arch_id])  # answered from the database
                else:
                    fresh.setdefault(p.arch.arch_id, []).append(p)
            if not fresh:
                stall += len(proposals)
                if stall >= STALL_PROPOSALS:
                    return "succeeded", f"search space exhausted after {evaluated} distinct architectures"
                continue
            stall = 0
            answers = pool.score([group[0].arch for group in fresh.values()], until=deadline)
            unfinished = [arch_id for arch_id, a in zip(fresh, answers, strict=True) if a is None]
            fresh = {arch_id: g for (arch_id, g), a in zip(fresh.items(), answers, strict=True) if a is not None}
            scored = [a for a in answers if a is not None]
            firsts = [group[0] for group in fresh.values()]
            rows = [self._row(spec, p, s) for p, s in zip(firsts, scored, strict=True)]
            ok_rows = [(i, r) for i, r in enumerate(rows) if r.status == "ok"]
            new_seqs = [evaluated + i for i, _ in ok_rows]
            front.add(new_seqs, [r.metrics for _, r in ok_rows])
            update = repo.FrontUpdate(
                step=evaluated + len(rows),
                hypervolume=front.hypervolume,
                reference_point=[float(x) for x in front.reference] if front.reference is not None else [],
                members=[int(x) for x in front.seqs],
            )
            phase = f"searching {evaluated + len(rows)}/{spec.budget.candidates}"
            self.db.retrying(
                lambda s, rows=rows, update=update, phase=phase: repo.record_batch(
                    s, job_id=self.job_id, owner=self.owner, ttl=self.ttl, rows=rows, front=update, phase=phase
                )
            )
            evaluated += len(rows)
            for (arch_id, group), s in zip(fresh.items(), scored, strict=True):
                result = Result(s.metrics if s.ok else None)
                seen[arch_id] = result
                for p in group:
                    strategy.tell(p, result)
            if unfinished:
                return "succeeded", (
                    f"stopped at the wall-time budget ({spec.budget.wall_seconds:g} s) within a batch: "
                    f"{len(unfinished)} candidates unfinished, not stored"
                )
        return "succeeded", None

    def _finalists(self, spec: JobSpec, searched: tuple[str, str | None]) -> tuple[str, str | None]:
        """Train the finalists (`workers.finalists`); cancelled or lease lost stops their trials."""
        from workers.finalists import train_finalists  # Ray Tune: only jobs that train finalists import it

        train_finalists(
            job_id=self.job_id,
            owner=self.owner,
            ttl=self.ttl,
            spec=spec,
            db=self.db,
            settings=self.settings,
            phase=self._set_phase,
            stop=lambda: self.lost.is_set() or self._cancel_requested(),
        )
        if self.lost.is_set():
            raise repo.LeaseLostError("lease lost")
        return ("cancelled", None) if self._cancel_requested() else searched

    def _row(self, spec: JobSpec, proposal: Proposal, scored: Scored) -> repo.CandidateRow:
        arch = proposal.arch
        if not scored.ok:
            return repo.CandidateRow(
                arch.arch_id,
                arch.to_dict(),
                "failed",
                error="; ".join(scored.errors),
                strategy_attrs=proposal.attrs,
                seconds=scored.seconds,
                feasible=False,
            )
        v = violations(scored.metrics, spec.parsed_constraints)
        return repo.CandidateRow(
            arch.arch_id,
            arch.to_dict(),
            "ok",
            metrics=scored.metrics,
            provenance=scored.provenance,
            feasible=not any(v),
            violation=float(sum(v)),
            strategy_attrs=proposal.attrs,
            seconds=scored.seconds,
        )

    def _cancel_requested(self) -> bool:
        with self.db.session() as s:
            return bool(repo.get_job(s, self.job_id).cancel_requested)


def run_job(job_id: str, owner: str, settings: Settings, ttl: float | None = None) -> str:
    """Entry point for a Ray actor or a plain process."""
    return JobRunner(job_id=job_id, owner=owner, settings=settings, ttl=ttl).run()
