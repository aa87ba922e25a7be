"""Measuring and validating latency tables through the device agent, saving to the database.

Measurement is resumable: entries are committed chunk by chunk, and a new run for the same
(device, space, input shape) continues the unfinished table, measuring only what is missing.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import ray

from evaluators.latency_lut import Entry, LatencyTable
from evaluators.latency_validation import ValidationReport
from evaluators.lut_io import new_table_id
from search_spaces import get_space
from search_spaces.errors import NasError
from store import latency as repo
from workers.device_agent import start_agent

if TYPE_CHECKING:
    from evaluators.devices import Device
    from store.session import Database

Progress = Callable[[int, int, str], None]  # done, total, phase
CHUNK = 32  # operators per agent call: progress granularity vs. call overhead


def _noop(done: int, total: int, phase: str) -> None:
    pass


def measure_table(
    db: Database,
    *,
    space: str,
    device: Device,
    shape: dict[str, int],
    warmup: int = 5,
    repeats: int = 15,
    fit_archs: int = 10,
    limit: int | None = None,
    progress: Progress = _noop,
) -> LatencyTable:
    """Measure every operator of ``space`` for ``shape`` on ``device``; fit the overhead; store it.

    ``limit`` measures only the first operators of the catalogue (tests); such a table stays
    ``measuring`` status unless it is complete.
    """
    sp = get_space(space)
    with db.session() as s:
        repo.save_device(s, device)
        table = repo.find_table(s, device=device.name, space=space, shape=shape, status="measuring")
        if table is None:
            table = LatencyTable(
                id=new_table_id(),
                device=device.name,
                space=space,
                batch_size=device.batch_size,
                **shape,
                info={"warmup": warmup, "repeats": repeats, "runtime": device.runtime, "threads": device.threads},
            )
            repo.create_table(s, table, status="measuring")
    catalogue = sp.op_catalogue(**shape)
    todo = [op for op in catalogue if op.signature() not in table.entries]
    done = len(catalogue) - len(todo)
    if limit is not None:
        todo = todo[: max(0, limit - done)]
    total = done + len(todo)
    agent = start_agent(device)
    started = time.perf_counter()
    try:
        progress(done, total, "operators")
        for i in range(0, len(todo), CHUNK):
            chunk = todo[i : i + CHUNK]
            stats = ray.get(agent.measure_ops.remote(chunk, warmup=warmup, repeats=repeats))
            entries = {
                op.signature(): Entry(st.median_ms, st.spread_ms, st.runs) for op, st in zip(chunk, stats, strict=True)
            }
            table.entries.update(entries)
            db.retrying(lambda s, e=entries: repo.add_entries(s, table_id=table.id, entries=e))
            done += len(chunk)
            progress(done, total, "operators")
        if len(table.entries) < len(catalogue):
            return table
        archs = [sp.sample(np.random.default_rng(10_000 + i)) for i in range(fit_archs)]
        progress(0, fit_archs, "overhead fit")
        e2e = ray.get(
            agent.measure_archs.remote([a.to_json() for a in archs], shape=shape, warmup=warmup, repeats=repeats)
        )
        sums = [table.ops_sum(sp.ops(a, **shape)) for a in archs]
        table.fit_overhead(sums, [st.median_ms for st in e2e])
        progress(fit_archs, fit_archs, "overhead fit")
    finally:
        ray.kill(agent)
    info = {"operators": len(table.entries), "measure_seconds": round(time.perf_counter() - started, 1)}
    with db.session() as s:
        repo.finish_table(s, table_id=table.id, overhead_ms=table.overhead_ms, info=info)
    table.info.update(info)
    return table


def validate_table(
    db: Database,
    *,
    table: LatencyTable,
    device: Device,
    n: int = 100,
    seed: int = 1,
    warmup: int = 5,
    repeats: int = 15,
    out_dir: Path | None = None,
    progress: Progress = _noop,
) -> ValidationReport:
    """Sample ``n`` architectures, measure each end to end, compare with the table's prediction."""
    if n < 2:
        raise NasError("validation needs at least 2 architectures (--n)")
    sp = get_space(table.space)
    rng = np.random.default_rng(seed)
    archs = [sp.sample(rng) for _ in range(n)]
    predicted = [table.predict(sp.ops(a, **table.shape)) for a in archs]
    agent = start_agent(device)
    measured: list[float] = []
    try:
        for i in range(0, n, 10):
            batch = [a.to_json() for a in archs[i : i + 10]]
            stats = ray.get(agent.measure_archs.remote(batch, shape=table.shape, warmup=warmup, repeats=repeats))
            measured += [st.median_ms for st in stats]
            progress(len(measured), n, "end-to-end")
    finally:
        ray.kill(agent)
    report = ValidationReport.compute(predicted, measured, table_id=table.id, device=device.name, space=table.space)
    if out_dir is not None:
        report.write(out_dir, predicted, measured, [a.arch_id for a in archs])
    with db.session() as s:
        repo.update_info(s, table_id=table.id, info={"validation": report.summary()})
    return report
