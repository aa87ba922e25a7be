"""Finalists: after a search, candidates spanning the cheap evaluator's score trained from scratch
(Ray Tune trials, ASHA when asked), each stored as soon as its trial ends, and the cheap score's
Kendall tau against what they measured — the job's fidelity report.

The choice is deterministic (the front's best on the metric, then evenly spaced ranks of the cheap
score), so a resumed runner picks the same finalists and trains only those not yet stored.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from scipy.stats import kendalltau

from search_spaces import Architecture
from store import jobs as repo

if TYPE_CHECKING:
    from core.spec import JobSpec
    from store.models import Candidate, Finalist
    from store.session import Database
    from store.settings import Settings
    from workers.train_trials import TrialResult

BOOTSTRAP = 2000


def choose(candidates: Sequence[Candidate], front: Sequence[int], spec: JobSpec) -> list[Candidate]:
    """Up to ``k`` of the job's scored candidates: the front's best on the metric, then candidates
    at evenly spaced ranks of its cheap score from the best to the worst."""
    f = spec.finalists
    assert f is not None
    loss = next(o.sign for o in spec.objectives if o.metric == f.metric)  # -1 for a metric maximised
    scored = sorted((c for c in candidates if c.status == "ok" and f.metric in c.metrics),
                    key=lambda c: (loss * c.metrics[f.metric], c.seq))  # fmt: skip
    if not scored:
        return []
    members = [c for c in scored if c.seq in set(front)] or scored
    picked = {members[0].seq: members[0]}
    for spread in (f.k - 1, f.k, len(scored)):  # k - 1 beside the best; k where ranks coincided; then all
        for i in np.linspace(0, len(scored) - 1, num=min(spread, len(scored))).round().astype(int):
            if len(picked) == f.k:
                return sorted(picked.values(), key=lambda c: c.seq)
            picked.setdefault(scored[i].seq, scored[i])
    return sorted(picked.values(), key=lambda c: c.seq)


def fidelity(rows: Sequence[Finalist], sign: float, seed: int = 0) -> dict[str, Any]:
    """Kendall tau between the cheap score times ``sign`` (+1 where higher is better) and the
    measured accuracy over the finalists that measured one, with a bootstrap 95% interval."""
    done = [r for r in rows if r.accuracy is not None]
    out: dict[str, Any] = {"n": len(done), "trained": len(rows), "kendall_tau": None, "ci95": None}
    if len(done) < 3:
        return out
    cheap = np.array([sign * r.cheap for r in done])
    measured = np.array([r.accuracy for r in done], float)
    tau = kendalltau(cheap, measured).statistic
    rng = np.random.default_rng(seed)
    boot = [kendalltau(cheap[i], measured[i]).statistic for i in rng.integers(len(done), size=(BOOTSTRAP, len(done)))]
    lo, hi = np.nanpercentile(boot, [2.5, 97.5])
    out["kendall_tau"] = None if np.isnan(tau) else round(float(tau), 3)
    out["ci95"] = [round(float(lo), 3), round(float(hi), 3)]
    return out


def train_finalists(
    *,
    job_id: str,
    owner: str,
    ttl: float,
    spec: JobSpec,
    db: Database,
    settings: Settings,
    phase: Callable[[str], None],
    stop: Callable[[], bool],
) -> None:
    """Train the job's finalists not yet stored, storing each as its trial ends; all trials stop
    when ``stop()`` (cancelled, lease lost) or the job's lease is found lost while storing."""
    from workers.train_trials import train_candidates  # Ray Tune: not for the API's readers of `fidelity`

    f = spec.finalists
    assert f is not None
    with db.session() as s:
        front = repo.latest_front(s, job_id)
        chosen = choose(repo.all_candidates(s, job_id), front.candidate_ids if front else [], spec)
        stored = {r.seq for r in repo.finalists(s, job_id)}
    todo = [c for c in chosen if c.seq not in stored]
    if not todo:
        return
    by_arch = {c.arch_id: c for c in todo}
    done = len(chosen) - len(todo)
    phase(f"training finalists {done}/{len(chosen)}")

    lost = False
    weights = settings.artifacts / "finalists" / job_id

    def store(result: TrialResult) -> None:
        nonlocal done, lost
        c = by_arch[result.arch_id]
        if lost or (result.stopped_early and stop()):  # stopped by us, not by ASHA: train it again on resume
            return
        kept = weights / f"{c.arch_id}.safetensors"
        done += 1
        row = repo.FinalistRow(
            seq=c.seq,
            arch_id=c.arch_id,
            metric=f.metric,
            cheap=float(c.metrics[f.metric]),
            accuracy=result.accuracy,
            epochs=result.epochs,
            stopped_early=result.stopped_early,
            seconds=result.seconds,
            weights=kept.relative_to(settings.artifacts).as_posix() if kept.exists() else None,
            error=result.error,
        )
        text = f"training finalists {done}/{len(chosen)}"
        try:
            db.retrying(lambda s: repo.record_finalist(s, job_id=job_id, owner=owner, ttl=ttl, row=row, phase=text))
        except repo.LeaseLostError:
            lost = True
        phase(text)

    archs = [Architecture.model_validate({**c.arch, "genome": tuple(c.arch["genome"])}) for c in todo]
    train_candidates(
        archs,
        task=spec.task,
        settings=settings,
        options=f.options,
        evaluator=f.evaluator,
        max_concurrent=f.max_concurrent,
        asha=f.asha,
        name=f"finalists-{job_id}",
        on_result=store,
        stop=lambda: lost or stop(),
        weights_dir=weights,
    )
    if lost:
        raise repo.LeaseLostError(f"job {job_id}: lease lost")
