"""The controller's scheduler: takes runnable jobs from the database and runs them on Ray.

The database is the queue. Every tick it fails jobs whose runners died too often, then claims
queued jobs (and running jobs whose lease expired) up to ``max_running_jobs`` and starts a
`RunnerActor` for each. A runner that dies simply stops renewing its lease; the next tick after
the lease expires claims the job again and a new runner resumes it from the database.
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING, Any

import ray

from store import jobs as repo
from store.session import Database
from workers import threads
from workers.runner import run_job
from workers.strategies import STRATEGIES

if TYPE_CHECKING:
    from store.settings import Settings

log = logging.getLogger(__name__)
MAX_ATTEMPTS = 5


class RunnerActor:
    """Hosts one `JobRunner` in its own Ray worker process (it needs no CPU of its own: the
    evaluator pool does the work)."""

    def run(self, job_id: str, owner: str, settings: Settings, ttl: float | None) -> str:
        return run_job(job_id, owner, settings, ttl)


class Scheduler:
    """Claims runnable jobs and starts runners; `tick` once, or `start` a background loop."""

    def __init__(self, settings: Settings, *, poll_seconds: float = 0.5) -> None:
        self.settings = settings
        self.db = Database(settings.db_url)
        self.poll = poll_seconds
        self.running: dict[str, tuple[Any, Any]] = {}  # job id -> (actor handle, run() ref)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def tick(self) -> list[str]:
        """One scheduling round; returns the ids of the jobs started."""
        self._reap()
        started = []
        with self.db.session() as s:
            repo.fail_exhausted(s, max_attempts=MAX_ATTEMPTS)
            free = self.settings.max_running_jobs - len(self.running)
            candidates = repo.runnable_jobs(s, limit=max(0, free)) if free > 0 else []
        for job_id in candidates:
            if job_id in self.running:
                continue
            owner = repo.new_id()
            with self.db.session() as s:
                if not repo.claim_job(s, job_id=job_id, owner=owner, ttl=self.settings.lease_seconds):
                    continue
            self._start(job_id, owner)
            started.append(job_id)
        return started

    def _start(self, job_id: str, owner: str) -> None:
        with self.db.session() as s:
            strategy = repo.get_job(s, job_id).spec.get("strategy", {})
        cpus = STRATEGIES.get(strategy.get("name", "nsga2")).num_cpus(strategy.get("options", {}))
        name = f"nas-job-{job_id}-{owner[:8]}"
        options: dict[str, Any] = {**threads.actor_options(cpus), "max_restarts": 0, "name": name}
        if self.settings.ray_address:  # a persistent cluster: the run outlives an API restart
            options["lifetime"] = "detached"
        actor = ray.remote(RunnerActor).options(**options).remote()
        self.running[job_id] = (actor, actor.run.remote(job_id, owner, self.settings, self.settings.lease_seconds))
        log.info("job %s: runner %s started", job_id, owner[:8])

    def _reap(self) -> None:
        """Forget finished runners (a crashed one leaves its lease to expire)."""
        if not self.running:
            return
        refs = {ref: job_id for job_id, (_, ref) in self.running.items()}
        done, _ = ray.wait(list(refs), num_returns=len(refs), timeout=0)
        for ref in done:
            job_id = refs[ref]
            try:
                log.info("job %s: runner ended (%s)", job_id, ray.get(ref))
            except Exception as e:
                log.warning("job %s: runner crashed: %s", job_id, e)
            actor, _ = self.running.pop(job_id)
            ray.kill(actor)

    def stop_runner(self, job_id: str) -> None:
        """Kill a job's runner process (tests: a crash mid-job)."""
        if job_id in self.running:
            ray.kill(self.running[job_id][0])

    # -- background loop ---------------------------------------------------------------------------
    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="nas-scheduler", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.wait(self.poll):
            try:
                self.tick()
            except Exception:  # keep scheduling through transient database errors
                log.exception("scheduler tick failed")

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self.db.dispose()
