"""The thread policy: how many threads each Ray process that runs torch uses, and how they wait.

When several processes share a machine's cores (evaluator actors, a supernet trial, a DASS
search, the device agent), OpenMP threads that spin-wait on a core that is not theirs make
training up to ~80x slower. So:

* every worker process of the service waits passively (``OMP_WAIT_POLICY=PASSIVE``,
  ``KMP_BLOCKTIME=0``): `JOB_ENV` is put in the environment of the node that starts Ray (a local
  cluster: `workers.ray_runtime`; a cluster's nodes: docker-compose.yml), which every worker
  inherits before torch loads. A Ray ``runtime_env`` would carry it too, but measured on this
  machine it doubles an actor's start (0.67 s to 1.3 s: workers with their own environment are
  not taken from Ray's prestarted pool), which small jobs pay per actor;
* a process runs as many intra-op threads as the CPUs it holds in Ray: `actor_options` gives its
  actor ``num_cpus`` (Ray sets ``OMP_NUM_THREADS`` to match) and `apply` sets torch's count in
  the process;
* the device agent (`agent_options`) holds as many CPUs as the device measures with, so nothing
  else of the service is scheduled beside a measurement; its threads wait passively too. Spinning
  (``ACTIVE``, an inference server's setting) was measured beside a training process
  (benchmarks/thread_contention.py): the measurement timed about a quarter as many operators in
  the same seconds and the neighbour trained no faster, so exclusivity comes from the CPUs the
  agent holds, not from spinning.
"""

from __future__ import annotations

import math
import os
from typing import Any

JOB_ENV = {"OMP_WAIT_POLICY": "PASSIVE", "KMP_BLOCKTIME": "0"}
REPORTED = ("OMP_WAIT_POLICY", "KMP_BLOCKTIME", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


def threads_for(num_cpus: float) -> int:
    """Intra-op threads for a process holding ``num_cpus`` CPUs (at least 1)."""
    return max(1, math.floor(num_cpus))


def actor_options(num_cpus: float) -> dict[str, Any]:
    """Ray options for an actor that runs torch on ``num_cpus`` CPUs (it calls `apply` itself)."""
    return {"num_cpus": num_cpus}


def agent_options(threads: int) -> dict[str, Any]:
    """Ray options for a device agent that measures with ``threads`` threads: it holds that many
    CPUs, exclusive of the service's other work."""
    return actor_options(threads)


def node_env() -> None:
    """Put `JOB_ENV` into this process's environment before it starts a local Ray (its workers
    inherit it); values already set are kept."""
    for key, value in JOB_ENV.items():
        os.environ.setdefault(key, value)


def apply(num_cpus: float) -> int:
    """Set torch's intra-op thread count in this process from the CPUs it holds; returns it."""
    import torch

    threads = threads_for(num_cpus)
    torch.set_num_threads(threads)
    return threads


def report() -> dict[str, Any]:
    """The policy as this process sees it: torch's thread count and the OpenMP environment."""
    import torch

    return {"torch_threads": torch.get_num_threads(), **{k: os.environ.get(k) for k in REPORTED}}
