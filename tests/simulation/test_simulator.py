"""prepare_inputs + simulate_mapping on the tiny debug run with a hand-made mapping.

The debug run: tiny model (E = 8, top-2, 4 MoE layers, h = 64, IS = 128), 2x2 mesh of the 10 TFLOPS /
25 GB/s preset, synthetic trace of 512 tokens, B = 16, flow network, paper profile.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from hdmoe_ray.core.mapping import LayerMapping, Mapping
from hdmoe_ray.simulation.simulator import prepare_inputs, simulate_mapping
from hdmoe_ray.simulation.steps import prepare_steps
from hdmoe_ray.testing import tiny_run

FLOPS_PER_TOKEN = 2 * 64 * 128  # 2 * h * IS
RATE = 10e12
# attention + memory per layer (docs/cost_model.md), B = 16, h = 64, L = 1024, E = 8, IS = 128, D = 4:
#   A = 3*16*64^2 + 2*16*1024*64 + 16*64^2 = 2_359_296 FLOPs
#   M = 2*16*64*1024 + 3*64*80 + 64*80 + 2*8*128*64 + 16*64*(128/64 + 1) = 2_251_776 bytes
ATTN_MEM_S = 4 * (2_359_296 / (4 * 10e12) + 2_251_776 / (4 * 625e9))  # 4 layers: 3.8387712 us


def round_robin(num_layers: int) -> Mapping:
    """Expert i whole on node i % 4."""
    share = np.zeros((8, 4))
    share[np.arange(8), np.arange(8) % 4] = 1.0
    return Mapping("hand", tuple(LayerMapping(share.copy(), np.arange(4)) for _ in range(num_layers)))


def hand_compute_s(expert_tokens: np.ndarray) -> float:
    node_tokens = np.bincount(np.arange(8) % 4, weights=expert_tokens, minlength=4)
    return float(node_tokens.max() * FLOPS_PER_TOKEN / RATE)


def test_the_debug_run_is_what_the_hand_numbers_assume():
    run = tiny_run()
    assert (run.model.num_experts, run.model.top_k, run.model.num_layers, run.model.hidden_size,
            run.model.expert_intermediate_size) == (8, 2, 4, 64, 128)
    assert (run.hardware.mesh_x, run.hardware.mesh_y, run.hardware.tflops, run.hardware.dram_gbps) == (2, 2, 10.0, 625.0)
    assert (run.workload.batch_size, run.profile.name, run.profile.kv_length, run.engine.name) == (16, "paper", 1024, "local")


def test_expected_mode_breakdown_by_hand():
    inputs = prepare_inputs(tiny_run())
    trace = inputs.trace
    assert inputs.mesh.num_nodes == 4 and len(inputs.steps) == 1 and len(inputs.groups) == trace.num_layers == 4
    tbt = simulate_mapping(inputs, round_robin(trace.num_layers))

    assert [lc.layer_id for lc in tbt.per_layer] == list(trace.layer_ids)
    for position, lc in enumerate(tbt.per_layer):
        f = np.bincount(trace.layer(position).ravel(), minlength=8) / trace.num_tokens  # f_i, sums to 2
        assert lc.compute_s == pytest.approx(hand_compute_s(f * 16), rel=1e-9)
        assert lc.comm_s > 0  # experts of a group sit on different nodes
    assert tbt.attn_mem_s == pytest.approx(ATTN_MEM_S, rel=1e-12) and tbt.dense_s == 0.0
    assert tbt.moe_compute_s == pytest.approx(math.fsum(lc.compute_s for lc in tbt.per_layer), rel=1e-12)
    assert tbt.moe_comm_s == pytest.approx(math.fsum(lc.comm_s for lc in tbt.per_layer), rel=1e-12)
    assert tbt.tbt_s == pytest.approx(tbt.moe_compute_s + tbt.moe_comm_s + ATTN_MEM_S, rel=1e-12)


def test_sampled_mode_uses_its_own_stream_and_averages_the_steps():
    run = tiny_run(workload__mode="sampled", workload__num_sampled_batches=3, seed=3)
    inputs = prepare_inputs(run)
    assert len(inputs.steps) == 3
    # the batches come from stream 2 (SAMPLED_BATCHES) of the run's seed: default_rng([seed, 2])
    again = prepare_steps(inputs.trace, run.workload, np.random.default_rng([3, 2]), inputs.groups)
    other = prepare_steps(inputs.trace, run.workload, np.random.default_rng([3, 1]), inputs.groups)
    for got, want in zip(inputs.steps, again):
        for a, b in zip(got, want):
            np.testing.assert_array_equal(a.expert_tokens, b.expert_tokens)
    assert any(not np.array_equal(a.expert_tokens, b.expert_tokens)
               for got, want in zip(inputs.steps, other) for a, b in zip(got, want))

    mapping = round_robin(inputs.trace.num_layers)
    tbt = simulate_mapping(inputs, mapping)
    for position, lc in enumerate(tbt.per_layer):
        per_step = [step[position] for step in inputs.steps]
        assert all(w.expert_tokens.sum() == 32 for w in per_step)  # B tokens x top-2
        assert lc.compute_s == pytest.approx(np.mean([hand_compute_s(w.expert_tokens) for w in per_step]), rel=1e-9)
        comm = [inputs.cost_model.layer_cost(w, mapping.layers[position]).comm_s for w in per_step]
        assert lc.comm_s == pytest.approx(np.mean(comm), rel=1e-12)
        links = [inputs.cost_model.layer_cost(w, mapping.layers[position]).link_load_bytes for w in per_step]
        np.testing.assert_allclose(lc.link_load_bytes, np.mean(links, axis=0), rtol=1e-12)
    assert tbt.tbt_s == pytest.approx(tbt.moe_compute_s + tbt.moe_comm_s + ATTN_MEM_S, rel=1e-12)
