"""The same search three ways, like for like: a plain Optuna loop, this service end to end, one Ray
Tune trial per candidate.

Search: MnasNet space, NSGA-II (population 50, seed 0), objectives params, MACs and LUT latency on
this CPU, ``--candidates`` distinct candidates (2,000 by default) for the ``digits`` task shape
(1x8x8, 10 classes). The latency table is measured once beforehand (not timed) and shared by all
three. On every side a proposal of an architecture already evaluated is answered from memory and
not counted, so each rate counts distinct candidates.

1. plain: an in-memory Optuna study in this process; each batch of 50 asked, its new
   architectures evaluated by ``--workers`` worker processes (the service's pool size, default
   2; each loads the table once), then told; the clock runs from starting the workers to the
   last tell.
2. service: ``nas serve`` in a subprocess (its own local Ray, ``NAS_POOL_SIZE`` = ``--workers``
   evaluator actors), the job submitted over REST; the clock runs from the POST to the final
   front read back over REST (so it includes the runner's and the actors' start-up).
3. tune: ``tune.Tuner`` with ``OptunaSearch`` (NSGA-II), one trial per candidate, ``--workers``
   concurrent trials, the same evaluation inside the trial; ``--tune-trials`` trials (default 40).
   Its start-up (to the first finished trial) is reported apart from its steady rate.

Prints candidates/second for each and the ratios (goals, issue 29: service >= 0.9x plain).

    .venv/bin/python benchmarks/search_throughput.py [--candidates 2000] [--workers 2] [--tune-trials 40]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import optuna

from evaluators.devices import builtin_device
from evaluators.latency_lut import LatencyTable
from search_spaces import get_space
from store import latency as lut_repo
from store.session import Database
from store.settings import Settings

SHAPE = {"in_channels": 1, "input_size": 8, "num_classes": 10}
POPULATION = 50


def metrics_of(space: Any, table: LatencyTable, params: dict[str, Any]) -> tuple[float, float, float]:
    arch = space.decode(params)
    ops = space.ops(arch, **SHAPE)
    cost = sum((op.cost() for op in ops[1:]), ops[0].cost())
    return float(cost.params), float(cost.macs), table.predict(ops)


def prepare_table(home: Path) -> tuple[Settings, LatencyTable]:
    """Measure (or reuse) the CPU latency table for the task shape in the service's database."""
    import ray

    from workers.latency import measure_table
    from workers.ray_runtime import ensure_ray

    settings = Settings(home=home, ray_num_cpus=2)
    db = Database(settings.db_url)
    db.migrate()
    with db.session() as s:
        table = lut_repo.find_table(s, device="cpu", space="mnasnet", shape=SHAPE)
    if table is None:
        ensure_ray(settings)
        print("measuring the latency table (once, not timed) ...", flush=True)
        table = measure_table(db, space="mnasnet", device=builtin_device("cpu"), shape=SHAPE, repeats=5)
        ray.shutdown()
    db.dispose()
    return settings, table


_TABLE: LatencyTable | None = None


def _load(table: LatencyTable) -> None:
    global _TABLE
    os.environ["OMP_NUM_THREADS"] = "1"
    _TABLE = table


def _evaluate(params: dict[str, Any]) -> tuple[float, float, float]:
    assert _TABLE is not None
    return metrics_of(get_space("mnasnet"), _TABLE, params)


def run_plain(table: LatencyTable, n: int, workers: int) -> tuple[float, float]:
    """Distinct candidates per second of an ask/evaluate/tell loop with ``workers`` evaluating
    processes: overall, and after the first batch (the workers' start-up left out)."""
    import multiprocessing

    space = get_space("mnasnet")
    dists = space.distributions()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(
        directions=["minimize"] * 3, sampler=optuna.samplers.NSGAIISampler(population_size=POPULATION, seed=0)
    )
    seen: dict[str, tuple[float, float, float]] = {}
    first: float | None = None
    after = 0
    start = time.perf_counter()  # the workers' start counts, as the service's actors' does
    with multiprocessing.get_context("spawn").Pool(workers, initializer=_load, initargs=(table,)) as pool:
        while len(seen) < n:
            trials = [study.ask(dists) for _ in range(min(POPULATION, n - len(seen)))]
            archs = [space.decode(t.params) for t in trials]
            fresh = {a.arch_id: t.params for a, t in zip(archs, trials, strict=True) if a.arch_id not in seen}
            for arch_id, values in zip(fresh, pool.map(_evaluate, list(fresh.values())), strict=True):
                seen[arch_id] = values
            for a, t in zip(archs, trials, strict=True):
                study.tell(t, seen[a.arch_id])
            if first is None:
                first, after = time.perf_counter(), len(seen)
        end = time.perf_counter()
        return len(seen) / (end - start), (len(seen) - after) / (end - first)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def steady_rate(home: Path, job_id: str) -> float:
    """Candidates per second between the first and the last stored batch (start-up left out)."""
    from sqlalchemy import text

    db = Database(Settings(home=home).db_url)
    with db.session() as s:
        rows = s.execute(
            text("SELECT created_at, COUNT(*) FROM nas_candidates WHERE job_id = :j GROUP BY created_at ORDER BY 1"),
            {"j": job_id},
        ).all()
    db.dispose()
    stamps = [datetime.fromisoformat(r[0]) if isinstance(r[0], str) else r[0] for r in rows]  # SQLite: text
    return (sum(r[1] for r in rows) - rows[0][1]) / (stamps[-1] - stamps[0]).total_seconds()


def run_service(home: Path, n: int, workers: int) -> tuple[float, float]:
    port = _free_port()
    env = {**os.environ, "NAS_HOME": str(home), "NAS_PORT": str(port), "NAS_RAY_NUM_CPUS": "2",
           "NAS_POOL_SIZE": str(workers)}  # fmt: skip
    nas = Path(sys.executable).with_name("nas")
    server = subprocess.Popen([str(nas), "serve"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    try:
        with httpx.Client(base_url=url, timeout=30) as c:
            deadline = time.time() + 120
            while True:
                try:
                    if c.get("/readyz").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if time.time() > deadline or server.poll() is not None:
                    raise RuntimeError(f"service did not start: {server.stderr.read().decode()[-2000:]}")
                time.sleep(0.5)
            c.headers["X-API-Key"] = (home / "api_key").read_text().strip()
            spec = {
                "space": "mnasnet",
                "dataset": "digits",
                "device": "cpu",
                "objectives": [{"metric": "params"}, {"metric": "macs"}, {"metric": "latency_ms"}],
                "strategy": {"name": "nsga2", "options": {"population_size": POPULATION}},
                "budget": {"candidates": n},
                "batch_size": POPULATION,
                "seed": 0,
            }
            start = time.perf_counter()
            job = c.post("/api/jobs", json=spec).raise_for_status().json()
            while job["state"] not in ("succeeded", "failed", "cancelled"):
                time.sleep(0.2)
                job = c.get(f"/api/jobs/{job['id']}").raise_for_status().json()
            front = c.get(f"/api/jobs/{job['id']}/front").raise_for_status().json()
            elapsed = time.perf_counter() - start
            if job["state"] != "succeeded":
                raise RuntimeError(f"service job {job['state']}: {job.get('error')}")
            print(f"  service: {job['evaluated']} evaluated, front of {len(front['members'])}, {elapsed:.1f} s")
            return job["evaluated"] / elapsed, steady_rate(home, job["id"])
    finally:
        server.terminate()
        server.wait(timeout=60)


def run_tune(table: LatencyTable, n: int, workers: int) -> tuple[float, float, float]:
    """(candidates/s overall, seconds to the first finished trial, candidates/s after it)."""
    import ray
    from ray import tune
    from ray.tune.search.optuna import OptunaSearch

    space = get_space("mnasnet")
    finished: list[float] = []

    class Clock(tune.Callback):
        def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
            finished.append(time.perf_counter())

    def trial_fn(config: dict[str, Any], table: LatencyTable) -> None:
        params, macs, latency = metrics_of(get_space("mnasnet"), table, config)
        tune.report({"params": params, "macs": macs, "latency_ms": latency})

    ray.init(address="local", num_cpus=2, include_dashboard=False, object_store_memory=200 * 2**20, log_to_driver=False)
    try:
        search = OptunaSearch(
            space=space.distributions(),
            metric=["params", "macs", "latency_ms"],
            mode=["min", "min", "min"],
            sampler=optuna.samplers.NSGAIISampler(population_size=POPULATION, seed=0),
        )
        tuner = tune.Tuner(
            tune.with_parameters(trial_fn, table=table),
            tune_config=tune.TuneConfig(search_alg=search, num_samples=n, max_concurrent_trials=workers),
            run_config=tune.RunConfig(storage_path=tempfile.mkdtemp(prefix="tune-"), verbose=0, callbacks=[Clock()]),
        )
        start = time.perf_counter()
        results = tuner.fit()
        elapsed = time.perf_counter() - start
        done = sum(1 for r in results if r.error is None)
        first = finished[0] - start
        steady = (len(finished) - 1) / (finished[-1] - finished[0]) if len(finished) > 1 else float("nan")
        print(f"  tune: {done} trials in {elapsed:.1f} s (first after {first:.1f} s)")
        return done / elapsed, first, steady
    finally:
        ray.shutdown()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--candidates", type=int, default=2000)
    parser.add_argument("--workers", type=int, default=2, help="evaluating processes on every side")
    parser.add_argument("--tune-trials", type=int, default=40)
    parser.add_argument("--home", type=Path, default=None, help="service home (default: a fresh temp folder)")
    args = parser.parse_args()
    home = args.home or Path(tempfile.mkdtemp(prefix="nas-bench-"))
    _, table = prepare_table(home)
    print(f"latency table {table.id}: {len(table.entries)} operators; {args.candidates} distinct candidates, "
          f"{args.workers} evaluating processes per side")  # fmt: skip

    plain, plain_steady = run_plain(table, args.candidates, args.workers)
    print(f"plain Optuna loop : {plain:8.1f} candidates/s ({plain_steady:.1f}/s after the first batch)", flush=True)
    service, service_steady = run_service(home, args.candidates, args.workers)
    print(f"service end to end: {service:8.1f} candidates/s ({service_steady:.1f}/s after the first batch)", flush=True)
    tune_rate, tune_first, tune_steady = run_tune(table, args.tune_trials, args.workers)
    print(f"Ray Tune per trial: {tune_rate:8.2f} candidates/s over {args.tune_trials} trials; first after "
          f"{tune_first:.1f} s, then {tune_steady:.2f}/s", flush=True)  # fmt: skip
    print(f"service / plain = {service / plain:.2f}x end to end (goal >= 0.9x), "
          f"{service_steady / plain_steady:.2f}x after the first batch")  # fmt: skip
    print(f"service / tune  = {service / tune_rate:.0f}x ({service / tune_steady:.0f}x its steady rate)")
    result = {"plain": plain, "service": service, "plain_after_first_batch": plain_steady,
              "service_after_first_batch": service_steady, "tune": tune_rate, "tune_first_s": tune_first,
              "tune_steady": tune_steady, "candidates": args.candidates, "workers": args.workers,
              "tune_trials": args.tune_trials, "date": time.strftime("%Y-%m-%dT%H:%M:%S%z")}  # fmt: skip
    out = Path(__file__).parent / "results" / "search_throughput.json"
    out.write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
