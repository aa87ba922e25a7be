"""The ground-truth runner on a tiny recipe: real training on Ray, one record per (architecture,
seed), what is stored is skipped, and a run killed midway resumes without redoing finished work."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from benchmarks.ground_truth import SEEDS, draw, jobs, read, record_path, run
from search_spaces import get_space
from workers.ground_truth import Recipe

ROOT = Path(__file__).resolve().parents[2]
TINY = Recipe(
    "mnasnet", "train",
    {"width": 0.25, "train_limit": 96, "val_limit": 64, "epochs": 1, "batch_size": 32, "recal_images": 16},
    dataset="digits", test_limit=64,
)  # fmt: skip
DIRS = ["/usr/share/datasets"]


def test_draws_are_random_distinct_and_fixed_by_the_seed() -> None:
    a, b = draw(TINY, 12, seed=5), draw(TINY, 12, seed=5)
    assert [x.arch_id for x in a] == [x.arch_id for x in b] and len({x.arch_id for x in a}) == 12
    assert [x.arch_id for x in draw(TINY, 12, seed=6)] != [x.arch_id for x in a]
    planned = jobs(a, 4, seed=5)
    assert len(planned) == 12 * len(SEEDS) + 4 and sum(s == 2 for _, s in planned) == 4
    fixed = Recipe("nasnet", "train", {}, fixed={"cells": 1, "filters": 8, "stem": 1})
    nasnet = draw(fixed, 3, 0)[0]
    params = get_space("nasnet").to_params(nasnet)
    assert (params["cells"], params["filters"], params["stem"]) == (1, 8, 1)


@pytest.mark.usefixtures("ray_cluster")
def test_records_are_written_once_and_what_is_stored_is_skipped(tmp_path: Path) -> None:
    folder = run(TINY, 2, 1, 0, 2, tmp_path, DIRS)
    records = read(folder)
    assert len(records) == 5
    r = records[0]
    assert r["data"]["train_images"] == 96 and r["data"]["test_images"] == 64 and r["machine"]["threads"] == 1
    assert 0.0 < r["val_accuracy"] < 1.0 and r["seconds"] > 0 and r["schedule"]["epochs"] == 1
    stamps = {p: p.stat().st_mtime_ns for p in folder.glob("*-seed*.json")}
    victim = next(iter(stamps))
    victim.unlink()
    run(TINY, 2, 1, 0, 2, tmp_path, DIRS)  # trains only the missing record
    assert victim.exists()
    assert all(p.stat().st_mtime_ns == t for p, t in stamps.items() if p != victim)


def test_a_killed_run_resumes_where_it_stopped(tmp_path: Path) -> None:
    script = (
        "from tests.workers.test_ground_truth import TINY, DIRS\n"
        "from benchmarks.ground_truth import run\n"
        f"run(TINY, 3, 0, 0, 1, __import__('pathlib').Path({str(tmp_path)!r}), DIRS)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-c", script], cwd=ROOT, env=env, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    folder = tmp_path / TINY.space / TINY.name
    deadline = time.time() + 240
    try:
        while time.time() < deadline and not list(folder.glob("*-seed*.json")):
            assert proc.poll() is None, "the runner exited before writing a record"
            time.sleep(0.2)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the driver and its Ray processes
        proc.wait(timeout=30)
    first = {p: p.read_bytes() for p in folder.glob("*-seed*.json")}
    assert first, "no record within 240 s"
    assert all(json.loads(b) for b in first.values())  # a kill leaves whole records only
    done = len(first)
    assert done < 6, "the run finished before it was killed; nothing to resume"
    subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, check=True, timeout=300,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    records = read(folder)
    assert len(records) == 6
    assert all(p.read_bytes() == b for p, b in first.items())  # finished work was not redone
    arch = draw(TINY, 3, 0)[0]
    assert record_path(folder, arch, 0).exists()
