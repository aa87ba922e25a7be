"""Training throughput when processes share the machine's cores, with and without the thread policy.

Prints, in one run (side by side, same model, same batch, same seconds per measurement):

* one process training with all the cores (``--cores`` threads) — the reference;
* two Ray actors training at once as the evaluator pool runs them (`workers/threads.py`: one CPU
  each, one torch thread, passive OpenMP wait) — goal: at least 0.9x the reference's images/s;
* the same two actors without the policy (``--cores`` threads each, active wait);
* one training actor (policy) beside a device agent measuring latency (the agent's setting:
  ``--cores`` spinning threads) — goal: at least 0.4x the actor's idle images/s.

The model is a MnasNet-space subnet (``mnasnet-a1`` at width 0.5) on Fashion-MNIST-shaped
random batches, SGD steps in the channels-last layout where the CPU allows it. Results are kept in
``benchmarks/results/thread_contention.json``.

    .venv/bin/python -m benchmarks.thread_contention --seconds 20
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path
from typing import Any

import ray

RESULTS = Path(__file__).parent / "results" / "thread_contention.json"
SHAPE = {"in_channels": 1, "input_size": 28, "num_classes": 10}


class Trainer:
    """Trains one fixed subnet on random batches; `run` reports images per second."""

    def __init__(self, batch: int, width: float, threads: int) -> None:
        import torch

        torch.set_num_threads(threads)

        from evaluators.dass.search import memory_format
        from evaluators.supernet.layout import scaled_ops
        from search_spaces import get_space
        from search_spaces.ops.modules import Network

        space = get_space("mnasnet")
        ops = scaled_ops(space.ops(space.reference("mnasnet-a1"), **SHAPE), width)
        fmt = memory_format()
        self.model = Network(ops).to(memory_format=fmt)
        self.x = torch.randn(batch, 1, 28, 28).contiguous(memory_format=fmt)
        self.y = torch.randint(0, 10, (batch,))
        self.opt = torch.optim.SGD(self.model.parameters(), lr=0.01, momentum=0.9)
        self.batch = batch

    def step(self) -> None:
        import torch.nn.functional as F

        self.opt.zero_grad(set_to_none=True)
        F.cross_entropy(self.model(self.x), self.y).backward()
        self.opt.step()

    def run(self, seconds: float, start_at: float = 0.0) -> dict[str, Any]:
        import torch

        while time.time() < start_at:  # both actors start their clocks together
            time.sleep(0.001)
        self.step()
        steps, t0 = 0, time.perf_counter()
        while time.perf_counter() - t0 < seconds:
            self.step()
            steps += 1
        elapsed = time.perf_counter() - t0
        env = {k: os.environ.get(k) for k in ("OMP_WAIT_POLICY", "OMP_NUM_THREADS")}
        return {"images_per_s": steps * self.batch / elapsed, "threads": torch.get_num_threads(), **env}


class Measurer:
    """Times latency-table operators in a loop, as the device agent does during a measurement."""

    def __init__(self, threads: int) -> None:
        from evaluators.devices.timing import TorchMeasurer
        from search_spaces import get_space

        self.measurer = TorchMeasurer(threads=threads, batch_size=1)
        self.ops = get_space("mnasnet").op_catalogue(**SHAPE)[:200]

    def run(self, seconds: float) -> int:
        done, t0 = 0, time.perf_counter()
        while time.perf_counter() - t0 < seconds:
            op = self.ops[done % len(self.ops)]
            self.measurer.measure(op.build(), (op.c_in, op.hw, op.hw), warmup=2, repeats=5)
            done += 1
        return done


def together(actors: list[Any], seconds: float) -> list[dict[str, Any]]:
    start = time.time() + 2.0
    return ray.get([a.run.remote(seconds, start) for a in actors])


def main() -> None:
    from workers import threads

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--seconds", type=float, default=20.0, help="timed seconds per measurement")
    p.add_argument("--cores", type=int, default=os.cpu_count() or 2)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--width", type=float, default=0.5)
    p.add_argument("--out", type=Path, default=RESULTS)
    a = p.parse_args()
    load_before = Path("/proc/loadavg").read_text().split()[:3]
    # more Ray CPUs than cores, so that the oversubscribed cases can be placed at all
    threads.node_env()
    ray.init(num_cpus=4 * a.cores, include_dashboard=False)
    policy = ray.remote(Trainer).options(**threads.actor_options(1))
    plain = ray.remote(Trainer).options(
        num_cpus=1, runtime_env={"env_vars": {"OMP_WAIT_POLICY": "ACTIVE", "OMP_NUM_THREADS": str(a.cores)}}
    )
    rows: dict[str, Any] = {}

    one = ray.remote(Trainer).options(**threads.actor_options(a.cores)).remote(a.batch, a.width, a.cores)
    rows["one process, all cores"] = ray.get(one.run.remote(a.seconds))
    ray.kill(one)

    pair = [policy.remote(a.batch, a.width, 1) for _ in range(2)]
    rows["two actors, policy"] = together(pair, a.seconds)
    solo = ray.get(pair[0].run.remote(a.seconds))
    rows["one actor, policy, idle"] = solo
    for wait in ("ACTIVE", "PASSIVE"):
        options = {**threads.agent_options(a.cores), "runtime_env": {"env_vars": {"OMP_WAIT_POLICY": wait}}}
        agent = ray.remote(Measurer).options(**options).remote(a.cores)
        busy = agent.run.remote(a.seconds + 8)
        time.sleep(3)
        rows[f"one actor, policy, beside a measurement ({wait})"] = ray.get(pair[0].run.remote(a.seconds))
        rows[f"operators measured meanwhile ({wait})"] = ray.get(busy)
        ray.kill(agent)
    for actor in pair:
        ray.kill(actor)

    pair = [plain.remote(a.batch, a.width, a.cores) for _ in range(2)]
    rows["two actors, no policy"] = together(pair, a.seconds)
    for actor in pair:
        ray.kill(actor)

    ref = rows["one process, all cores"]["images_per_s"]
    ratios = {
        "two actors with the policy / one process": sum(r["images_per_s"] for r in rows["two actors, policy"]) / ref,
        "two actors without the policy / one process": sum(r["images_per_s"] for r in rows["two actors, no policy"])
        / ref,
        **{
            f"beside a measurement ({wait}) / idle": rows[f"one actor, policy, beside a measurement ({wait})"][
                "images_per_s"
            ]
            / solo["images_per_s"]
            for wait in ("ACTIVE", "PASSIVE")
        },
    }
    for name, row in rows.items():
        print(f"{name:45s} {json.dumps(row)}")
    for name, value in ratios.items():
        print(f"{name:45s} {value:.2f}x")
    doc = {
        "machine": platform.processor() or platform.machine(),
        "cores": a.cores,
        "loadavg_before": load_before,
        "loadavg_after": Path("/proc/loadavg").read_text().split()[:3],
        "settings": vars(a) | {"out": str(a.out)},
        "rows": rows,
        "ratios": ratios,
    }
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps(doc, indent=1))
    ray.shutdown()


if __name__ == "__main__":
    main()
