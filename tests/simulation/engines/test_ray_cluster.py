"""engine=ray on a real two-node Ray cluster on this machine (ray.cluster_utils.Cluster): equal to
engine=local with actors on the second node; a node that vanishes while hosting tiles is either
survived (its actors are rebuilt on a node that can host them: same result) or a RunFailure within
the timeouts (no node can)."""

from __future__ import annotations

import time

import pytest

from hdmoe_ray.config.schemas import EngineConfig
from hdmoe_ray.core.errors import RunFailure
from hdmoe_ray.simulation.engines import get_engine
from hdmoe_ray.simulation.engines.ray_actors import RayEngine
from tests.simulation.engines.test_tiled_matches_local import assert_same_costs

pytestmark = [pytest.mark.ray, pytest.mark.slow, pytest.mark.xdist_group("ray")]


@pytest.fixture
def two_node_cluster():
    import ray
    from ray.cluster_utils import Cluster

    ray.shutdown()  # the session's single-node Ray, if a test started it
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "resources": {"head": 1},
                                                            "object_store_memory": 80 * 2**20})
    worker = cluster.add_node(num_cpus=1, resources={"tiles": 10, "worker_a": 1}, object_store_memory=80 * 2**20)
    ray.init(address=cluster.address, log_to_driver=False)
    try:
        yield ray, cluster, worker
    finally:
        ray.shutdown()
        cluster.shutdown()


def test_actors_on_the_second_node_equal_local_and_survive_its_loss(two_node_cluster, case_factory):
    ray, cluster, worker = two_node_cluster
    cost_model, steps, mapping = case_factory("ep", "physical", "des")
    local = get_engine(EngineConfig(name="local")).simulate_steps(cost_model, steps, mapping)
    engine = RayEngine(EngineConfig(name="ray", num_actors=2))
    engine.actor_options = {"resources": {"tiles": 1}}  # only nodes offering "tiles" host tiles
    engine.call_timeout_s = engine.ping_timeout_s = 300.0  # a loaded 2-core machine: actor start-up
    try:
        out = engine.simulate_steps(cost_model, steps, mapping)
        assert_same_costs(local, out, exact_comm=True)
        nodes = set(ray.get([a.node_id.remote() for a in engine._actors], timeout=60))
        assert nodes == {worker.node_id}
        # a second node that can host tiles joins; the first vanishes
        cluster.add_node(num_cpus=1, resources={"tiles": 10}, object_store_memory=80 * 2**20)
        cluster.remove_node(worker)
        again = engine.simulate_steps(cost_model, steps, mapping)
        assert engine.stats.restarts == 2
        assert_same_costs(local, again, exact_comm=True)
    finally:
        engine.shutdown()


def test_a_vanished_node_no_other_can_replace_is_a_run_failure_in_bounded_time(two_node_cluster, case_factory):
    ray, cluster, worker = two_node_cluster
    cost_model, steps, mapping = case_factory("ep", "paper", "flow")
    engine = RayEngine(EngineConfig(name="ray", num_actors=2))
    engine.actor_options = {"resources": {"worker_a": 0.5}}  # pinned to the worker node
    engine.call_timeout_s = engine.ping_timeout_s = 120.0  # the healthy run: room for a loaded machine
    try:
        engine.simulate_steps(cost_model, steps, mapping)
        engine.call_timeout_s = engine.ping_timeout_s = 10.0
        cluster.remove_node(worker)
        t0 = time.perf_counter()
        with pytest.raises(RunFailure, match="engine=ray"):
            engine.simulate_steps(cost_model, steps, mapping)
        assert time.perf_counter() - t0 < 90  # the waits' timeouts, never a hang
    finally:
        engine.shutdown()
