"""One decode step of a large mesh with ``engine=ray`` on a real two-node Ray cluster on this machine.

    .venv/bin/python benchmarks/bench_two_node.py [--mesh 128] [--batch 8192] [--network flow]

DeepSeek-V3 synthetic trace, EP, ``profile=paper``, expected mode. The cluster is Ray's own
``ray.cluster_utils.Cluster``: a head node and one worker node (1 CPU each, separate raylets and object
stores); tile t's actor is pinned to node t (``NodeAffinitySchedulingStrategy``: the tile actors take no CPU,
so Ray would otherwise pack them on one node). Prints the wall time of the warm step
(Ray start-up and actor creation excluded: a first step warms them), the rounds and bytes per round, each
tile's peak RSS and the node it ran on, and the driver's peak RSS. Issue 11's target: 128x128, B = 8192
completes on the two-node cluster, with per-actor memory reported.
"""

from __future__ import annotations

import argparse
import os
import resource
import time


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mesh", type=int, default=128)
    ap.add_argument("--batch", type=int, default=8192)
    ap.add_argument("--network", default="flow", choices=["flow", "des"])
    args = ap.parse_args()

    import ray
    from ray.cluster_utils import Cluster
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy
    from ray.util.state import list_actors

    from hdmoe_ray.config.loading import compose_run_config
    from hdmoe_ray.simulation.engines import get_engine
    from hdmoe_ray.simulation.simulator import prepare_inputs, simulate_mapping
    from hdmoe_ray.strategies.registry import build_mapping
    from hdmoe_ray.workflows.results import strategy_context

    print(f"load average at start: {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs", flush=True)
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
    cluster.add_node(num_cpus=1)
    cluster.wait_for_nodes()
    try:
        run = compose_run_config([
            "model=deepseek_v3", "profile=paper", "strategy=ep", f"hardware.mesh_x={args.mesh}",
            f"hardware.mesh_y={args.mesh}", f"workload.batch_size={args.batch}", f"network={args.network}",
            "tracking=none", "engine=ray", "engine.num_actors=2", f"engine.address={cluster.address}"])
        t0 = time.perf_counter()
        inputs = prepare_inputs(run)
        mapping = build_mapping(strategy_context(inputs, run.strategy))
        print(f"{args.mesh}x{args.mesh}, B={args.batch}, {args.network}: trace + mapping {time.perf_counter() - t0:.1f} s",
              flush=True)
        ray.init(address=cluster.address)
        node_ids = [n["NodeID"] for n in ray.nodes() if n["Alive"]]
        engine = get_engine(run.engine)
        new_actor = engine._new_actor

        def actor_on_its_node(ray_module, tile, num_tiles, constants):
            engine.actor_options = {"scheduling_strategy": NodeAffinitySchedulingStrategy(
                node_ids[tile % len(node_ids)], soft=False)}
            return new_actor(ray_module, tile, num_tiles, constants)

        engine._new_actor = actor_on_its_node
        t0 = time.perf_counter()
        simulate_mapping(inputs, mapping)  # actors, numba compilation in them
        warm_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        breakdown = simulate_mapping(inputs, mapping)
        step_s = time.perf_counter() - t0
        stats = engine.stats.to_summary()
        actors = [a for a in list_actors(filters=[("state", "=", "ALIVE")]) if "TileActor" in a.class_name]
        nodes = sorted({a.node_id for a in actors})
        print(f"cluster nodes: {[n[:8] for n in node_ids]}")
        print(f"first step (with actor start-up) {warm_s:.1f} s; warm step {step_s:.1f} s; TBT {breakdown.tbt_s * 1e6:.1f} us")
        print(f"rounds {engine.stats.rounds_per_step[-1]} per step, {stats['mean_bytes_per_round'] / 2**20:.2f} MB per round; "
              f"tile actors on {len(nodes)} node(s): {[n[:8] for n in nodes]}")
        print(f"per-tile peak RSS: {[round(b / 2**30, 2) for b in engine.stats.tile_peak_rss_bytes]} GB; "
              f"largest tile state {stats['max_tile_state_bytes'] / 2**30:.2f} GB; "
              f"driver peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20:.2f} GB")
        engine.shutdown()
    finally:
        ray.shutdown()
        cluster.shutdown()


if __name__ == "__main__":
    main()
