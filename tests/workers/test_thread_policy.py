"""The thread policy inside the service's Ray processes: evaluator actors run as many torch
threads as the CPUs they hold and wait passively; the device agent holds the CPUs it measures
with; a pool fits the cluster's free CPUs."""

from __future__ import annotations

import time

import pytest
import ray

from core.task import Task
from evaluators.devices import DEVICES
from search_spaces import get_space
from workers.device_agent import start_agent
from workers.evaluation import Recipe
from workers.pool import EvaluatorPool, cpus_for

pytestmark = pytest.mark.usefixtures("ray_cluster")
COST = Recipe("cost", {"task": Task("mnasnet", 1, 8, 10)}, ("params", "macs"))


@pytest.mark.parametrize("cpus", [1.0, 2.0])
def test_evaluator_actors_run_as_many_threads_as_the_cpus_they_hold(cpus: float) -> None:
    pool = EvaluatorPool([COST], size=1, num_cpus=cpus)
    try:
        (report,) = ray.get([a.thread_report.remote() for a in pool.actors])
    finally:
        pool.close()
    threads = int(cpus)
    assert report["torch_threads"] == threads and report["OMP_NUM_THREADS"] == str(threads)
    assert (report["OMP_WAIT_POLICY"], report["KMP_BLOCKTIME"]) == ("PASSIVE", "0")


def test_an_evaluators_threads_option_sets_the_cpus_its_actors_hold() -> None:
    train = Recipe("cost", {"task": Task("mnasnet", 1, 8, 10), "threads": 2}, ("params",))
    assert cpus_for([COST]) == 1.0 and cpus_for([COST, train]) == 2.0


@ray.remote(num_cpus=1)
class Occupant:
    def ping(self) -> bool:
        return True


def all_cpus_free(deadline: float = 30.0) -> int:
    """The cluster's CPU count, once earlier tests' actors have released theirs."""
    total, end = int(ray.cluster_resources()["CPU"]), time.time() + deadline
    while ray.available_resources().get("CPU", 0.0) < total:
        assert time.time() < end, "earlier actors did not release their CPUs"
        time.sleep(0.1)
    return total


def test_a_pool_fits_the_free_cpus_and_still_scores() -> None:
    total = all_cpus_free()
    occupant = Occupant.remote()  # e.g. a DASS runner holding one CPU
    ray.get(occupant.ping.remote())
    pool = EvaluatorPool([COST], size=8, num_cpus=1.0)
    try:
        assert len(pool.actors) == max(1, total - 1)
        (scored,) = pool.score([get_space("mnasnet").reference("mnasnet-a1")])
        assert scored.ok and scored.metrics["params"] > 0
    finally:
        pool.close()
        ray.kill(occupant)


def test_the_device_agent_holds_its_measuring_threads() -> None:
    device = DEVICES.get("cpu")
    all_cpus_free()
    agent = start_agent(device)
    try:
        report = ray.get(agent.thread_report.remote(), timeout=60)
    finally:
        ray.kill(agent)
    assert report["OMP_WAIT_POLICY"] == "PASSIVE" and report["torch_threads"] == device.threads
    assert report["OMP_NUM_THREADS"] == str(device.threads)


def test_a_share_past_its_deadline_fails_with_the_reason_and_the_pool_goes_on() -> None:
    from store.settings import Settings

    dirs = [str(d) for d in Settings().data_dirs]
    slow = Recipe(
        "train", {"task": Task("mnasnet", 1, 8, 10, "digits"), "data_dirs": dirs, "epochs": 1000}, ("accuracy",)
    )
    all_cpus_free()
    pool = EvaluatorPool([slow], size=1, num_cpus=1.0, candidate_timeout=1.0)
    try:
        arch = get_space("mnasnet").reference("mnasnet-a1")
        start = time.time()
        (scored,) = pool.score([arch])
        assert time.time() - start < 30 and not scored.ok
        assert "not evaluated within 1 s (1 candidates x candidate_timeout_s 1)" in scored.errors[0]
        assert ray.get(pool.actors[0].ping.remote(), timeout=60)  # replaced, ready for the next batch
    finally:
        pool.close()


def test_a_dead_evaluator_actor_fails_its_share_and_is_replaced() -> None:
    all_cpus_free()
    pool = EvaluatorPool([COST], size=1, num_cpus=1.0)
    try:
        arch = get_space("mnasnet").reference("mnasnet-a1")
        ray.kill(pool.actors[0])
        (scored,) = pool.score([arch])
        assert not scored.ok and "its evaluator actor died" in scored.errors[0]
        (again,) = pool.score([arch])
        assert again.ok and again.metrics["params"] > 0
    finally:
        pool.close()
