"""Dynamic placement of one trace's decode batches on a static mapping, against the static mapping itself.

For every batch b (tokens of the run's sampled steps) and MoE layer l:

1. the predictor gives planned loads ``m + risk_z * s`` (before the layer runs);
2. the scheduler picks the experts to pre-broadcast (:func:`hdmoe_ray.dynamic.scheduler.plan_layer`), at most
   ``experts_per_layer``; with ``respect_window`` at most ``experts_in_window`` under ``paper`` and, under
   ``physical``, only broadcasts whose link-level time fits the window and whose replicas fit in memory;
3. the batch's true tokens are dispatched (broadcast experts: least-loaded holder; others: static shares);
4. layer time: static = the static mapping's LayerCost; dynamic = max node compute after dispatch + the
   all-to-all (``paper``: the static one, the authors' "no extra token traffic"; ``physical``: re-simulated
   with the tokens where they now run) + the broadcast's exposed time (``physical`` only: what exceeds the
   window; ``paper`` assumes it hidden and only reports it).

TBT = sum of layers + attention/memory + dense layers, per batch; speedups are means over batches of
static / dynamic.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from hdmoe_ray.core.breakdown import LayerCost
from hdmoe_ray.core.layer_workload import LayerWorkload
from hdmoe_ray.core.mapping import LayerMapping
from hdmoe_ray.core.trace import RoutingTrace
from hdmoe_ray.dynamic.broadcast import paper_broadcast_s, tree_broadcast_s
from hdmoe_ray.dynamic.predictors.base import Predictor, batch_counts
from hdmoe_ray.dynamic.quality import coverage, load_error, recall_at_k, token_topk_accuracy
from hdmoe_ray.dynamic.replicas import ReplicaMemory
from hdmoe_ray.dynamic.scheduler import dynamic_loads, effective_share, plan_layer
from hdmoe_ray.dynamic.setup import DynamicSetup
from hdmoe_ray.simulation.layer_cost import LayerCostModel


@dataclass
class LayerOutcome:
    static_s: float
    dynamic_s: float
    chosen: list[int]
    new: list[int]
    broadcast_s: float
    exposed_s: float
    broadcast_link_bytes_max: float


def layer_outcome(setup: DynamicSetup, cost_model: LayerCostModel, memory: ReplicaMemory | None, index: int,
                  work: LayerWorkload, planned: np.ndarray, static: LayerCost | None = None) -> LayerOutcome:
    """Plan, dispatch and time layer ``index`` of one batch (``planned``: predicted tokens [E]; ``static``:
    the static mapping's cost of this layer and batch, computed here when not given)."""
    opts = setup.options
    lm = setup.mapping.layers[index]
    d = setup.mesh.num_nodes
    share = lm.node_share(d)
    static = static if static is not None else cost_model.layer_cost(work, lm)
    static_s = static.compute_s + static.comm_s
    limit = opts.experts_per_layer
    if opts.respect_window and not setup.costed:
        limit = min(limit, setup.experts_in_window)

    def new_of(experts: list[int]) -> list[int]:
        return [e for e in experts if memory is None or e not in memory.resident[index]]

    def tree_s(experts: list[int]) -> tuple[float, np.ndarray]:
        return tree_broadcast_s(setup.mesh, setup.trees, share[experts], setup.broadcast_bytes,
                                setup.link_bytes_per_s, opts.broadcast_alpha_s, setup.hop_latency_s)

    def admissible(expert: int, chosen: list[int]) -> bool:
        if not setup.costed:
            return True
        trial = [*chosen, expert]
        if memory is not None and not memory.fits(index, share, trial):
            return False
        return not opts.respect_window or tree_s(new_of(trial))[0] <= setup.window_s

    chosen = plan_layer(share, planned, setup.cost_per_token_s, limit, rule=opts.rule, admissible=admissible)
    if not chosen:
        if memory is not None:
            memory.set_layer(index, share, [])
        return LayerOutcome(static_s, static_s, [], [], 0.0, 0.0, 0.0)
    tokens = work.expert_tokens
    if setup.costed:
        new = memory.set_layer(index, share, chosen) if memory is not None else list(chosen)
        broadcast_s, links = tree_s(new)
        exposed = max(0.0, broadcast_s - setup.window_s)
        _, placed = dynamic_loads(share, tokens, chosen, setup.cost_per_token_s)
        eff = LayerMapping(effective_share(share, tokens, chosen, placed), np.arange(d), lm.comm_pattern)
        dyn = cost_model.layer_cost(work, eff)
        dynamic_s = dyn.compute_s + dyn.comm_s + exposed
        return LayerOutcome(static_s, dynamic_s, chosen, new, broadcast_s, exposed, float(links.max(initial=0.0)))
    loads, _ = dynamic_loads(share, tokens, chosen, setup.cost_per_token_s)
    shared_s = float(np.max(static.node_compute_s - (tokens @ share) * setup.cost_per_token_s))  # per node, uniform
    compute = float(np.max(loads + shared_s))
    broadcast_s = paper_broadcast_s(len(chosen), setup.broadcast_bytes, d, setup.link_bytes_per_s,
                                    opts.broadcast_alpha_s)
    return LayerOutcome(static_s, compute + static.comm_s, chosen, list(chosen), broadcast_s,
                        max(0.0, broadcast_s - setup.window_s), len(chosen) * setup.broadcast_bytes)


def evaluate_trace(setup: DynamicSetup, cost_model: LayerCostModel, predictor: Predictor, trace: RoutingTrace,
                   steps: list[list[LayerWorkload]], tokens: np.ndarray, *, risk_z: float = 0.0) -> dict:
    """Every batch of ``steps`` (token indices ``tokens`` [n, B]) under dynamic placement; one category's result."""
    n_batches, n_layers = len(steps), trace.num_layers
    static = np.zeros((n_batches, n_layers))
    dynamic = np.zeros_like(static)
    chosen_n = np.zeros_like(static)
    new_n = np.zeros_like(static)
    bc_s = np.zeros_like(static)
    exposed = np.zeros_like(static)
    link_max = np.zeros_like(static)
    recall, error, cover, token_acc = [], [], [], []
    memory = ReplicaMemory(setup.free_bytes, setup.replica_bytes, n_layers) if setup.costed else None
    eval_s = static_eval_s = predict_s = 0.0
    for b, (step, batch_tokens) in enumerate(zip(steps, tokens)):
        t_predict = time.perf_counter()
        prediction = predictor.predict(trace, batch_tokens)
        predict_s += time.perf_counter() - t_predict
        truth = batch_counts(trace, batch_tokens)
        recall.append(recall_at_k(prediction.mean, truth, trace.top_k))
        error.append(load_error(prediction.mean, truth))
        cov = coverage(prediction, truth)
        if cov is not None:
            cover.append(cov)
        acc = token_topk_accuracy(predictor, trace, batch_tokens)
        if acc is not None:
            token_acc.append(acc)
        planned = prediction.mean
        if risk_z > 0 and prediction.std is not None:
            planned = prediction.mean + risk_z * prediction.std
        t_static = time.perf_counter()
        static_costs = [cost_model.layer_cost(work, setup.mapping.layers[layer]) for layer, work in enumerate(step)]
        t0 = time.perf_counter()
        static_eval_s += t0 - t_static
        for layer, work in enumerate(step):
            out = layer_outcome(setup, cost_model, memory, layer, work, planned[layer], static_costs[layer])
            static[b, layer], dynamic[b, layer] = out.static_s, out.dynamic_s
            chosen_n[b, layer], new_n[b, layer] = len(out.chosen), len(out.new)
            bc_s[b, layer], exposed[b, layer], link_max[b, layer] = out.broadcast_s, out.exposed_s, \
                out.broadcast_link_bytes_max
        eval_s += time.perf_counter() - t0
    extra = setup.attn_mem_s + setup.dense_s
    counted_exposed = exposed if setup.costed else np.zeros_like(exposed)
    tbt_static = static.sum(axis=1) + extra
    tbt_dynamic = dynamic.sum(axis=1) + extra
    us = 1e6
    per_layer = []
    for layer, lid in enumerate(trace.layer_ids):
        per_layer.append({
            "layer": int(lid), "speedup": float(np.mean(static[:, layer] / dynamic[:, layer])),
            "static_us": float(static[:, layer].mean() * us), "dynamic_us": float(dynamic[:, layer].mean() * us),
            "experts_broadcast": float(chosen_n[:, layer].mean()), "new_broadcasts": float(new_n[:, layer].mean()),
            "broadcast_us": float(bc_s[:, layer].mean() * us), "exposed_us": float(counted_exposed[:, layer].mean() * us),
            "hidden": bool(np.all(exposed[:, layer] <= 0)),
            "recall_at_k": float(np.mean([r[layer] for r in recall])),
            "load_error": float(np.mean([e[layer] for e in error]))})
    return {
        "trace": trace.name, "num_batches": n_batches,
        "speedup_over_static": float(np.mean(tbt_static / tbt_dynamic)),
        "moe_speedup_over_static": float(np.mean(static.sum(axis=1) / dynamic.sum(axis=1))),
        "tbt_static_us": float(tbt_static.mean() * us), "tbt_dynamic_us": float(tbt_dynamic.mean() * us),
        "per_layer": per_layer,
        "per_batch": {"tbt_static_us": (tbt_static * us).tolist(), "tbt_dynamic_us": (tbt_dynamic * us).tolist()},
        "broadcast": {
            "experts_per_batch": float(chosen_n.sum(axis=1).mean()),
            "new_broadcasts_per_batch": float(new_n.sum(axis=1).mean()),
            "bytes_per_batch": float(new_n.sum(axis=1).mean() * setup.broadcast_bytes),
            "time_us_per_batch": float(bc_s.sum(axis=1).mean() * us),
            "exposed_us_per_batch": float(counted_exposed.sum(axis=1).mean() * us),
            "would_be_exposed_us_per_batch": float(exposed.sum(axis=1).mean() * us),
            "hidden_share": float(np.mean(exposed <= 0)),
            "busiest_link_bytes_max": float(link_max.max(initial=0.0)),
            "counted_on_links": bool(setup.costed),
            "peak_replica_bytes_per_node": None if memory is None else float(memory.peak_bytes.max()),
            "free_bytes_per_node_min": None if memory is None else float(setup.free_bytes.min()),
        },
        "prediction": {
            "recall_at_k": float(np.mean(recall)), "k": int(trace.top_k), "load_error": float(np.mean(error)),
            "coverage_90": float(np.mean(cover)) if cover else None,
            "token_topk_accuracy": float(np.mean(token_acc)) if token_acc else None,
        },
        # wall time per batch of all layers: the dynamic placement itself (plan, dispatch, and under physical
        # the re-simulated all-to-all), the prediction, and the static mapping's layer costs it compares with
        "eval_ms_per_batch": eval_s / max(n_batches, 1) * 1e3,
        "predict_ms_per_batch": predict_s / max(n_batches, 1) * 1e3,
        "static_ms_per_batch": static_eval_s / max(n_batches, 1) * 1e3,
    }
