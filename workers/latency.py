"""Measuring and validating latency tables through the device agent, saving to the database.

Measurement is resumable: entries are committed chunk by chunk, and a new run for the same
(device, space, input shape) continues the unfinished table, measuring only what is missing.
Every wait on the device agent has a deadline (`AgentTimeouts`), and a device that no Ray node
offers fails before anything is stored, with the resource it needs and how a node joins.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import ray

from core.errors import NasError
from evaluators.latency_lut import Entry, LatencyTable
from evaluators.latency_validation import ValidationReport
from evaluators.lut_io import new_table_id
from search_spaces import get_space
from store import latency as repo
from workers.device_agent import DEFAULT_TIMEOUTS, AgentTimeouts, call_agent, require_device, start_agent

if TYPE_CHECKING:
    from evaluators.devices import Device
    from evaluators.devices.timing import Stats
    from search_spaces.ops.spec import OpSpec
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
    repeats: int = 10,
    passes: int = 2,
    fit_archs: int = 10,
    limit: int | None = None,
    progress: Progress = _noop,
    timeouts: AgentTimeouts = DEFAULT_TIMEOUTS,
) -> LatencyTable:
    """Measure every operator of ``space`` for ``shape`` on ``device``; fit the overhead; store it.

    Each operator is measured in ``passes`` passes over the whole catalogue (minutes apart, so one
    burst of load cannot spoil an entry); an entry whose passes disagree by more than
    `AGREEMENT` gets one more measurement and the median is kept. ``limit`` measures only the
    first operators of the catalogue (tests); such a table stays ``measuring`` unless complete.
    ``timeouts`` bounds every wait on the device agent.
    """
    if passes < 1 or repeats < 1:
        raise NasError("passes and repeats must be at least 1")
    if not device.measurable:
        raise NasError(f"device {device.name} is external: it cannot be measured here, only imported")
    require_device(device, timeouts)  # before a table row is stored for a device nobody offers
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
    catalogue = full = sp.op_catalogue(**shape)
    if limit is not None:
        catalogue = full[:limit]
    per_pass = table.info.get("repeats", repeats)

    def todo(pass_no: int) -> list[OpSpec]:
        return [op for op in catalogue if _passes_done(table.entries.get(op.signature()), per_pass) < pass_no]

    total = len(catalogue) * passes
    done = total - sum(len(todo(k)) for k in range(1, passes + 1))
    agent = start_agent(device, timeouts)

    def call(ref: ray.ObjectRef, what: str) -> Any:
        return call_agent(ref, device=device, what=what, timeouts=timeouts)

    started = time.perf_counter()
    try:
        reference = table.info.get("probe_ms")
        if reference is None and (reference := call(agent.reference.remote(), "drift probe")) is not None:
            table.info["probe_ms"] = reference
            db.retrying(lambda s: repo.update_info(s, table_id=table.id, info={"probe_ms": reference}))
        progress(done, total, "operators")
        measure = agent.measure_ops.remote
        for pass_no in range(1, passes + 1):
            ops = todo(pass_no)
            for i in range(0, len(ops), CHUNK):
                chunk = ops[i : i + CHUNK]
                got = call(measure(chunk, warmup=warmup, repeats=per_pass), f"{len(chunk)} operators")
                stats = dict(zip(chunk, got, strict=True))
                entries = {
                    op.signature(): _combine(table.entries.get(op.signature()), Entry(*st.at(reference), st.runs))
                    for op, st in stats.items()
                }
                disputed = [op for op in chunk if entries[op.signature()] is None]
                if disputed:  # one more measurement decides
                    extra = call(measure(disputed, warmup=warmup, repeats=per_pass), f"{len(disputed)} operators")
                    for op, st in zip(disputed, extra, strict=True):
                        sig = op.signature()
                        entries[sig] = _median_of_three(table.entries[sig], stats[op], st, reference)
                table.entries.update(entries)  # type: ignore[arg-type]
                db.retrying(lambda s, e=entries: repo.put_entries(s, table_id=table.id, entries=e))
                done += len(chunk)
                progress(done, total, f"operators (pass {pass_no}/{passes})")
        if len(table.entries) < len(full):
            return table
        archs = [sp.sample(np.random.default_rng(10_000 + i)) for i in range(fit_archs)]
        progress(0, fit_archs, "overhead fit")
        e2e = call(
            agent.measure_archs.remote([a.to_json() for a in archs], shape=shape, warmup=warmup, repeats=per_pass),
            f"{len(archs)} networks end to end",
        )
        sums = [table.ops_sum(sp.ops(a, **shape)) for a in archs]
        table.fit_overhead(sums, [st.at(reference)[0] for st in e2e])
        progress(fit_archs, fit_archs, "overhead fit")
    finally:
        ray.kill(agent)
    seconds = time.perf_counter() - started + float(table.info.get("measure_seconds", 0.0))
    info = {"operators": len(table.entries), "passes": passes, "measure_seconds": round(seconds, 1)}
    with db.session() as s:
        repo.finish_table(s, table_id=table.id, overhead_ms=table.overhead_ms, info=info)
    table.info.update(info)
    return table


AGREEMENT = 0.10  # passes of one operator that differ by more than this get a third measurement


def _passes_done(entry: Entry | None, repeats: int) -> int:
    return 0 if entry is None else max(1, entry.runs // repeats)


def _combine(old: Entry | None, new: Entry) -> Entry | None:
    """The new pass alone, the mean of two agreeing passes, or None when they disagree."""
    if old is None:
        return new
    if abs(old.median_ms - new.median_ms) > AGREEMENT * min(old.median_ms, new.median_ms):
        return None
    runs = old.runs + new.runs
    mean = (old.median_ms * old.runs + new.median_ms * new.runs) / runs
    return Entry(mean, max(old.spread_ms, new.spread_ms), runs)


def _median_of_three(old: Entry, second: Stats, third: Stats, reference: float | None) -> Entry:
    values = sorted([(old.median_ms, old.spread_ms), second.at(reference), third.at(reference)])
    return Entry(*values[1], old.runs + second.runs + third.runs)


def validate_table(
    db: Database,
    *,
    table: LatencyTable,
    device: Device,
    n: int = 100,
    seed: int = 1,
    warmup: int = 5,
    repeats: int = 10,
    passes: int = 3,
    out_dir: Path | None = None,
    progress: Progress = _noop,
    timeouts: AgentTimeouts = DEFAULT_TIMEOUTS,
) -> ValidationReport:
    """Sample ``n`` architectures, measure each end to end in ``passes`` passes over all of them
    (the median of the passes is the measurement), compare with the table's prediction.
    ``timeouts`` bounds every wait on the device agent."""
    if n < 2:
        raise NasError("validation needs at least 2 architectures (--n)")
    if passes < 1 or repeats < 1:
        raise NasError("passes and repeats must be at least 1")
    sp = get_space(table.space)
    rng = np.random.default_rng(seed)
    archs = [sp.sample(rng) for _ in range(n)]
    predicted = [table.predict(sp.ops(a, **table.shape)) for a in archs]
    reference = table.info.get("probe_ms")  # the table's machine speed; None: raw milliseconds
    agent = start_agent(device, timeouts)
    runs: list[list[Stats]] = [[] for _ in archs]
    try:
        for pass_no in range(passes):
            for i in range(0, n, 10):
                batch = [a.to_json() for a in archs[i : i + 10]]
                ref = agent.measure_archs.remote(batch, shape=table.shape, warmup=warmup, repeats=repeats)
                stats = call_agent(ref, device=device, what=f"{len(batch)} networks end to end", timeouts=timeouts)
                for j, st in enumerate(stats, start=i):
                    runs[j].append(st)
                progress(pass_no * n + min(i + 10, n), n * passes, "end-to-end")
    finally:
        ray.kill(agent)
    measured = [float(np.median([st.at(reference)[0] for st in r])) for r in runs]
    raw = [float(np.median([st.median_ms for st in r])) for r in runs]
    report = ValidationReport.compute(
        predicted, measured, table_id=table.id, device=device.name, space=table.space, raw=raw
    )
    if out_dir is not None:
        report.write(out_dir, predicted, measured, [a.arch_id for a in archs], raw=raw)
    with db.session() as s:
        repo.update_info(s, table_id=table.id, info={"validation": report.summary()})
    return report
