"""Model and hardware shapes for the cost-model tests (numbers from the published configs)."""

from __future__ import annotations

from hdmoe_ray.config.schemas import HardwareConfig, ModelConfig

DEEPSEEK = ModelConfig(name="deepseek_v2_lite", num_experts=64, top_k=6, num_layers=27, num_dense_layers=1,
                       hidden_size=2048, expert_intermediate_size=1408, num_shared_experts=2,
                       shared_expert_intermediate_size=1408, dense_intermediate_size=10944)
QWEN2 = ModelConfig(name="qwen2_57b_a14b", num_experts=64, top_k=8, num_layers=28, hidden_size=3584,
                    expert_intermediate_size=2560, paper_expert_intermediate_size=18944, num_shared_experts=1,
                    shared_expert_intermediate_size=20480)
HW_10T_25G = HardwareConfig(name="hdmoe_10t_25g", mesh_x=4, mesh_y=8, tflops=10.0, link_gbps=25.0,
                            link_latency_ns=5.0, router_latency_ns=10.0)
