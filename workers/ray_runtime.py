"""Connecting to Ray: a local cluster by default, or the one ``NAS_RAY_ADDRESS`` names.

Call `ensure_ray` from the main thread (Ray started from a thread that exits kills its GCS).
A local cluster advertises one custom resource per local device (``device_cpu``, ...), so
measurement actors land on the node that owns the device; a GPU box or a phone bridge joins a
cluster with ``ray start --address=HEAD:6379 --resources='{"device_cuda": 1}'``.
"""

from __future__ import annotations

import logging
import os

import ray

from evaluators.devices import DEVICES
from store.settings import Settings
from workers import threads

OBJECT_STORE_BYTES = 200 * 2**20  # containers default to a 64 MB /dev/shm


def ensure_ray(settings: Settings) -> None:
    """Start or join Ray once per process."""
    if ray.is_initialized():
        return
    common = {
        "include_dashboard": False,
        "logging_level": logging.WARNING,
        "log_to_driver": False,
    }
    if settings.ray_address:
        ray.init(address=settings.ray_address, **common)
        return
    # Ray starts workers at niceness 15; evaluators and the latency agent do the real work here,
    # so they run at normal priority (a busy machine would otherwise starve measurements)
    os.environ.setdefault("RAY_worker_niceness", "0")
    threads.node_env()  # every worker of the local cluster waits passively (workers/threads.py)
    resources = {DEVICES.get(name).resource: 1.0 for name in settings.local_device_names}
    # address="local": always a cluster of its own; without it ray.init() joins another process's local
    # cluster when one runs (measured: a test session joined a benchmark's, and aborted when it stopped)
    ray.init(
        address="local",
        num_cpus=settings.ray_num_cpus,
        resources=resources,
        object_store_memory=OBJECT_STORE_BYTES,
        **common,
    )
